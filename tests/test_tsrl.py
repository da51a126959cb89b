"""TSRL against the paper (section 3) and the brief: the reward table (Eq. 5, both wrong -> wrong
conventions), the state manager (forgetting = wrong -> right), PPO's ratio, clip and value baseline,
behaviour cloning, weights in [0, 1] drawn from Normal(actor(s), sigma), one distribution for sampling
and scoring, eval-mode scoring, and a seeded run through the shared training loop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from deepfake_rl.methods.base import LN2, Batch
from deepfake_rl.methods.tsrl import (TSRL, SampleHistory, Transition, TSRLSettings, Tutor, behaviour_cloning,
                                      build_states, draw, expert_weights, hard_fraction, policy_ratio, ppo_loss,
                                      ppo_update, predict, step_rewards)
from deepfake_rl.models.detector import DetectorOutput, scoring_mode
from deepfake_rl.train.loop import optimiser_step


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids oversubscribing shared cores (over 10x faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- toys -------------------------------------------------------------------------------------------


class ToyDetector(nn.Module):
    """A suffix-only detector with heavy dropout, so train- and eval-mode forwards differ."""

    def __init__(self, dim: int = 6, hidden: int = 8, dropout: float = 0.5) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.body = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Dropout(dropout))
            self.head = nn.Linear(hidden, 2)

    def suffix(self, inputs: torch.Tensor, lengths: torch.Tensor) -> DetectorOutput:
        pooled = self.body(inputs)
        return DetectorOutput(logits=self.head(pooled), pooled=pooled)


def toy_batches(n: int = 32, batch_size: int = 8, dim: int = 6, seed: int = 0) -> list[Batch]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    inputs = torch.randn(n, dim, generator=generator) + labels[:, None].float()
    return [Batch(inputs[i:i + batch_size], torch.ones(min(batch_size, n - i), dtype=torch.long),
                  labels[i:i + batch_size], torch.arange(i, min(i + batch_size, n)))
            for i in range(0, n, batch_size)]


def run_epoch(method: TSRL, detector: nn.Module, optimiser: torch.optim.Optimizer, batches: list[Batch],
              epoch: int) -> tuple[list[dict[str, float]], dict[str, float]]:
    """What train/loop.py does with a method in one epoch."""
    steps = []
    parameters = list(detector.parameters())
    for batch in batches:
        stats, _ = optimiser_step(method, detector, batch, optimiser, parameters, grad_clip=100.0)
        stats.update(method.after_step(detector, len(steps) + 1, batch))
        steps.append(stats)
    return steps, method.after_epoch(detector, epoch)


def started(method: TSRL, n: int = 32, lr: float = 1e-2) -> tuple[ToyDetector, torch.optim.Optimizer]:
    detector = ToyDetector().train()
    method.setup(detector, n)
    return detector, torch.optim.SGD(detector.parameters(), lr=lr)


# --- reward, history, states ------------------------------------------------------------------------

# P(true class) before and after one step, 2 classes: wrong->right, right->wrong, right->right up,
# right->right down, wrong->wrong with the true class gaining, wrong->wrong with it losing.
REWARD_LABELS = torch.tensor([1, 1, 0, 0, 1, 0])
P_TRUE_BEFORE = torch.tensor([0.3, 0.8, 0.6, 0.9, 0.2, 0.4])
P_TRUE_AFTER = torch.tensor([0.7, 0.1, 0.8, 0.7, 0.4, 0.1])
# Eq. 5 by hand, c_rew = 0.5. Only wrong->wrong differs: the paper's conf is the predicted (wrong)
# class's, 1 - P(true): 0.8 -> 0.6 (dconf -0.2, reward +0.1) and 0.6 -> 0.9 (dconf +0.3, reward -0.15);
# the authors' code takes dP(true) = +0.2 and -0.3 (rewards -0.1 and +0.15).
HAND_REWARDS = {"predicted": [1.0, -1.0, 0.1, -0.1, 0.1, -0.15],
                "true_class": [1.0, -1.0, 0.1, -0.1, -0.1, 0.15]}


def two_class_logits(p_true: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    p_real = torch.where(labels == 1, p_true, 1 - p_true)
    return torch.stack([torch.log(1 - p_real), torch.log(p_real)], dim=1)


@pytest.mark.parametrize("error_reward", ["predicted", "true_class"])
def test_reward_table_covers_the_four_transitions_under_both_conventions(error_reward):
    old = predict(two_class_logits(P_TRUE_BEFORE, REWARD_LABELS), REWARD_LABELS)
    new = predict(two_class_logits(P_TRUE_AFTER, REWARD_LABELS), REWARD_LABELS)
    assert old.correct.tolist() == [False, True, True, True, False, False]
    assert new.correct.tolist() == [True, False, True, True, False, False]
    assert torch.allclose(old.confidence, P_TRUE_BEFORE) and torch.allclose(new.confidence, P_TRUE_AFTER)
    assert torch.allclose(old.top, torch.maximum(P_TRUE_BEFORE, 1 - P_TRUE_BEFORE))
    rewards = step_rewards(old, new, 0.5, error_reward)
    assert torch.allclose(rewards, torch.tensor(HAND_REWARDS[error_reward]), atol=1e-6)


def test_the_paper_rewards_a_wrong_sample_moving_towards_its_class_and_the_code_the_opposite():
    """Three classes, the prediction moving between two wrong classes (class 0 -> class 1; true 2):
    the paper's confidence is each moment's predicted class, 0.5 -> 0.55 (penalised: -0.025); the code's
    is P(true) 0.2 -> 0.15 (rewarded: +0.025)."""
    labels = torch.tensor([2])
    before, after = torch.tensor([[0.5, 0.3, 0.2]]).log(), torch.tensor([[0.3, 0.55, 0.15]]).log()
    old, new = predict(before, labels), predict(after, labels)
    assert step_rewards(old, new, 0.5, "predicted").item() == pytest.approx(-0.025, abs=1e-6)
    assert step_rewards(old, new, 0.5, "true_class").item() == pytest.approx(0.025, abs=1e-6)
    with pytest.raises(ValueError, match="error_reward 'target'"):
        step_rewards(old, new, 0.5, "target")


@pytest.mark.parametrize("error_reward", ["predicted", "true_class"])
def test_the_method_rewards_with_the_configured_convention(error_reward):
    """The rollout's rewards are Eq. 5 under `error_reward`, on the batch scored before and after the step."""
    method = TSRL(warmup_epochs=1, seed=0, error_reward=error_reward)
    detector, optimiser = started(method, lr=0.5)
    batches = toy_batches()
    run_epoch(method, detector, optimiser, batches, 0)
    other = "true_class" if error_reward == "predicted" else "predicted"
    wrong_to_wrong = 0
    for batch in batches:
        optimiser_step(method, detector, batch, optimiser, list(detector.parameters()), grad_clip=100.0)
        before = method.pending.before
        with scoring_mode(detector):
            after = predict(detector.suffix(batch.inputs, batch.lengths).logits, batch.labels)
        method.after_step(detector, 1, batch)
        rewards = method.rollout.items[-1].reward
        assert torch.allclose(rewards, step_rewards(before, after, 0.5, error_reward), atol=1e-6)
        stays_wrong = ~before.correct & ~after.correct & (before.confidence != after.confidence)
        wrong_to_wrong += int(stays_wrong.sum())
        assert torch.allclose(rewards[stays_wrong], -step_rewards(before, after, 0.5, other)[stays_wrong], atol=1e-6)
    assert wrong_to_wrong > 0                          # the batches exercise the branch that differs


