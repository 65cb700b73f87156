"""Q-networks built from an `Arch`, and `morph`: turning a trained network into another architecture.

Speed: on small MLPs the cost of a DQN update is the number of tensor operations (about 5 us each
on the CPUs we use), not arithmetic. So an `MLP` keeps all its parameters in one flat tensor (the
layers are views into it), computes its gradient by hand into one flat gradient tensor (no autograd
graph; tests check it against autograd), and is updated by a single fused Adam call (`FlatAdam`).

Morphing: widening (Net2Net, Chen et al. 2016) and adding a ReLU layer are exact: the morphed network
computes the same function. Narrowing, removing a layer and changing the activation are best effort;
a short distillation on replay states can repair part of the damage. `morph` reports how far outputs
moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nasdqn.search_space import INHERIT_MODES, Arch, preserves_function

# A tanh layer added as an identity is tanh(eps * h) / eps, exact only as eps -> 0; a smaller eps
# means a larger weight downstream. 0.1 keeps the error below ~0.4% for |h| <= 1.
_TANH_EPS = 0.1
LEAKY_SLOPE = 0.01  # PyTorch's default negative slope
_ACT = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, LEAKY_SLOPE),
    "elu": torch.nn.functional.elu,
    "sigmoid": torch.sigmoid,
}
# Gradient through the activation, given its output h (one op each). Each activation is monotone,
# so its output determines the derivative and the layer inputs need not be kept.
_ACT_BACKWARD = {
    "relu": lambda g, h: torch.ops.aten.threshold_backward(g, h, 0.0),
    "tanh": lambda g, h: torch.ops.aten.tanh_backward(g, h),
    "leaky_relu": lambda g, h: torch.ops.aten.leaky_relu_backward(g, h, LEAKY_SLOPE, True),
    "elu": lambda g, h: torch.ops.aten.elu_backward(g, 1.0, 1.0, 1.0, True, h),
    "sigmoid": lambda g, h: torch.ops.aten.sigmoid_backward(g, h),
}


def _relu_np(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _leaky_relu_np(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, LEAKY_SLOPE * x, out=x)


def _elu_np(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0)))


def _sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|, unlike 1 / (1 + exp(-x))


# The same activations on numpy arrays, for acting (see MLP.numpy_forward).
_ACT_NP = {"relu": _relu_np, "tanh": np.tanh, "leaky_relu": _leaky_relu_np, "elu": _elu_np,
           "sigmoid": _sigmoid_np}


def _views(flat: torch.Tensor, sizes: tuple[int, ...]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights ([in, out], so no transpose is needed in the forward pass) and biases inside `flat`."""
    weights, biases, offset = [], [], 0
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        weights.append(flat[offset : offset + a * b].view(a, b))
        offset += a * b
        biases.append(flat[offset : offset + b])
        offset += b
    return weights, biases


