import numpy as np
import pytest
import torch

from nasdqn.agent import DQNAgent, ReplayBuffer
from nasdqn.search_space import Arch
from nasdqn.stacked import CandidateStack, SharedBatch, stacks_for

OPTIONS = dict(lr=1e-3, gamma=0.99, grad_clip=0.5)  # a small clip, so that clipping is exercised


def _agents(archs, buffer, seed=0, double=True):
    return [DQNAgent(3, 5, Arch.parse(a), batch_size=32, buffer_size=buffer.capacity,
                     rng=np.random.default_rng(seed + k), torch_generator=torch.Generator().manual_seed(seed + k),
                     buffer=buffer, double=double, **OPTIONS)
            for k, a in enumerate(archs)]


def _filled_buffer(rng, n=500):
    buffer = ReplayBuffer(1000, 3)
    for _ in range(n):
        terminal = bool(rng.random() < 0.05)
        buffer.add(rng.normal(size=3), int(rng.integers(5)), float(rng.normal()), rng.normal(size=3), terminal)
    return buffer


@pytest.mark.parametrize("double", [True, False])
def test_a_stack_update_is_each_members_own_update_on_the_same_transitions(double):
    rng = np.random.default_rng(0)
    buffer = _filled_buffer(rng)
    archs = ["relu-64x64", "tanh-64x64", "tanh-64x64"]
    alone = _agents(archs, buffer, double=double)
    stack = CandidateStack([a.online for a in _agents(archs, buffer, double=double)], double=double, **OPTIONS)
    batch = SharedBatch(32, 3)
    clipped = 0
    for step in range(30):
        idx = rng.integers(buffer.size, size=32)
        norms = [float(a.update(idx)) for a in alone]
        batch.gather(buffer, idx)
        np.testing.assert_allclose(stack.update(batch).numpy(), norms, rtol=1e-4)
        clipped += sum(n > OPTIONS["grad_clip"] for n in norms)
        if step == 10:
            stack.sync_target()
            for a in alone:
                a.sync_target()
    assert clipped > 0  # the per-member clipping was exercised
    for m, agent in enumerate(alone):
        np.testing.assert_allclose(stack.member_flat(m).numpy(), agent.online.flat.numpy(), atol=1e-5)
        np.testing.assert_allclose(stack.member_flat(m, "exp_avg").numpy(), agent.optimizer.exp_avg.numpy(), atol=1e-6)
        obs = rng.normal(size=(7, 3)).astype(np.float32)
        np.testing.assert_allclose(stack.q_function(m)(obs), agent.q_values(obs), atol=1e-5)


def test_a_subset_keeps_each_members_weights_target_and_optimiser_state():
    rng = np.random.default_rng(1)
    buffer = _filled_buffer(rng)
    agents = _agents(["relu-32", "tanh-32", "relu-32"], buffer)
    stack = CandidateStack([a.online for a in agents], **OPTIONS)
    batch = SharedBatch(32, 3)
    for _ in range(5):
        batch.gather(buffer, rng.integers(buffer.size, size=32))
        stack.update(batch)
    kept = stack.subset([2, 0])
    assert [str(a) for a in kept.archs] == ["relu-32", "relu-32"]
    for j, m in enumerate([2, 0]):
        for source in ("online", "target", "exp_avg", "exp_avg_sq"):
            assert torch.equal(kept.member_flat(j, source), stack.member_flat(m, source))
    assert kept.optimizer.step_count == stack.optimizer.step_count == 5
    batch.gather(buffer, rng.integers(buffer.size, size=32))  # and both go on the same way
    np.testing.assert_allclose(kept.update(batch).numpy(), stack.update(batch).numpy()[[2, 0]], rtol=1e-5)


def test_networks_are_grouped_by_shape_with_one_activation_per_slice():
    buffer = ReplayBuffer(10, 3)
    archs = ["tanh-64x64", "relu-32", "relu-64x64", "tanh-32", "relu-64x64x64"]
    nets = [a.online for a in _agents(archs, buffer)]
    stacks, where = stacks_for(nets, **OPTIONS)
    assert sorted(len(s) for s in stacks) == [1, 2, 2]
    for arch, (s, m) in zip(archs, where, strict=True):
        assert str(stacks[s].archs[m]) == arch
    for s in stacks:  # members of one activation side by side
        acts = [a.activation for a in s.archs]
        assert acts == sorted(acts)
    with pytest.raises(ValueError, match="one shape"):
        CandidateStack(nets[:2], **OPTIONS)


def test_td_errors_are_each_members_squared_td_error_and_take_no_step():
    rng = np.random.default_rng(3)
    buffer = _filled_buffer(rng)
    archs = ["relu-32", "tanh-32"]
    alone = _agents(archs, buffer)
    stack = CandidateStack([a.online for a in _agents(archs, buffer)], **OPTIONS)
    batch = SharedBatch(32, 3)
    for _ in range(5):  # move online away from target, so that both networks matter
        idx = rng.integers(buffer.size, size=32)
        for a in alone:
            a.update(idx)
        batch.gather(buffer, idx)
        stack.update(batch)
    held = SharedBatch(buffer.size, 3)
    held.gather(buffer, np.arange(buffer.size))
    before = stack.flat.clone()
    td = stack.td_errors(held).numpy()
    assert torch.equal(stack.flat, before)
    obs, nxt = torch.from_numpy(buffer.obs[:buffer.size]), torch.from_numpy(buffer.next_obs[:buffer.size])
    actions = torch.from_numpy(buffer.actions[:buffer.size])
    reward, cont = (torch.from_numpy(buffer.reward_cont[:buffer.size, k]) for k in (0, 1))
    for m, agent in enumerate(alone):
        with torch.no_grad():
            q = agent.online(obs).gather(1, actions).squeeze(1)
            best = agent.online(nxt).argmax(dim=1, keepdim=True)
            target = reward + OPTIONS["gamma"] * cont * agent.target(nxt).gather(1, best).squeeze(1)
        assert td[m] == pytest.approx(float((q - target).square().mean()), rel=1e-4)