# Correctness of samples 0-4 (columns) at 5 visits, one per epoch (rows); sample 5 is never visited.
VISITS = [[True, False, True, False, True],
          [False, True, False, False, True],
          [True, True, False, False, True],
          [False, True, False, False, True],
          [True, True, False, False, True]]
# wrong -> right (paper, code): sample 0 twice, sample 1 once; a first visit is never an event.
# right -> wrong (Toneva et al.): sample 0 twice, sample 2 once.
FORGETTING = {"wrong_to_right": [2, 1, 0, 0, 0, 0], "right_to_wrong": [2, 0, 1, 0, 0, 0]}


@pytest.mark.parametrize("forgetting", ["wrong_to_right", "right_to_wrong"])
def test_history_ema_and_forgetting_follow_hand_made_visits(forgetting):
    history = SampleHistory(6, alpha=0.1, forgetting=forgetting)
    losses = torch.tensor([[1.0, 2.0, 0.3, 0.9, 0.1], [0.5, 0.2, 2.0, 1.5, 0.1], [0.1, 3.0, 0.4, 0.8, 0.2],
                           [2.0, 0.0, 1.1, 0.7, 0.1], [0.3, 0.1, 0.9, 0.9, 0.1]])
    ema = torch.full((5,), LN2)
    for visit, correct in enumerate(VISITS):
        history.update(torch.arange(5), losses[visit], torch.tensor(correct))
        ema = 0.9 * ema + 0.1 * losses[visit]
    assert torch.allclose(history.ema_loss, torch.cat([ema, torch.tensor([LN2])]))
    assert history.forgetting.tolist() == FORGETTING[forgetting]
    assert history.last_correct[:5].tolist() == VISITS[-1]
    assert hard_fraction(history.ema_loss, 0.7) == pytest.approx(float((history.ema_loss > 0.7).float().mean()))
    assert hard_fraction(torch.tensor([0.69, 0.71, 2.0, 0.1])) == 0.5


