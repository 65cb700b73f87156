"""Same-shape candidates as one batched network, and their Double DQN update on a shared minibatch.

A population's cost is its candidates' updates, and on small MLPs an update costs its number of
tensor operations more than its arithmetic (see `networks`). Candidates with the same hidden widths
(say relu-64x64 and tanh-64x64) can share every operation: their weights are stacked as
[members, in, out] and each layer becomes one batched matrix product. Only the activations are
per member, and members are ordered so that each activation covers one contiguous slice.

Each member stays the agent it would be alone: its own weights, target network and Adam moments
(all stacked), its gradient clipped to its own norm. `tests/test_stacked.py` checks that a stack's
update equals each member's `DQNAgent.update` on the same transitions.

Layout trap: the stack's flat tensors are layer-major (all members' first-layer weights, then all
their first-layer biases, ...), so a member's parameters are not one contiguous block; `member_flat`
gathers them into the `MLP` layout when a member leaves the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from nasdqn.agent import ReplayBuffer
from nasdqn.networks import _ACT_BACKWARD, _ACT_NP, LEAKY_SLOPE, MLP, FlatAdam
from nasdqn.search_space import Arch

# In-place activations: a slice of a stacked layer output is activated where it lies.
_ACT_INPLACE = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu_(x, LEAKY_SLOPE),
    "elu": torch.nn.functional.elu_,
    "sigmoid": torch.sigmoid_,
}


def _stack_views(flat: torch.Tensor, members: int, sizes: tuple[int, ...]
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights [members, in, out] and biases [members, 1, out] inside a layer-major flat tensor."""
    weights, biases, offset = [], [], 0
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        weights.append(flat[offset : offset + members * a * b].view(members, a, b))
        offset += members * a * b
        biases.append(flat[offset : offset + members * b].view(members, 1, b))
        offset += members * b
    return weights, biases


class SharedBatch:
    """One minibatch of a shared replay buffer, gathered once for every stack of a population."""

    def __init__(self, batch_size: int, obs_dim: int) -> None:
        self.size = batch_size
        self._both = np.zeros((2 * batch_size, obs_dim), dtype=np.float32)
        self.both = torch.from_numpy(self._both)  # obs rows, then next_obs rows
        self.actions = torch.zeros(batch_size, 1, dtype=torch.int64)
        self.reward_cont = torch.zeros(batch_size, 2)

    def gather(self, buffer: ReplayBuffer, idx: np.ndarray) -> None:
        b = self.size
        np.take(buffer.obs, idx, axis=0, out=self._both[:b])
        np.take(buffer.next_obs, idx, axis=0, out=self._both[b:])
        self.actions.numpy()[:] = buffer.actions[idx]
        self.reward_cont.numpy()[:] = buffer.reward_cont[idx]