class MLP:
    """A multilayer perceptron with one activation, parameters in one flat float32 tensor."""

    def __init__(self, n_in: int, n_out: int, arch: Arch, flat: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.arch, self.n_in, self.n_out = arch, n_in, n_out
        self.sizes = (n_in, *arch.widths, n_out)
        n = arch.n_params(n_in, n_out)
        if flat is None:
            flat = torch.empty(n)
            weights, biases = _views(flat, self.sizes)
            for w, b in zip(weights, biases, strict=False):  # PyTorch's default Linear init, from our generator
                bound = 1.0 / math.sqrt(w.shape[0])
                w.uniform_(-bound, bound, generator=generator)
                b.uniform_(-bound, bound, generator=generator)
        if flat.shape != (n,) or flat.dtype != torch.float32:
            raise ValueError(f"{arch} needs a flat float32 tensor of {n} parameters, got {tuple(flat.shape)}")
        self.flat = flat
        self.weights, self.biases = _views(flat, self.sizes)
        self._weights_t = [w.t() for w in self.weights]
        self._act = _ACT[arch.activation]
        self._act_backward = _ACT_BACKWARD[arch.activation]

    @property
    def n_params(self) -> int:
        return self.flat.numel()

    def clone(self) -> MLP:
        return MLP(self.n_in, self.n_out, self.arch, self.flat.clone())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=False):
            x = self._act(torch.addmm(b, x, w))
        return torch.addmm(self.biases[-1], x, self.weights[-1])

    def forward_keep(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Outputs, and the input of every layer (what `backward` needs)."""
        inputs = [x]
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=False):
            x = self._act(torch.addmm(b, x, w))
            inputs.append(x)
        return torch.addmm(self.biases[-1], x, self.weights[-1]), inputs

    def gradient_buffer(self) -> tuple[torch.Tensor, tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """A flat gradient tensor and its per-layer views, to be made once and reused by `backward`."""
        grad = torch.zeros_like(self.flat)
        return grad, _views(grad, self.sizes)

    def backward(self, inputs: list[torch.Tensor], grad_out: torch.Tensor,
                 grad_views: tuple[list[torch.Tensor], list[torch.Tensor]]) -> None:
        """Write d(loss)/d(parameters) into the gradient views, given d(loss)/d(outputs)."""
        grad_w, grad_b = grad_views
        g = grad_out
        for i in range(len(self.weights) - 1, -1, -1):
            torch.mm(inputs[i].t(), g, out=grad_w[i])
            torch.sum(g, 0, out=grad_b[i])
            if i:
                g = self._act_backward(torch.mm(g, self._weights_t[i]), inputs[i])

    def numpy_forward(self):
        """A forward function on numpy arrays sharing this network's parameter memory.

        Acting on one observation with numpy takes a few microseconds against tens with torch. The
        views stay valid because the optimiser updates `flat` in place.
        """
        weights = [w.numpy() for w in self.weights]
        biases = [b.numpy() for b in self.biases]
        act = _ACT_NP[self.arch.activation]

        def forward(x: np.ndarray) -> np.ndarray:
            for w, b in zip(weights[:-1], biases[:-1], strict=False):
                x = act(x @ w + b)
            return x @ weights[-1] + biases[-1]

        return forward

    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(weight [out, in], bias) per layer as float64 numpy copies, for morphing."""
        return [(w.numpy().T.astype(np.float64), b.numpy().astype(np.float64))
                for w, b in zip(self.weights, self.biases, strict=False)]

    @classmethod
    def from_layers(cls, arch: Arch, layers: list[tuple[np.ndarray, np.ndarray]]) -> MLP:
        parts = [np.concatenate([w.T.ravel(), b]) for w, b in layers]
        flat = torch.from_numpy(np.concatenate(parts).astype(np.float32))
        return cls(layers[0][0].shape[1], layers[-1][0].shape[0], arch, flat)


class FlatAdam:
    """Adam on one flat parameter tensor: a single fused kernel call per step.

    `grad_scale` divides the gradient inside the kernel, which is how gradient-norm clipping costs
    no extra pass: pass max(1, norm / max_norm).
    """

    def __init__(self, params: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.exp_avg = torch.zeros_like(params)
        self.exp_avg_sq = torch.zeros_like(params)
        self.step_count = torch.zeros((), dtype=torch.float32)

    def step(self, grad: torch.Tensor, grad_scale: torch.Tensor | None = None) -> None:
        self.step_count += 1  # the kernel reads the count for bias correction but does not advance it
        torch._fused_adam_(
            [self.params], [grad], [self.exp_avg], [self.exp_avg_sq], [], [self.step_count],
            amsgrad=False, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0,
            eps=self.eps, maximize=False, grad_scale=grad_scale,
        )


@dataclass(frozen=True)
class MorphReport:
    from_arch: str
    to_arch: str
    preserving: bool
    error: float  # mean |Q_new - Q_old| / mean |Q_old| on the probe states (before distillation)
    error_after: float  # the same after distillation (== error when none ran)


def _widen(layers, i: int, width: int, rng: np.random.Generator) -> None:
    """Widen hidden layer i to `width` units, keeping the function (Net2WiderNet).

    New units copy randomly chosen old ones; the outgoing weights of each copied unit are split among
    its copies in random proportions summing to one. Unequal splits keep the function but break the
    symmetry between copies, so they can learn different things (equal splits never would).
    """
    w_in, b_in = layers[i]
    w_out, b_out = layers[i + 1]
    old = w_in.shape[0]
    mapping = np.concatenate([np.arange(old), rng.integers(old, size=width - old)])
    share = rng.uniform(0.5, 1.5, size=width)
    share /= np.bincount(mapping, weights=share, minlength=old)[mapping]
    layers[i] = (w_in[mapping], b_in[mapping])
    layers[i + 1] = (w_out[:, mapping] * share[None, :], b_out)


def _narrow(layers, i: int, width: int) -> None:
    """Keep the `width` units of hidden layer i with the largest outgoing weights (best effort)."""
    w_in, b_in = layers[i]
    w_out, b_out = layers[i + 1]
    keep = np.sort(np.argsort(-np.linalg.norm(w_out, axis=0), kind="stable")[:width])
    layers[i] = (w_in[keep], b_in[keep])
    layers[i + 1] = (w_out[:, keep], b_out)


def _deepen(layers, activation: str) -> None:
    """Insert an identity-like hidden layer after the last hidden layer (exact for ReLU)."""
    width = layers[-1][0].shape[1]
    eps = 1.0 if activation == "relu" else _TANH_EPS
    w_out, b_out = layers[-1]
    layers[-1] = (np.eye(width) * eps, np.zeros(width))
    layers.append((w_out / eps, b_out))


def _shallow(layers) -> None:
    """Remove the last hidden layer by composing it linearly into the output (best effort)."""
    w_h, b_h = layers[-2]
    w_out, b_out = layers[-1]
    del layers[-1]
    layers[-1] = (w_out @ w_h, w_out @ b_h + b_out)


def relative_output_change(old: MLP, new: MLP, states: torch.Tensor) -> float:
    q_old, q_new = old(states), new(states)
    return float((q_new - q_old).abs().mean() / q_old.abs().mean().clamp_min(1e-8))


def _copy_matching(old: MLP, new: MLP) -> None:
    """Copy into the fresh network `new` every layer of `old` whose shape matches.

    Layers are matched by position from the input (hidden layer i to hidden layer i) and the output
    layer to the output layer, so relu-64x64 -> tanh-64x64x64 keeps both hidden layers and the output
    layer (which then reads a fresh third layer) and relu-32x32 -> relu-64x64 keeps nothing.
    """
    last_old, last_new = len(old.weights) - 1, len(new.weights) - 1
    for i, (w, b) in enumerate(zip(new.weights, new.biases, strict=True)):
        j = last_old if i == last_new else i
        if i != last_new and j >= last_old:
            continue  # a hidden layer deeper than any of the old network's
        if old.weights[j].shape == w.shape:
            w.copy_(old.weights[j])
            b.copy_(old.biases[j])


def morph(net: MLP, new_arch: Arch, rng: np.random.Generator, probe_states: torch.Tensor | None = None,
          distill_steps: int = 0, distill_lr: float = 1e-3, batch_size: int = 64,
          inherit: str = "morph") -> tuple[MLP, MorphReport]:
    """Return a network of `new_arch` that inherits what `net` learned, and a report of the change.

    `inherit`: `morph` carries the function over (Net2Net edits, below); `copy` copies every layer
    whose shape matches and initialises the others afresh (the paper's reported "matching weights"
    transfer); `none` (the ablation) is a freshly initialised network: nothing is preserved.

    The order of edits matters for exactness: layers are added (as identities of the last layer)
    before widths change, so a pure growth is exact throughout (see `preserves_function`).
    `probe_states` (e.g. replay states) measure the change and feed the optional distillation;
    without them, standard-normal inputs are used for the measurement only.
    """
    if inherit not in INHERIT_MODES:
        raise ValueError(f"inherit {inherit!r}; allowed: {', '.join(INHERIT_MODES)}")
    old_arch = net.arch
    if inherit == "morph":
        layers = net.layers()
        while len(layers) - 1 < new_arch.depth:
            _deepen(layers, old_arch.activation)
        while len(layers) - 1 > new_arch.depth:
            _shallow(layers)
        for i, width in enumerate(new_arch.widths):
            current = layers[i][0].shape[0]
            if width > current:
                _widen(layers, i, width, rng)
            elif width < current:
                _narrow(layers, i, width)
        new = MLP.from_layers(new_arch, layers)
    else:
        fresh = torch.Generator().manual_seed(int(rng.integers(2**63)))
        new = MLP(net.n_in, net.n_out, new_arch, generator=fresh)
        if inherit == "copy":
            _copy_matching(net, new)

    if probe_states is None:
        probe = np.random.default_rng(rng.integers(2**32)).standard_normal((256, net.n_in))
        probe_states = torch.from_numpy(probe.astype(np.float32))
    error = relative_output_change(net, new, probe_states)
    # A copy keeps the function only when nothing changed, and morph() is called for changes only.
    preserving = inherit == "morph" and preserves_function(old_arch, new_arch)
    error_after = error
    if distill_steps > 0 and not preserving:
        distill(net, new, probe_states, distill_steps, distill_lr, batch_size, rng)
        error_after = relative_output_change(net, new, probe_states)
    return new, MorphReport(str(old_arch), str(new_arch), preserving, error, error_after)


def distill(teacher: MLP, student: MLP, states: torch.Tensor, steps: int, lr: float, batch_size: int,
            rng: np.random.Generator) -> None:
    """Regress the student's Q-values on the teacher's (mean squared error) over minibatches."""
    targets = teacher(states)
    opt = FlatAdam(student.flat, lr)
    grad, grad_views = student.gradient_buffer()
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(len(states), size=batch_size))
        q, inputs = student.forward_keep(states[idx])
        student.backward(inputs, (q - targets[idx]) * (2.0 / q.numel()), grad_views)
        opt.step(grad)
