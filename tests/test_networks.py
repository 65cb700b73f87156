import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasdqn.networks import MLP, FlatAdam, morph
from nasdqn.search_space import ACTIVATIONS, Arch, SearchSpace, preserves_function


def _net(arch: str, seed: int = 0, n_in: int = 3, n_out: int = 5) -> MLP:
    return MLP(n_in, n_out, Arch.parse(arch), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["relu-64x64", "tanh-32x16x8", "relu-7", "leaky_relu-16x8", "elu-16x8",
                                  "sigmoid-16x8"])
def test_hand_written_gradient_equals_autograd(arch):
    net = _net(arch)
    x, a, y = torch.randn(64, 3), torch.randint(0, 5, (64, 1)), torch.randn(64, 1) * 3
    q, inputs = net.forward_keep(x)
    grad_q = (q.gather(1, a) - y).clamp(-1, 1) / 64  # Huber loss, delta 1, mean over the batch
    grad, views = net.gradient_buffer()
    net.backward(inputs, torch.zeros(64, 5).scatter_(1, a, grad_q), views)

    leaf = net.flat.clone().requires_grad_(True)
    loss = torch.nn.functional.smooth_l1_loss(MLP(3, 5, net.arch, leaf)(x).gather(1, a), y)
    (expected,) = torch.autograd.grad(loss, leaf)
    torch.testing.assert_close(grad, expected, atol=1e-6, rtol=1e-5)


def test_flat_adam_equals_torch_adam_including_gradient_scaling():
    p = torch.randn(50)
    ref = p.clone().requires_grad_(True)
    ours, theirs = FlatAdam(p, 1e-2), torch.optim.Adam([ref], lr=1e-2)
    rng = torch.Generator().manual_seed(0)
    for k in range(20):
        g = torch.randn(50, generator=rng) * 10
        scale = torch.tensor(1.0 + k % 3)
        ours.step(g.clone(), grad_scale=scale)
        ref.grad = g / scale
        theirs.step()
    torch.testing.assert_close(p, ref.detach())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_numpy_forward_matches_torch_and_follows_in_place_updates(activation):
    net = _net(f"{activation}-16x16")
    f = net.numpy_forward()
    x = 3 * np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    np.testing.assert_allclose(f(x), net(torch.from_numpy(x)).numpy(), atol=1e-6)
    net.flat.mul_(0.5)  # an optimiser step changes parameters in place; the numpy view must see it
    np.testing.assert_allclose(f(x), net(torch.from_numpy(x)).numpy(), atol=1e-6)


def _growth(data, space: SearchSpace):
    old = data.draw(st.sampled_from(space.all()))
    grown = [a for a in space.all() if preserves_function(old, a) and a != old]
    return old, data.draw(st.sampled_from(grown)) if grown else old


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_relu_growth_is_function_preserving(data):
    space = SearchSpace(widths=(8, 16, 32, 64), activations=("relu",))
    old, new = _growth(data, space)
    net = _net(str(old), seed=data.draw(st.integers(0, 1000)))
    x = torch.randn(256, 3) * 3
    grown, report = morph(net, new, np.random.default_rng(0), x)
    assert grown.arch == new and report.preserving
    torch.testing.assert_close(grown(x), net(x), atol=1e-5, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_tanh_growth_is_nearly_function_preserving(data):
    space = SearchSpace(widths=(8, 16, 32), activations=("tanh",))
    old, new = _growth(data, space)
    net = _net(str(old), seed=data.draw(st.integers(0, 1000)))
    x = torch.randn(256, 3)
    grown, report = morph(net, new, np.random.default_rng(0), x)
    assert report.error < 0.01  # widening is exact; an added tanh layer is the identity to ~0.4%


def test_widening_breaks_symmetry_between_copied_units():
    net = _net("relu-4")
    wide, _ = morph(net, Arch.parse("relu-8"), np.random.default_rng(0))
    out_w = wide.weights[1].numpy()  # [in, out]: rows are hidden units
    in_w = wide.weights[0].numpy().T
    for i in range(4, 8):  # every new unit copies an old one's incoming weights...
        j = next(j for j in range(4) if np.allclose(in_w[i], in_w[j]))
        assert not np.allclose(out_w[i], out_w[j])  # ...but not its outgoing share


@pytest.mark.parametrize("old,new", [("relu-64", "relu-32"), ("relu-64x64", "relu-64"), ("relu-64", "tanh-64")])
def test_destructive_changes_report_their_error_and_distillation_reduces_it(old, new):
    net = _net(old)
    x = torch.randn(2048, 3)
    rng = np.random.default_rng(0)
    _, plain = morph(net, Arch.parse(new), rng, x)
    _, repaired = morph(net, Arch.parse(new), np.random.default_rng(0), x, distill_steps=300)
    assert not plain.preserving and plain.error > 1e-3
    assert plain.error_after == plain.error
    assert repaired.error_after < 0.7 * repaired.error


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "sigmoid"])
def test_widening_preserves_any_activation_but_only_relu_and_tanh_claim_deepening(activation):
    net = _net(f"{activation}-8x8")
    x = torch.randn(256, 3) * 2
    wide, report = morph(net, Arch.parse(f"{activation}-16x16"), np.random.default_rng(0), x)
    assert report.preserving
    torch.testing.assert_close(wide(x), net(x), atol=1e-5, rtol=1e-5)
    deeper = Arch.parse(f"{activation}-8x8x8")
    assert not preserves_function(net.arch, deeper)
    assert preserves_function(Arch.parse("relu-8x8"), Arch.parse("relu-8x8x8"))
    _, report = morph(net, deeper, np.random.default_rng(0), x)
    assert not report.preserving and report.error > 1e-4  # a repeated activation is not the identity


def _same_layers(new: MLP, old: MLP) -> list[bool]:
    """Per layer of `new`: is it the layer of `old` at the same position (the output layer: old's output)?"""
    pairs = [(i, i) for i in range(len(new.weights) - 1)] + [(len(new.weights) - 1, len(old.weights) - 1)]
    return [j < len(old.weights) and (j < len(old.weights) - 1 or i == len(new.weights) - 1)
            and new.weights[i].shape == old.weights[j].shape and torch.equal(new.weights[i], old.weights[j])
            and torch.equal(new.biases[i], old.biases[j]) for i, j in pairs]


@pytest.mark.parametrize("old,new,copied", [
    ("relu-64x64", "tanh-64x64x64", [True, True, False, True]),  # a new third layer, fresh
    ("relu-32x32x32", "relu-32x32", [True, True, True]),  # the output layer still reads 32 units
    ("relu-32x32", "relu-64x64", [False, False, False]),  # no shape in common
    ("tanh-64x64x64", "relu-64x64x64", [True, True, True, True]),  # only the activation changes
])
def test_copy_transfers_exactly_the_layers_whose_shape_matches(old, new, copied):
    net = _net(old)
    x = torch.randn(512, 3)
    out, report = morph(net, Arch.parse(new), np.random.default_rng(0), x, inherit="copy")
    assert out.arch == Arch.parse(new) and _same_layers(out, net) == copied
    assert not report.preserving and report.error > 1e-3  # measured like any other change
    again, _ = morph(net, Arch.parse(new), np.random.default_rng(0), x, inherit="copy")
    assert torch.equal(again.flat, out.flat)  # fresh layers come from the generator passed in
