import numpy as np
import pytest
import torch

from nasdqn.agent import DQNAgent, ReplayBuffer
from nasdqn.search_space import Arch


def _agent(arch="relu-32", batch=16, **kw):
    return DQNAgent(3, 4, Arch.parse(arch), lr=1e-3, gamma=0.9, batch_size=batch, buffer_size=kw.get("size", 100),
                    grad_clip=kw.get("clip", 10.0), rng=np.random.default_rng(0),
                    torch_generator=torch.Generator().manual_seed(0), double=kw.get("double", True))


def test_replay_buffer_wraps_around_keeping_the_newest():
    buf = ReplayBuffer(5, 2)
    for i in range(12):
        buf.add(np.full(2, i), i % 3, float(i), np.full(2, i + 1), i == 11)
    assert buf.size == 5 and buf.pos == 12 % 5
    assert sorted(buf.reward_cont[:, 0].tolist()) == [7, 8, 9, 10, 11]
    np.testing.assert_array_equal(buf.next_obs[:, 0] - buf.obs[:, 0], np.ones(5))
    assert buf.reward_cont[:, 1].sum() == 4 and buf.reward_cont[11 % 5, 1] == 0
    np.testing.assert_array_equal(buf.recent_states(3)[:, 0], [11, 10, 9])


@pytest.mark.parametrize("fraction,added", [(0.25, 12), (0.5, 3), (1.0, 7), (0.01, 12)])
def test_keep_recent_keeps_the_newest_fraction_in_order_and_the_buffer_goes_on(fraction, added):
    buf = ReplayBuffer(8, 2)
    for i in range(added):
        buf.add(np.full(2, i), i % 3, float(i), np.full(2, i + 1), False)
    size = buf.size
    buf.keep_recent(fraction)
    n = max(1, int(np.ceil(fraction * size)))
    kept = list(range(added - n, added))
    assert buf.size == n and buf.reward_cont[:n, 0].tolist() == kept
    np.testing.assert_array_equal(buf.obs[:n, 0], kept)
    np.testing.assert_array_equal(buf.next_obs[:n, 0], np.array(kept) + 1)
    np.testing.assert_array_equal(buf.actions[:n, 0], np.array(kept) % 3)
    buf.add(np.full(2, 99), 0, 99.0, np.full(2, 100), True)  # new transitions go after the kept ones
    assert buf.size == min(n + 1, 8) and buf.recent_states(2)[:, 0].tolist() == [99, kept[-1]]


def test_reconfigure_with_copy_and_replay_keep_prunes_the_buffer_and_resets_adam_and_target():
    agent = _agent("relu-32x32")
    rng = np.random.default_rng(3)
    for i in range(40):
        agent.buffer.add(rng.standard_normal(3), 1, float(i), rng.standard_normal(3), False)
    agent.update()
    report = agent.reconfigure(Arch.parse("tanh-32x32"), np.random.default_rng(0), inherit="copy",
                               replay_keep=0.25)
    assert agent.arch == Arch.parse("tanh-32x32") and not report.preserving
    assert agent.buffer.size == 10 and agent.buffer.reward_cont[:10, 0].tolist() == list(range(30, 40))
    torch.testing.assert_close(agent.target.flat, agent.online.flat)
    assert float(agent.optimizer.step_count) == 0 and not agent.optimizer.exp_avg.any()


@pytest.mark.parametrize("double", [True, False])
def test_update_matches_a_reference_step(double):
    """One update of ours against the same step written with autograd and torch.optim: Double DQN's
    target, or (double=False) DQN's, the target network's own maximum."""
    agent = _agent(clip=0.05, double=double)  # a small clip so that clipping is active
    rng = np.random.default_rng(1)
    for _ in range(50):
        agent.buffer.add(rng.standard_normal(3), int(rng.integers(4)), float(rng.standard_normal()),
                         rng.standard_normal(3), bool(rng.random() < 0.2))
    before = agent.online.flat.clone()
    target = agent.target.flat.clone()
    agent.target.flat.add_(0.1)  # make the target differ from the online net
    target = agent.target.flat.clone()
    idx = np.random.default_rng(0).integers(agent.buffer.size, size=16)  # the agent's own draw
    agent.rng = np.random.default_rng(0)
    agent.update()

    from nasdqn.networks import MLP
    leaf = before.clone().requires_grad_(True)
    online, tgt = MLP(3, 4, agent.arch, leaf), MLP(3, 4, agent.arch, target)
    b = agent.buffer
    obs, nxt = torch.from_numpy(b.obs[idx]), torch.from_numpy(b.next_obs[idx])
    a = torch.from_numpy(b.actions[idx])
    with torch.no_grad():
        next_q = (tgt(nxt).gather(1, online(nxt).argmax(1, keepdim=True)) if double
                  else tgt(nxt).max(1, keepdim=True).values)
        y = torch.from_numpy(b.reward_cont[idx, :1]) + 0.9 * torch.from_numpy(b.reward_cont[idx, 1:]) * next_q
    loss = torch.nn.functional.smooth_l1_loss(online(obs).gather(1, a), y)
    opt = torch.optim.Adam([leaf], lr=1e-3)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_([leaf], 0.05)
    opt.step()
    torch.testing.assert_close(agent.online.flat, leaf.detach(), atol=1e-6, rtol=1e-5)


def test_learning_reduces_td_error_on_a_fixed_problem():
    agent = _agent("relu-32", batch=32, size=256)
    rng = np.random.default_rng(2)
    for _ in range(256):  # terminal transitions: the target is the reward itself
        obs = rng.standard_normal(3)
        agent.buffer.add(obs, int(rng.integers(4)), float(obs[0]), obs, True)
    b = agent.buffer

    def td() -> float:
        q = agent.q_values(b.obs)[np.arange(256), b.actions[:, 0]]
        return float(np.abs(q - b.reward_cont[:, 0]).mean())

    start = td()
    for _ in range(400):
        agent.update()
    assert td() < 0.5 * start


def test_reconfigure_morphs_online_rebuilds_target_keeps_buffer():
    agent = _agent("relu-32")
    rng = np.random.default_rng(3)
    for _ in range(40):
        agent.buffer.add(rng.standard_normal(3), 1, 0.0, rng.standard_normal(3), False)
    x = agent.buffer.obs[:40]
    q_before = agent.q_values(x)
    report = agent.reconfigure(Arch.parse("relu-64x64"), np.random.default_rng(0))
    assert agent.arch == Arch.parse("relu-64x64") and report.preserving
    assert report.error < 1e-5
    np.testing.assert_allclose(agent.q_values(x), q_before, atol=1e-5)
    torch.testing.assert_close(agent.target.flat, agent.online.flat)
    assert agent.buffer.size == 40
    agent.update()  # the optimiser follows the new parameters
    assert not torch.equal(agent.target.flat, agent.online.flat)


@pytest.mark.parametrize("eps,expect_random", [(0.0, False), (1.0, True)])
def test_act_is_greedy_or_random_by_epsilon(eps, expect_random):
    agent = _agent()
    obs = np.ones(3, dtype=np.float32)
    acts = {agent.act(obs, eps) for _ in range(200)}
    assert (len(acts) > 1) == expect_random