class CandidateStack:
    """Candidates of one hidden shape, any activations, updated together.

    Members are kept in the order given; build a stack with `stacks_for` to have members of one
    activation side by side (one operation per activation and layer)."""

    def __init__(self, nets: Sequence[MLP], *, lr: float, gamma: float, grad_clip: float, double: bool = True) -> None:
        if not nets or len({n.sizes for n in nets}) != 1:
            raise ValueError(f"a stack needs networks of one shape, got {[str(n.arch) for n in nets]}")
        self.archs: list[Arch] = [n.arch for n in nets]
        self.sizes = nets[0].sizes
        self.lr, self.gamma, self.grad_clip, self.double = lr, gamma, grad_clip, double
        g = len(nets)
        n = nets[0].n_params * g
        self.flat, self.target_flat, self.grad = torch.empty(n), torch.empty(n), torch.zeros(n)
        self.weights, self.biases = _stack_views(self.flat, g, self.sizes)
        self.target_weights, self.target_biases = _stack_views(self.target_flat, g, self.sizes)
        self.grad_weights, self.grad_biases = _stack_views(self.grad, g, self.sizes)
        for m, net in enumerate(nets):
            self._put(self.flat, m, net.flat)
        self.target_flat.copy_(self.flat)
        self.optimizer = FlatAdam(self.flat, lr)
        # (activation, slice of members) runs, so that each activation is one operation per layer.
        self._runs: list[tuple[str, slice]] = []
        start = 0
        for m in range(1, g + 1):
            if m == g or self.archs[m].activation != self.archs[start].activation:
                self._runs.append((self.archs[start].activation, slice(start, m)))
                start = m

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def member_params(self) -> int:
        return self.flat.numel() // len(self)

    def _forward(self, weights, biases, x: torch.Tensor, keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = x.expand(len(self), *x.shape)
        inputs = [x]
        for w, b in zip(weights[:-1], biases[:-1], strict=False):
            x = torch.baddbmm(b, x, w)
            for act, members in self._runs:
                _ACT_INPLACE[act](x[members])
            if keep:
                inputs.append(x)
        return torch.baddbmm(biases[-1], x, weights[-1]), inputs

    def update(self, batch: SharedBatch) -> torch.Tensor:
        """One gradient step of every member on `batch`; returns each member's gradient norm before
        clipping, as the lone agent computes it."""
        b, g = batch.size, len(self)
        q, target, actions, inputs = self._td(batch, keep=True)
        grad_q = (q - target).clamp_(-1.0, 1.0).div_(b)
        grad = torch.zeros(g, b, self.sizes[-1]).scatter_(2, actions, grad_q)
        for i in range(len(self.weights) - 1, -1, -1):
            x = inputs[i][:, :b]
            torch.bmm(x.transpose(1, 2), grad, out=self.grad_weights[i])
            torch.sum(grad, 1, keepdim=True, out=self.grad_biases[i])
            if i:
                grad = self._activation_backward(torch.bmm(grad, self.weights[i].transpose(1, 2)), x)
        squares = sum(w.square().sum((1, 2)) + bias.square().sum((1, 2))
                      for w, bias in zip(self.grad_weights, self.grad_biases, strict=True))
        norm = squares.sqrt()
        scale = torch.clamp(norm / self.grad_clip, min=1.0).view(g, 1, 1)
        for w, bias in zip(self.grad_weights, self.grad_biases, strict=True):
            w.div_(scale)
            bias.div_(scale)
        self.optimizer.step(self.grad)
        return norm

    def td_errors(self, batch: SharedBatch) -> torch.Tensor:
        """Each member's mean squared TD error on `batch` (its own target network, the update's
        target), without a gradient step: on transitions it never trained on, a held-out loss."""
        q, target, _, _ = self._td(batch, keep=False)
        return (q - target).square().mean(dim=(1, 2))

    def _td(self, batch: SharedBatch, keep: bool
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Q(s, a) of every member, its TD target, the actions and (if `keep`) the layer inputs."""
        b, g = batch.size, len(self)
        q_both, inputs = self._forward(self.weights, self.biases, batch.both, keep=keep)
        actions = batch.actions.expand(g, b, 1)
        q = q_both[:, :b].gather(2, actions)
        next_values, _ = self._forward(self.target_weights, self.target_biases, batch.both[b:], keep=False)
        if self.double:
            next_q = next_values.gather(2, q_both[:, b:].argmax(dim=2, keepdim=True))
        else:
            next_q = next_values.max(dim=2, keepdim=True).values
        target = torch.addcmul(batch.reward_cont[:, :1], batch.reward_cont[:, 1:], next_q, value=self.gamma)
        return q, target, actions, inputs

    def _activation_backward(self, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if len(self._runs) == 1:
            return _ACT_BACKWARD[self._runs[0][0]](grad, out)
        return torch.cat([_ACT_BACKWARD[act](grad[m], out[m]) for act, m in self._runs])

    def sync_target(self) -> None:
        self.target_flat.copy_(self.flat)

    def q_function(self, member: int) -> Callable[[np.ndarray], np.ndarray]:
        """Member `member`'s online Q-values on numpy observations (views: they follow training)."""
        weights = [w[member].numpy() for w in self.weights]
        biases = [b[member, 0].numpy() for b in self.biases]
        act = _ACT_NP[self.archs[member].activation]

        def forward(x: np.ndarray) -> np.ndarray:
            for w, b in zip(weights[:-1], biases[:-1], strict=False):
                x = act(x @ w + b)
            return x @ weights[-1] + biases[-1]

        return forward

    def member_flat(self, member: int, source: str = "online") -> torch.Tensor:
        """Member `member`'s online or target weights, or Adam moments, in the `MLP` layout."""
        flat = {"online": self.flat, "target": self.target_flat, "exp_avg": self.optimizer.exp_avg,
                "exp_avg_sq": self.optimizer.exp_avg_sq}[source]
        weights, biases = _stack_views(flat, len(self), self.sizes)
        return torch.cat([part for w, b in zip(weights, biases, strict=True)
                          for part in (w[member].reshape(-1), b[member, 0])])

    def _put(self, flat: torch.Tensor, member: int, mlp_flat: torch.Tensor) -> None:
        """Write one network's parameters (`MLP` layout) into member `member` of a stacked tensor."""
        weights, biases = _stack_views(flat, len(self), self.sizes)
        own_weights, own_biases = _stack_views(mlp_flat, 1, self.sizes)
        for w, b, own_w, own_b in zip(weights, biases, own_weights, own_biases, strict=True):
            w[member].copy_(own_w[0])
            b[member].copy_(own_b[0])

    def subset(self, members: Sequence[int]) -> CandidateStack:
        """A stack of the given members only, each carrying its weights, target and Adam state."""
        n_in, n_out = self.sizes[0], self.sizes[-1]
        nets = [MLP(n_in, n_out, self.archs[m], self.member_flat(m)) for m in members]
        new = CandidateStack(nets, lr=self.lr, gamma=self.gamma, grad_clip=self.grad_clip, double=self.double)
        for source, flat in (("target", new.target_flat), ("exp_avg", new.optimizer.exp_avg),
                             ("exp_avg_sq", new.optimizer.exp_avg_sq)):
            for j, m in enumerate(members):
                new._put(flat, j, self.member_flat(m, source))
        new.optimizer.step_count.copy_(self.optimizer.step_count)
        return new


def stacks_for(nets: Sequence[MLP], **agent_options) -> tuple[list[CandidateStack], list[tuple[int, int]]]:
    """Group networks by hidden shape into stacks (members of one activation side by side). Returns
    the stacks and, for each network in the order given, its (stack, member) position."""
    order = sorted(range(len(nets)), key=lambda k: (nets[k].sizes, nets[k].arch.activation))
    stacks: list[CandidateStack] = []
    where: dict[int, tuple[int, int]] = {}
    groups: dict[tuple[int, ...], list[int]] = {}
    for k in order:
        groups.setdefault(nets[k].sizes, []).append(k)
    for members in groups.values():
        for j, k in enumerate(members):
            where[k] = (len(stacks), j)
        stacks.append(CandidateStack([nets[k] for k in members], **agent_options))
    return stacks, [where[k] for k in range(len(nets))]
