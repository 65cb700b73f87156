import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasdqn.networks import MLP, FlatAdam, morph
from nasdqn.search_space import Arch, SearchSpace, preserves_function


def _net(arch: str, seed: int = 0, n_in: int = 3, n_out: int = 5) -> MLP:
    return MLP(n_in, n_out, Arch.parse(arch), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["relu-64x64", "tanh-32x16x8", "relu-7"])
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


def test_numpy_forward_matches_torch_and_follows_in_place_updates():
    net = _net("tanh-16x16")
    f = net.numpy_forward()
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
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
