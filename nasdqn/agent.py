"""Double DQN (van Hasselt et al. 2016) with Huber loss, Adam, hard target updates, gradient-norm
clipping, a preallocated replay buffer, and `reconfigure(arch)` to change the network mid-training."""

from __future__ import annotations

import math

import numpy as np
import torch

from nasdqn.networks import MLP, FlatAdam, MorphReport, morph
from nasdqn.search_space import Arch


class ReplayBuffer:
    """A ring buffer of transitions in preallocated numpy arrays."""

    def __init__(self, capacity: int, obs_dim: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, 1), dtype=np.int64)
        # Column 0: reward; column 1: 0 for a true terminal state, else 1 (a time-limit truncation
        # still bootstraps). One array, so that a minibatch needs one gather for both.
        self.reward_cont = np.zeros((capacity, 2), dtype=np.float32)
        self.size = 0
        self.pos = 0

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminal: bool) -> None:
        i = self.pos
        self.obs[i] = obs
        self.next_obs[i] = next_obs
        self.actions[i] = action
        self.reward_cont[i, 0] = reward
        self.reward_cont[i, 1] = not terminal
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def keep_recent(self, fraction: float) -> None:
        """Drop all but the most recent `fraction` of the stored transitions (at least one), which
        then sit at the start of the arrays in the order they were added."""
        n = max(1, math.ceil(fraction * self.size)) if self.size else 0
        idx = (self.pos - n + np.arange(n)) % self.capacity
        for array in (self.obs, self.next_obs, self.actions, self.reward_cont):
            array[:n] = array[idx]  # fancy indexing copies first, so overlapping ranges are safe
        self.size, self.pos = n, n % self.capacity

    def recent_states(self, n: int) -> np.ndarray:
        """Up to n most recent observations (probe states for morphing and distillation)."""
        n = min(n, self.size)
        idx = (self.pos - 1 - np.arange(n)) % self.capacity
        return self.obs[idx]


class DQNAgent:
    def __init__(self, obs_dim: int, n_actions: int, arch: Arch, *, lr: float, gamma: float,
                 batch_size: int, buffer_size: int, grad_clip: float, rng: np.random.Generator,
                 torch_generator: torch.Generator, double: bool = True, buffer: ReplayBuffer | None = None) -> None:
        self.obs_dim, self.n_actions = obs_dim, n_actions
        self.double = double
        self.lr, self.gamma, self.batch_size, self.grad_clip = lr, gamma, batch_size, grad_clip
        self.rng = rng
        # A population of candidates passes one shared buffer (`population`); a lone agent owns its own.
        self.buffer = buffer if buffer is not None else ReplayBuffer(buffer_size, obs_dim)
        self._grad_out = torch.zeros(batch_size, n_actions)
        # obs and next_obs of a minibatch, stacked: the online network runs once on both.
        self._both = np.zeros((2 * batch_size, obs_dim), dtype=np.float32)
        self._both_t = torch.from_numpy(self._both)
        self._set_online(MLP(obs_dim, n_actions, arch, generator=torch_generator))

    @property
    def arch(self) -> Arch:
        return self.online.arch

    def _set_online(self, net: MLP) -> None:
        self.online = net
        self.target = net.clone()
        # Adam's moments belong to the old parameters; a new network starts a new optimiser.
        self.optimizer = FlatAdam(net.flat, self.lr)
        self.grad, self._grad_views = net.gradient_buffer()
        self._q = net.numpy_forward()

    def act(self, obs: np.ndarray, epsilon: float) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.integers(self.n_actions))
        return int(self._q(obs).argmax())

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        return self._q(obs).argmax(axis=-1)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        return self._q(obs)

    def update(self, idx: np.ndarray | None = None) -> torch.Tensor:
        """One gradient step on a minibatch: the transitions at `idx` (candidates of a population share
        them), else `batch_size` drawn uniformly by the agent's own generator. Returns the gradient norm
        before clipping (a tensor, so the caller decides when to pay for reading it)."""
        b, buf = self.batch_size, self.buffer
        if idx is None:
            idx = self.rng.integers(buf.size, size=b)
        np.take(buf.obs, idx, axis=0, out=self._both[:b])
        np.take(buf.next_obs, idx, axis=0, out=self._both[b:])
        actions = torch.from_numpy(buf.actions[idx])
        reward_cont = torch.from_numpy(buf.reward_cont[idx])

        q_both, inputs = self.online.forward_keep(self._both_t)
        q = q_both[:b].gather(1, actions)
        if self.double:  # Double DQN: the online network picks the next action, the target network values it
            next_q = self.target(self._both_t[b:]).gather(1, q_both[b:].argmax(dim=1, keepdim=True))
        else:  # DQN (as Stable-Baselines3's): the target network's own maximum
            next_q = self.target(self._both_t[b:]).max(dim=1, keepdim=True).values
        target = torch.addcmul(reward_cont[:, :1], reward_cont[:, 1:], next_q, value=self.gamma)
        # Huber loss (delta 1) averaged over the batch: its gradient is clip(q - y, -1, 1) / b.
        grad_q = (q - target).clamp_(-1.0, 1.0).div_(b)
        # Only the first b rows (obs) carry gradient; the next_obs rows were for the argmax.
        inputs = [x[:b] for x in inputs]
        self.online.backward(inputs, self._grad_out.zero_().scatter_(1, actions, grad_q), self._grad_views)
        norm = torch.linalg.vector_norm(self.grad)
        self.optimizer.step(self.grad, grad_scale=torch.clamp(norm / self.grad_clip, min=1.0))
        return norm

    def snapshot(self) -> dict:
        """Everything an update changes (weights, target, Adam's moments, the minibatch generator),
        so that a probe can train the agent a little and `restore` leaves the run as it was."""
        opt = self.optimizer
        return {"online": self.online.flat.clone(), "target": self.target.flat.clone(),
                "adam": (opt.exp_avg.clone(), opt.exp_avg_sq.clone(), opt.step_count.clone()),
                "rng": self.rng.bit_generator.state, "arch": self.arch}

    def restore(self, snapshot: dict) -> None:
        if snapshot["arch"] != self.arch:
            raise ValueError(f"snapshot of {snapshot['arch']} cannot restore an agent of {self.arch}")
        opt = self.optimizer
        self.online.flat.copy_(snapshot["online"])
        self.target.flat.copy_(snapshot["target"])
        for mine, saved in zip((opt.exp_avg, opt.exp_avg_sq, opt.step_count), snapshot["adam"], strict=True):
            mine.copy_(saved)
        self.rng.bit_generator.state = snapshot["rng"]

    def sync_target(self) -> None:
        self.target.flat.copy_(self.online.flat)

    def reconfigure(self, arch: Arch, rng: np.random.Generator, distill_steps: int = 0,
                    probe_size: int = 2048, inherit: str = "morph", replay_keep: float = 1.0) -> MorphReport:
        """Turn the online network into `arch` (`networks.morph`: `inherit` says how much of it is
        carried over). The target network becomes a copy of the new online one and Adam starts
        afresh; the replay buffer keeps its most recent `replay_keep` fraction (all by default)."""
        probe = torch.from_numpy(self.buffer.recent_states(probe_size)) if self.buffer.size else None
        net, report = morph(self.online, arch, rng, probe, distill_steps=distill_steps,
                            batch_size=self.batch_size, inherit=inherit)
        self._set_online(net)
        if replay_keep < 1.0:
            self.buffer.keep_recent(replay_keep)
        return report