def test_tsrl_counts_wrong_to_right_by_default():
    """The state manager TSRL builds follows the paper unless told otherwise."""
    for settings, expected in (({}, "wrong_to_right"), ({"forgetting": "right_to_wrong"}, "right_to_wrong")):
        method = TSRL(seed=0, **settings)
        started(method, n=6)
        for correct in VISITS:
            method.history.update(torch.arange(5), torch.ones(5), torch.tensor(correct))
        assert method.history.forgetting.tolist() == FORGETTING[expected]


def test_states_are_normalised_and_the_expert_upweights_high_loss():
    features = torch.randn(4, 5) * 100 + 50
    p = torch.tensor([0.9, 0.2, 0.6, 0.05])
    states = build_states(features, p, p > 0.5, torch.tensor([0.0, 1.0, 5.0, LN2]), torch.tensor([0, 10, 3, 100]),
                          forget_scale=10.0)
    assert states.shape == (4, 10)
    assert torch.allclose(states[:, :5].mean(dim=1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(states[:, 5], p)
    assert states[:, 6:8].tolist() == [[0, 1], [1, 0], [0, 1], [1, 0]]
    assert torch.allclose(states[:, 8], torch.tanh(torch.tensor([0.0, 1.0, 5.0, LN2])))
    assert torch.allclose(states[:, 9], torch.tanh(torch.tensor([0.0, 1.0, 0.3, 10.0])))
    # losses -ln p = 0.11, 1.61, 0.51, 3.00; mean 1.31: samples 1 and 3 are the hard ones
    assert expert_weights(states, 1.0, 0.5).tolist() == [0.5, 1.0, 0.5, 1.0]


# --- tutor: one distribution, PPO, BC ---------------------------------------------------------------

def tutor(state_dim: int = 10, sigma: float = 0.3) -> Tutor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Tutor(state_dim, (16, 16), (16, 16), sigma)


def test_sampling_and_log_prob_use_one_distribution():
    net = tutor(sigma=0.3)
    states = torch.randn(1, 10).expand(20000, 10)
    with torch.no_grad():
        distribution = net.distribution(states)
        z = draw(distribution, torch.Generator().manual_seed(0))
        stored = distribution.log_prob(z)
        mu = net.actor(states[:1]).item()
    assert (z - mu).std().item() == pytest.approx(0.3, rel=0.03)   # drawn with the sigma it is scored with
    closed_form = -((z - mu) ** 2) / (2 * 0.3 ** 2) - math.log(0.3) - 0.5 * math.log(2 * math.pi)
    assert torch.allclose(stored, closed_form, atol=1e-5)
    assert torch.allclose(policy_ratio(net.distribution(states), z, stored), torch.ones(20000), atol=1e-6)


def test_stored_log_probs_match_a_recomputation_and_the_first_ppo_ratio_is_one():
    method = TSRL(warmup_epochs=1, seed=3, minibatch_size=1000, ppo_epochs=1)
    detector, optimiser = started(method)
    batches = toy_batches()
    run_epoch(method, detector, optimiser, batches, 0)                      # warm-up, then BC
    optimiser_step(method, detector, batches[0], optimiser, list(detector.parameters()), grad_clip=100.0)
    method.after_step(detector, 1, batches[0])
    item = method.rollout.items[0]
    with torch.no_grad():
        recomputed = method.tutor.distribution(item.states).log_prob(item.z)
    assert torch.allclose(item.log_prob, recomputed, atol=1e-6)
    assert torch.allclose(policy_ratio(method.tutor.distribution(item.states), item.z, item.log_prob),
                          torch.ones(len(item.z)), atol=1e-6)
    stats = ppo_update(method.tutor, method.optimiser, method.rollout.stacked(), method.settings,
                       torch.Generator().manual_seed(0))
    assert stats["ppo_clip_fraction"] == 0.0


# PPO's clip function itself (methods.base.clipped_surrogate, shared with GRPO) is tested in
# tests/test_grpo.py; here, that the tutor's update applies it with its own `clip`.

@pytest.mark.parametrize("clip", [0.2, 0.5])
def test_ppo_loss_clips_the_ratio_at_the_configured_clip(clip):
    """Ratios e and 1/e against advantages +-1: min(r A, clip(r) A) takes the clipped side for (e, +1)
    and (1/e, -1), which then give no gradient to the actor; the other two keep r A."""
    net = tutor()
    states = torch.randn(4, 10, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        distribution = net.distribution(states)
        z = distribution.loc + 0.1
        log_prob = distribution.log_prob(z) - torch.tensor([1.0, 1.0, -1.0, -1.0])   # ratios e, e, 1/e, 1/e
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    batch = Transition(states, z, log_prob, net.value(states).detach(), torch.zeros(4))
    _, stats = ppo_loss(net, batch, advantages, TSRLSettings(clip=clip))
    surrogate = [1 + clip, -math.e, 1 / math.e, -(1 - clip)]
    assert stats["ppo_policy_loss"] == pytest.approx(-sum(surrogate) / 4, rel=1e-5)
    assert stats["ppo_clip_fraction"] == 1.0
    for rows, moves in (([0, 3], False), ([1, 2], True)):
        net.zero_grad()
        part = Transition(*(t[rows] for t in vars(batch).values()))
        ppo_loss(net, part, advantages[rows], TSRLSettings(clip=clip))[0].backward()
        actor_gradient = sum(float(p.grad.abs().sum()) for p in net.actor.parameters())
        assert (actor_gradient > 0) == moves


def test_the_advantage_is_the_reward_minus_the_critics_value():
    """A critic that predicted every reward exactly leaves no advantage: the actor does not move (the
    critic's MSE is 0 too). The same rewards against a zero baseline move it."""
    states = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))
    for baseline, actor_moves in (("perfect", False), ("zero", True)):
        net = tutor()
        with torch.no_grad():
            distribution = net.distribution(states)
            z = draw(distribution, torch.Generator().manual_seed(2))
        rewards = (z - distribution.loc).sign() * torch.linspace(0.1, 1.0, 64)
        values = rewards.clone() if baseline == "perfect" else torch.zeros(64)
        actor = {k: v.clone() for k, v in net.actor.state_dict().items()}
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        stats = ppo_update(net, optimiser, Transition(states, z, distribution.log_prob(z), values, rewards),
                           TSRLSettings(minibatch_size=16, ppo_epochs=2), torch.Generator().manual_seed(0))
        moved = any(not torch.equal(actor[k], v) for k, v in net.actor.state_dict().items())
        assert moved == actor_moves
        if baseline == "perfect":
            assert stats["ppo_policy_loss"] == 0.0


def test_weights_are_sigmoids_of_draws_from_the_policy_not_its_mean():
    """After BC the tutor acts with w = sigmoid(z), z ~ Normal(actor(s), sigma): on one state repeated,
    logit(w) has the actor's mean and the standard deviation sigma (normal by KS), differs between
    calls, and is what the transition stores with its log-prob."""
    from scipy import stats as scipy_stats

    sigma = 0.3
    method = TSRL(warmup_epochs=1, seed=0, sigma=sigma)
    detector, optimiser = started(method)
    run_epoch(method, detector, optimiser, toy_batches(), 0)
    assert method.acting
    states = torch.randn(1, method.tutor.actor[0].in_features).expand(20000, -1)
    before = predict(torch.randn(20000, 2), torch.arange(20000) % 2)
    with torch.no_grad():
        mu = method.tutor.actor(states[:1]).item()
    first = method.weights(states, before)
    z = torch.logit(first.double())
    assert torch.allclose(method.pending.z.double(), z, atol=1e-4)
    assert torch.allclose(method.pending.log_prob, torch.distributions.Normal(mu, sigma).log_prob(method.pending.z),
                          atol=1e-5)
    assert (z - mu).std().item() == pytest.approx(sigma, rel=0.03)
    assert (z - mu).mean().item() == pytest.approx(0.0, abs=4 * sigma / math.sqrt(20000))
    assert scipy_stats.kstest(((z - mu) / sigma).numpy(), "norm").pvalue > 1e-3
    assert not torch.equal(method.weights(states, before), first)


def test_ppo_raises_the_log_prob_of_rewarded_actions():
    net = tutor()
    states = torch.randn(256, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        distribution = net.distribution(states)
        z = draw(distribution, torch.Generator().manual_seed(2))
        rollout = Transition(states, z, distribution.log_prob(z), net.value(states), (z - distribution.loc).sign())
    settings = TSRLSettings(minibatch_size=64, actor_lr=1e-3, critic_lr=1e-3)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    ppo_update(net, optimiser, rollout, settings, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (net.actor(states).squeeze(-1) > distribution.loc).float().mean() > 0.9   # mean moved up


def test_behaviour_cloning_reduces_the_mse_to_the_expert():
    generator = torch.Generator().manual_seed(0)
    states = build_states(torch.randn(256, 5, generator=generator), torch.rand(256, generator=generator),
                          torch.rand(256, generator=generator) > 0.5, torch.rand(256, generator=generator),
                          torch.zeros(256), 10.0)
    targets = expert_weights(states, 1.0, 0.5)
    before, after = behaviour_cloning(tutor(), states, targets, TSRLSettings(), generator)
    assert after < 0.5 * before
    assert after < 0.75 * targets.var(unbiased=False).item()   # better than the best constant: it uses the state


# --- the method -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [-60.0, 0.0, 60.0])
def test_weights_stay_in_the_unit_interval(bias):
    method = TSRL(warmup_epochs=1, seed=0, sigma=5.0)
    detector, optimiser = started(method)
    batches = toy_batches()
    run_epoch(method, detector, optimiser, batches, 0)
    with torch.no_grad():
        method.tutor.actor[-1].bias.fill_(bias)
    steps, _ = run_epoch(method, detector, optimiser, batches, 1)
    states = torch.randn(64, method.tutor.actor[0].in_features)
    before = predict(torch.randn(64, 2), torch.arange(64) % 2)
    weights = method.weights(states, before)
    assert ((0.0 <= weights) & (weights <= 1.0)).all()
    assert all(0.0 <= step["weight"] <= 1.0 and step["loss"] <= step["ce"] + 1e-6 for step in steps)
    if bias:
        assert weights.mean().item() == pytest.approx(1.0 if bias > 0 else 0.0, abs=0.05)


def test_scoring_runs_in_eval_mode_so_no_step_means_zero_reward():
    method = TSRL(warmup_epochs=1, seed=0)
    detector, optimiser = started(method)
    batches = toy_batches()
    run_epoch(method, detector, optimiser, batches, 0)
    for batch in batches:
        method.loss(detector, batch)                           # no optimiser step in between
        assert method.after_step(detector, 1, batch) == {"reward": 0.0}
        assert detector.training
    assert torch.equal(method.rollout.stacked().reward, torch.zeros(32))


def test_warmup_gives_unit_weights_then_bc_then_the_tutor_acts_and_learns():
    method = TSRL(warmup_epochs=2, seed=0, minibatch_size=16)
    detector, optimiser = started(method)
    batches = toy_batches()
    for epoch in range(2):
        steps, stats = run_epoch(method, detector, optimiser, batches, epoch)
        assert all(step["weight"] == 1.0 and "reward" not in step for step in steps)
        assert stats["mean_weight"] == 1.0 and "ppo_policy_loss" not in stats
    assert "bc_mse_after" in stats and stats["bc_mse_after"] < stats["bc_mse_before"]
    actor = {k: v.clone() for k, v in method.tutor.actor.state_dict().items()}
    steps, stats = run_epoch(method, detector, optimiser, batches, 2)
    assert all(step["weight"] < 1.0 and "reward" in step for step in steps)
    assert {"ppo_policy_loss", "ppo_value_loss", "ppo_entropy", "tutor_reward", "hard_fraction"} <= set(stats)
    assert any(not torch.equal(actor[k], v) for k, v in method.tutor.actor.state_dict().items())


def test_cl_freezes_the_cloned_tutor():
    method = TSRL(warmup_epochs=1, seed=0, learn_tutor=False)
    detector, optimiser = started(method)
    batches = toy_batches()
    _, stats = run_epoch(method, detector, optimiser, batches, 0)
    assert "bc_mse_after" in stats
    tutor_state = {k: v.clone() for k, v in method.tutor.state_dict().items()}
    steps, stats = run_epoch(method, detector, optimiser, batches, 1)
    assert all(step["weight"] < 1.0 and "reward" not in step for step in steps) and "ppo_policy_loss" not in stats
    assert all(torch.equal(tutor_state[k], v) for k, v in method.tutor.state_dict().items())


def test_invalid_settings_are_refused():
    for bad in ({"warmup_epochs": 0}, {"sigma": 0.0}, {"feature_dim": 0}, {"ema_alpha": 0.0},
                {"expert_high": 1.5}, {"actor_hidden": [64, 0]}):
        with pytest.raises(ValueError):
            TSRLSettings(**bad)
    assert TSRLSettings(actor_hidden=[32]).actor_hidden == (32,)
    with pytest.raises(TypeError):
        TSRL(no_such_setting=1)


# --- end to end through the shared loop -------------------------------------------------------------

class RandomFeatures(Dataset):
    """Cached-prefix-like features [frames, 32], the class shifting the mean (learnable)."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.labels = np.arange(n) % 2
        self.frames = rng.integers(3, 7, size=n)
        self.items = [torch.from_numpy(rng.normal(0.6 * label, 1.0, size=(frames, 32)).astype(np.float32))
                      for label, frames in zip(self.labels, self.frames)]

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        return self.frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        return self.items[index], int(self.labels[index]), index


def train_tiny(tmp_path, name: str, **settings: object) -> tuple[pd.DataFrame, TSRL]:
    from deepfake_rl.models import Detector, ModelSpec
    from deepfake_rl.train.loop import TrainSettings, train
    from tests.test_models import TINY

    detector = Detector(ModelSpec.from_config("tiny", TINY), freeze="layers:1", seed=0)
    method = TSRL(**{"warmup_epochs": 1, "minibatch_size": 8, "feature_dim": 8, **settings})
    train(detector, method, RandomFeatures(16, 0), RandomFeatures(8, 1),
          TrainSettings(lr=1e-3, epochs=3, batch_size=4, seed=7), inputs_are_features=True,
          log_path=tmp_path / f"{name}.csv", progress=False)
    return pd.read_csv(tmp_path / f"{name}.csv"), method


def test_tsrl_trains_through_the_shared_loop_logs_epoch_statistics_and_is_deterministic(tmp_path):
    log, method = train_tiny(tmp_path, "a")
    again, _ = train_tiny(tmp_path, "b")
    other, _ = train_tiny(tmp_path, "c", seed=99)
    assert len(log) == 12
    epoch_ends = log.groupby("epoch").tail(1)
    assert epoch_ends["mean_weight"].notna().all() and epoch_ends["hard_fraction"].notna().all()
    assert log["mean_weight"].notna().sum() == 3                  # only on the last row of each epoch
    assert epoch_ends["bc_mse_after"].notna().tolist() == [True, False, False]
    assert epoch_ends["ppo_policy_loss"].notna().tolist() == [False, True, True]
    assert (log.loc[log.epoch == 0, "weight"] == 1.0).all() and (log.loc[log.epoch > 0, "weight"] < 1.0).all()
    assert log.loc[log.epoch > 0, "reward"].notna().all()
    assert method.projection.shape == (32, 8) and method.tutor.actor[0].in_features == 8 + 5
    columns = [c for c in log.columns if c != "seconds"]
    pd.testing.assert_frame_equal(log[columns], again[columns])
    assert not np.allclose(log.loc[log.epoch > 0, "weight"], other.loc[other.epoch > 0, "weight"])


def test_the_warm_up_trains_exactly_like_sft(tmp_path):
    from deepfake_rl.methods.sft import SFT
    from deepfake_rl.models import Detector, ModelSpec
    from deepfake_rl.train.loop import TrainSettings, train
    from tests.test_models import TINY

    logs = []
    for name, method in (("sft", SFT()), ("tsrl", TSRL(warmup_epochs=2))):
        detector = Detector(ModelSpec.from_config("tiny", TINY), freeze="layers:1", seed=0)
        train(detector, method, RandomFeatures(16, 0), RandomFeatures(8, 1),
              TrainSettings(lr=1e-3, epochs=2, batch_size=4, seed=7), inputs_are_features=True,
              log_path=tmp_path / f"{name}.csv", progress=False)
        logs.append(pd.read_csv(tmp_path / f"{name}.csv"))
    assert np.allclose(logs[0]["loss"], logs[1]["loss"], rtol=1e-5)   # dropout draws untouched by the tutor
    assert np.allclose(logs[0]["valid_eer"].dropna(), logs[1]["valid_eer"].dropna())
