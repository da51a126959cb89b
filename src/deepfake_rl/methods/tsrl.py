"""TSRL, Tutor-Student Reinforcement Learning (arXiv 2603.24139, section 3), applied to speech.

A tutor (actor-critic MLPs) looks at each training sample's state and draws a loss weight
w_i = sigmoid(z_i), z_i ~ Normal(actor(s_i), sigma); the student (the detector) minimises
mean_i(w_i * CE_i) (paper Eq. 4, averaged over the batch as in the authors' trainer, not divided by
sum(w)). The tutor is rewarded by how the same batch's predictions change across that weighted step
(Eq. 5) and updated by PPO at every epoch end. Phases (section 3.3): the student warms up with
w = 1 for `warmup_epochs`; at the end of the last warm-up epoch the actor is behaviour-cloned
(MSE) on a heuristic expert over that epoch's states; then the tutor acts and learns.
`learn_tutor=False` is the paper's "CL" row (Table 2): the behaviour-cloned tutor, frozen.

State s_i = [f_i, p_i, e_i, l_i^ema, c_i^forget] (Eq. 1, in this order), normalised as:
- f_i: the pooled embedding from the "before" forward, detached, optionally projected to
  `feature_dim` by a fixed seeded Gaussian matrix, then standardised per sample (layer norm without
  affine) so that the tanh MLPs see O(1) inputs whatever the detector's scale (the authors' code
  feeds raw features);
- p_i: P(target class) before the update (the paper's wording; the authors' code uses P(class 1),
  which carries no information on whether the sample is hard);
- e_i: one-hot of "prediction correct";
- tanh(l_i^ema) and tanh(c_i^forget / forget_scale), as in the authors' code.

Reward (Eq. 5) of each sample, from its correctness and confidence before and after the weighted
step: +1 wrong -> right, -1 right -> wrong, +c_rew * dconf right -> right, -c_rew * dconf
wrong -> wrong, dconf = conf_after - conf_before.

Where the paper and the released code (github.com/wannac1/TSRL) disagree, we follow the paper:
- Wrong -> wrong reward (`error_reward`). The paper's conf is the confidence of the prediction, and
  it says the reward penalises "increasing confidence in an incorrect prediction": dconf is the
  change of the predicted class's probability (the top probability at each moment), so
  `predicted` (default). With 2 classes a wrong prediction is the same non-target class before and
  after, its confidence is 1 - P(target), and the reward is +c_rew * dP(target): moving a wrong
  sample towards its true class is rewarded. (With more classes the prediction may move between two
  wrong classes; the confidence is then each moment's top probability.) The released code uses the
  change of P(true class) in both branches (`true_class`), i.e. -c_rew * dP(target) on wrong ->
  wrong: it rewards pushing wrong samples further wrong. On right -> right the two agree (the
  predicted class is the true one).
- Forgetting event (`forgetting`): the paper (section 3.2, "correctly classified after having failed
  on it in the previous epoch") and the code's state_manager.py both count wrong -> right
  (`wrong_to_right`, default); the last correctness starts True as in the code, so a sample right at
  its first visit is not counted. `right_to_wrong` counts Toneva et al.'s forgetting instead (the
  project's earlier behaviour).

Choices where the paper and the released code are ambiguous or buggy:
- One distribution object: the released code samples with variance 0.1 and scores PPO log-probs
  with variance 0.01, so the ratio is not pi_new / pi_old even before any update. Here the same
  Normal(actor(s), sigma) both draws z (a reparameterised draw with a seeded generator) and scores
  it, so the first PPO ratio is exactly 1. sigma defaults to sqrt(0.1), the code's sampling scale,
  applied to z as the paper writes (the code puts the noise on the weight itself, unclamped).
- Entropy bonus: with a fixed sigma the entropy of Normal(mu, sigma) does not depend on the actor,
  so the 0.01 coefficient has no gradient effect (as in the released code); it is logged.
- Advantage = reward - V_old(s) (V at acting time), normalised over the epoch's buffer; the critic
  regresses the raw reward (every transition is terminal, a one-step bandit). The released code
  uses the normalised reward as the advantage and as the critic target.
- Scoring before and after the update runs the detector in eval mode (no dropout, no LayerDrop)
  under no_grad, as the released code does; the student's weighted step is a separate train-mode
  forward, so it sees the same dropout as SFT. Cost: two extra forward passes per step after the
  warm-up, one during the warm-up and for `cl` (no reward needed there).
- The state manager is updated at every visit (once per epoch per sample), during the warm-up too,
  with the student's own training loss and correctness of that visit (after the state was built,
  so a state holds the history of earlier visits): the same statistic every cross-entropy method
  keeps (methods/base.py), so the hard-sample curves of SFT and TSRL (Fig. 1) measure one thing.
- Expert (released pretrain_tutor.py): weight high for samples whose current loss is above the
  mean loss of the collected states, low otherwise. The code's 1.5 / 0.75 cannot be reached by a
  sigmoid actor; the same 2:1 ratio is kept inside [0, 1]: 1.0 / 0.5. The current loss is
  -ln p_i, part of the state, so the expert is a function of the state and BC is well posed.
- BC runs at the end of the last warm-up epoch (the student has moved off its start and the state
  manager holds real statistics), hence warmup_epochs >= 1. BC runs 50 epochs at lr 1e-3 (Adam,
  minibatch 64) rather than the code's 10 at 1e-4: on 256 states (the embedded corpus has a few
  hundred clips) the code's setting takes the MSE from 0.080 to 0.070 only, this one to 0.010.
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from deepfake_rl.methods.base import (FORGETTING_EVENTS, HARD_LOSS, Batch, Method, SampleHistory, clipped_surrogate,
                                     hard_fraction)
from deepfake_rl.models.detector import scoring_mode

P_COLUMN = -5          # where p_i sits in a state vector: [f, p, e0, e1, ema, forget]
HISTORY_COLUMNS = 5    # state columns after the feature block
ERROR_REWARDS = ("predicted", "true_class")   # whose confidence Eq. 5's wrong -> wrong branch uses


@dataclass(frozen=True)
class TSRLSettings:
    learn_tutor: bool = True                 # False: the paper's "CL" (BC-initialised tutor, frozen)
    warmup_epochs: int = 2
    sigma: float = 0.1 ** 0.5                # std of z around actor(s)
    c_rew: float = 0.5
    ema_alpha: float = 0.1                   # weight of the new loss in the EMA (paper beta = 1 - alpha)
    forget_scale: float = 10.0
    feature_dim: int | None = None           # random projection of the pooled feature; None = keep all
    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    actor_lr: float = 1e-4
    critic_lr: float = 3e-4
    ppo_epochs: int = 8
    minibatch_size: int = 512
    clip: float = 0.2
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    bc_epochs: int = 50
    bc_batch_size: int = 64
    bc_lr: float = 1e-3
    expert_high: float = 1.0
    expert_low: float = 0.5
    hard_threshold: float = HARD_LOSS        # EMA loss above which a sample counts as hard (TSRL Fig. 1)
    seed: int | None = None                  # None: the training seed (torch.initial_seed() at setup)
    error_reward: str = "predicted"          # wrong -> wrong: dconf of the predicted class (paper) | true_class (code)
    forgetting: str = "wrong_to_right"       # the counted event: paper and code | right_to_wrong (Toneva et al.)

    def __post_init__(self) -> None:
        object.__setattr__(self, "actor_hidden", tuple(self.actor_hidden))
        object.__setattr__(self, "critic_hidden", tuple(self.critic_hidden))
        for name, value, allowed in (("error_reward", self.error_reward, ERROR_REWARDS),
                                     ("forgetting", self.forgetting, FORGETTING_EVENTS)):
            if value not in allowed:
                raise ValueError(f"tsrl {name} {value!r}: expected one of {allowed}")
        if self.warmup_epochs < 1:
            raise ValueError("tsrl warmup_epochs must be >= 1: BC clones the expert on a warm-up epoch's states")
        positive = {"sigma": self.sigma, "ppo_epochs": self.ppo_epochs, "minibatch_size": self.minibatch_size,
                    "bc_batch_size": self.bc_batch_size, "forget_scale": self.forget_scale, "clip": self.clip,
                    "feature_dim": 1 if self.feature_dim is None else self.feature_dim}
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"tsrl {name} must be positive")
        if not 0.0 < self.ema_alpha <= 1.0:
            raise ValueError("tsrl ema_alpha must be in (0, 1]")
        if not 0.0 <= self.expert_low <= 1.0 or not 0.0 <= self.expert_high <= 1.0:
            raise ValueError("tsrl expert weights must be in [0, 1] (the actor's weights are sigmoids)")
        if any(size < 1 for size in self.actor_hidden + self.critic_hidden):
            raise ValueError("tsrl hidden sizes must be positive")


def build_states(features: torch.Tensor, p_target: torch.Tensor, correct: torch.Tensor, ema_loss: torch.Tensor,
                 forgetting: torch.Tensor, forget_scale: float) -> torch.Tensor:
    """s_i = [standardised feature, p_i, one-hot correct, tanh(EMA), tanh(count / scale)] ([B, D + 5])."""
    standardised = F.layer_norm(features.float(), features.shape[-1:])
    history = torch.stack([p_target.float(), (~correct).float(), correct.float(), torch.tanh(ema_loss.float()),
                           torch.tanh(forgetting.float() / forget_scale)], dim=1)
    return torch.cat([standardised, history], dim=1)


def expert_weights(states: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """The authors' heuristic expert: `high` where the current loss -ln p_i is above the mean over
    `states`, `low` elsewhere (hard samples up-weighted)."""
    losses = -torch.log(states[:, P_COLUMN].clamp_min(1e-12))
    return torch.where(losses > losses.mean(), torch.full_like(losses, high), torch.full_like(losses, low))


@dataclass
class Prediction:
    """A batch's correctness, P(true class) and P(predicted class) at one moment (before or after the step)."""

    correct: torch.Tensor
    confidence: torch.Tensor     # P(true class): the state's p_i
    top: torch.Tensor            # P(predicted class), the prediction's own confidence


def predict(logits: torch.Tensor, labels: torch.Tensor) -> Prediction:
    probabilities = torch.softmax(logits.float(), dim=1)
    top, predicted = probabilities.max(dim=1)
    return Prediction(predicted == labels, probabilities.gather(1, labels[:, None]).squeeze(1), top)


def state_change_rewards(correct_before: torch.Tensor, correct_after: torch.Tensor, conf_before: torch.Tensor,
                         conf_after: torch.Tensor, c_rew: float) -> torch.Tensor:
    """Eq. 5: +1 wrong->right, -1 right->wrong, c_rew * dconf right->right, -c_rew * dconf wrong->wrong,
    with dconf the change of the confidence given."""
    delta = c_rew * (conf_after - conf_before).float()
    stays = torch.where(correct_before, delta, -delta)
    flips = torch.where(correct_after, torch.ones_like(delta), -torch.ones_like(delta))
    return torch.where(correct_before == correct_after, stays, flips)


def step_rewards(before: Prediction, after: Prediction, c_rew: float, error_reward: str) -> torch.Tensor:
    """Eq. 5 for a batch scored before and after the weighted step, dconf taken on the predicted
    class (`predicted`, the paper) or on the true class in every branch (`true_class`, the code);
    the two differ on wrong -> wrong only (module docstring)."""
    if error_reward not in ERROR_REWARDS:
        raise ValueError(f"error_reward {error_reward!r}: expected one of {ERROR_REWARDS}")
    if error_reward == "predicted":
        return state_change_rewards(before.correct, after.correct, before.top, after.top, c_rew)
    return state_change_rewards(before.correct, after.correct, before.confidence, after.confidence, c_rew)


# --- the tutor --------------------------------------------------------------------------------------

def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with tanh between them (the authors' actor and critic shape)."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Tutor(nn.Module):
    """Actor (mean of z) and critic (state value); the policy is Normal(actor(s), sigma)."""

    def __init__(self, state_dim: int, actor_hidden: tuple[int, ...], critic_hidden: tuple[int, ...],
                 sigma: float) -> None:
        super().__init__()
        self.actor = mlp([state_dim, *actor_hidden, 1])
        self.critic = mlp([state_dim, *critic_hidden, 1])
        self.sigma = sigma

    def distribution(self, states: torch.Tensor) -> Normal:
        """The one policy distribution, used to draw z and to score it (then and in PPO)."""
        return Normal(self.actor(states).squeeze(-1), self.sigma)

    def value(self, states: torch.Tensor) -> torch.Tensor:
        return self.critic(states).squeeze(-1)

    def mean_weight(self, states: torch.Tensor) -> torch.Tensor:
        """sigmoid(actor(s)): the weight at the policy's mode, what BC fits to the expert."""
        return torch.sigmoid(self.actor(states).squeeze(-1))


def draw(distribution: Normal, generator: torch.Generator) -> torch.Tensor:
    """A sample of `distribution` from a seeded CPU generator (same draws on any device)."""
    noise = torch.randn(distribution.loc.shape, generator=generator).to(distribution.loc)
    return distribution.loc + distribution.scale * noise


@dataclass
class Transition:
    """What PPO needs of one batch, stored once its reward is known."""

    states: torch.Tensor
    z: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    reward: torch.Tensor


class RolloutBuffer:
    """An epoch's transitions, kept on the CPU (the released code ran out of GPU memory otherwise)."""

    def __init__(self) -> None:
        self.items: list[Transition] = []

    def append(self, item: Transition) -> None:
        self.items.append(Transition(*(t.detach().cpu() for t in vars(item).values())))

    def __len__(self) -> int:
        return sum(len(item.reward) for item in self.items)

    def stacked(self) -> Transition:
        return Transition(*(torch.cat([getattr(item, name) for item in self.items]) for name in vars(self.items[0])))

    def clear(self) -> None:
        self.items.clear()


def policy_ratio(distribution: Normal, z: torch.Tensor, old_log_prob: torch.Tensor) -> torch.Tensor:
    """pi_new(z | s) / pi_old(z | s), with pi_old's log-prob as stored when z was drawn."""
    return torch.exp(distribution.log_prob(z) - old_log_prob)


def ppo_loss(tutor: Tutor, batch: Transition, advantages: torch.Tensor, settings: TSRLSettings
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate + value_coef * MSE(V, reward) - entropy_coef * entropy, on one minibatch."""
    distribution = tutor.distribution(batch.states)
    ratio = policy_ratio(distribution, batch.z, batch.log_prob)
    policy_loss = -clipped_surrogate(ratio, advantages, settings.clip).mean()
    value_loss = F.mse_loss(tutor.value(batch.states), batch.reward)
    entropy = distribution.entropy().mean()
    loss = policy_loss + settings.value_coef * value_loss - settings.entropy_coef * entropy
    clipped = ((ratio - 1.0).abs() > settings.clip).float().mean()
    return loss, {"ppo_policy_loss": float(policy_loss.detach()), "ppo_value_loss": float(value_loss.detach()),
                  "ppo_entropy": float(entropy.detach()), "ppo_clip_fraction": float(clipped)}


def minibatches(size: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index sets of a seeded shuffle of range(size)."""
    yield from torch.randperm(size, generator=generator).split(batch_size)


def ppo_update(tutor: Tutor, optimiser: torch.optim.Optimizer, rollout: Transition, settings: TSRLSettings,
               generator: torch.Generator) -> dict[str, float]:
    """`ppo_epochs` passes of shuffled minibatches over one epoch's transitions; mean statistics."""
    device = next(tutor.parameters()).device
    rollout = Transition(*(t.to(device) for t in vars(rollout).values()))
    advantages = rollout.reward - rollout.value
    if len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    totals: dict[str, float] = {}
    count = 0
    for _ in range(settings.ppo_epochs):
        for index in minibatches(len(advantages), settings.minibatch_size, generator):
            part = Transition(*(t[index.to(device)] for t in vars(rollout).values()))
            loss, stats = ppo_loss(tutor, part, advantages[index.to(device)], settings)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            totals = {key: totals.get(key, 0.0) + value for key, value in stats.items()}
            count += 1
    return {key: value / count for key, value in totals.items()}


def behaviour_cloning(tutor: Tutor, states: torch.Tensor, targets: torch.Tensor, settings: TSRLSettings,
                      generator: torch.Generator) -> tuple[float, float]:
    """Fit sigmoid(actor(s)) to the expert's weights by MSE (paper Eq. 6); (MSE before, MSE after)."""
    optimiser = torch.optim.Adam(tutor.actor.parameters(), lr=settings.bc_lr)

    def mse() -> float:
        with torch.no_grad():
            return float(F.mse_loss(tutor.mean_weight(states), targets))

    before = mse()
    for _ in range(settings.bc_epochs):
        for index in minibatches(len(states), settings.bc_batch_size, generator):
            index = index.to(states.device)
            loss = F.mse_loss(tutor.mean_weight(states[index]), targets[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return before, mse()


# --- the method -------------------------------------------------------------------------------------

@dataclass
class Pending:
    """The acting half of a transition, waiting in loss() for after_step's reward."""

    states: torch.Tensor
    z: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    before: Prediction


class TSRL(Method):
    """The tutor-weighted student; see the module docstring for the phases and choices."""

    name = "tsrl"

    def __init__(self, **settings: object) -> None:
        self.settings = TSRLSettings(**settings)  # type: ignore[arg-type]
        self.history: SampleHistory | None = None
        self.tutor: Tutor | None = None
        self.optimiser: torch.optim.Optimizer | None = None
        self.projection: torch.Tensor | None = None
        self.generator = torch.Generator()
        self.seed = 0
        self.epoch = 0
        self.rollout = RolloutBuffer()
        self.bc_states: list[torch.Tensor] = []
        self.pending: Pending | None = None
        self.weight_sum, self.weight_count = 0.0, 0

    # -- hooks

    def setup(self, detector: nn.Module, train_size: int) -> None:
        """Fresh history for the training set; the tutor is built at the first batch (its state size
        depends on the pooled feature). Seeded from the training seed unless `seed` is set."""
        device = next(detector.parameters()).device
        self.seed = torch.initial_seed() if self.settings.seed is None else self.settings.seed
        self.generator = torch.Generator().manual_seed(self.seed)
        self.history = SampleHistory(train_size, self.settings.ema_alpha, device, self.settings.forgetting)
        self.tutor = self.optimiser = self.projection = self.pending = None
        self.epoch, self.weight_sum, self.weight_count = 0, 0.0, 0
        self.rollout.clear()
        self.bc_states = []

    @property
    def acting(self) -> bool:
        """Past the warm-up: the tutor sets the weights."""
        return self.epoch >= self.settings.warmup_epochs

    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        with scoring_mode(detector):
            before_output = detector.suffix(batch.inputs, batch.lengths)
        before = predict(before_output.logits, batch.labels)
        states = self._states(before_output.pooled, before, batch.indices)
        weights = self.weights(states, before)
        logits = detector.suffix(batch.inputs, batch.lengths).logits
        ce = F.cross_entropy(logits.float(), batch.labels, reduction="none")
        self.history.update(batch.indices, ce, logits.argmax(dim=1) == batch.labels)
        loss = (weights * ce).mean()
        self.weight_sum += float(weights.sum())
        self.weight_count += len(weights)
        accuracy = (logits.argmax(dim=1) == batch.labels).float().mean()
        return loss, {"loss": float(loss.detach()), "ce": float(ce.detach().mean()), "accuracy": float(accuracy),
                      "weight": float(weights.mean())}

    def after_step(self, detector: nn.Module, step: int, batch: Batch) -> dict[str, float]:
        """The reward of the step just taken: the same batch scored again, as before it."""
        if self.pending is None:
            return {}
        pending, self.pending = self.pending, None
        with scoring_mode(detector):
            after = predict(detector.suffix(batch.inputs, batch.lengths).logits, batch.labels)
        rewards = step_rewards(pending.before, after, self.settings.c_rew, self.settings.error_reward)
        self.rollout.append(Transition(pending.states, pending.z, pending.log_prob, pending.value, rewards))
        return {"reward": float(rewards.mean())}

    def after_epoch(self, detector: nn.Module, epoch: int) -> dict[str, float]:
        """BC at the end of the warm-up, PPO after each tutored epoch; the epoch's statistics."""
        stats = {"mean_weight": self.weight_sum / max(self.weight_count, 1),
                 "hard_fraction": hard_fraction(self.history.ema_loss, self.settings.hard_threshold)}
        if self.bc_states and epoch + 1 == self.settings.warmup_epochs:
            stats.update(self._clone_expert())
        if len(self.rollout):
            rollout = self.rollout.stacked()
            stats["tutor_reward"] = float(rollout.reward.mean())
            stats.update(ppo_update(self.tutor, self.optimiser, rollout, self.settings, self.generator))
        self.rollout.clear()
        self.bc_states = []
        self.weight_sum, self.weight_count = 0.0, 0
        self.epoch = epoch + 1
        return stats

    def state_dict(self) -> dict[str, Any]:
        """Everything that carries over between steps: history, tutor and its optimiser, the seeded
        generator, the projection, the epoch's rollout and BC states, the weight statistics."""
        return {"history": self.history.state_dict(), "epoch": self.epoch, "generator": self.generator.get_state(),
                "projection": self.projection, "weight_sum": self.weight_sum, "weight_count": self.weight_count,
                "tutor": None if self.tutor is None else self.tutor.state_dict(),
                "optimiser": None if self.optimiser is None else self.optimiser.state_dict(),
                "rollout": [vars(item) for item in self.rollout.items], "bc_states": list(self.bc_states)}

    def load_state_dict(self, state: dict[str, Any], detector: nn.Module) -> None:
        device = next(detector.parameters()).device
        self.history.load_state_dict(state["history"])
        self.epoch, self.weight_sum, self.weight_count = state["epoch"], state["weight_sum"], state["weight_count"]
        self.generator.set_state(state["generator"])
        self.projection = None if state["projection"] is None else state["projection"].to(device)
        if state["tutor"] is not None:
            self._build_tutor(state["tutor"]["actor.0.weight"].shape[1], device)
            self.tutor.load_state_dict(state["tutor"])
        if state["optimiser"] is not None:
            self.optimiser.load_state_dict(state["optimiser"])
        self.rollout.items = [Transition(**item) for item in state["rollout"]]
        self.bc_states = [states.to(device) for states in state["bc_states"]]

    # -- parts

    def _states(self, pooled: torch.Tensor, before: Prediction, indices: torch.Tensor) -> torch.Tensor:
        features = pooled.detach().float()
        if self.settings.feature_dim is not None:
            features = features @ self._projection(features.shape[1], features.device)
        if self.tutor is None:
            self._build_tutor(features.shape[1] + HISTORY_COLUMNS, features.device)
        return build_states(features, before.confidence, before.correct, self.history.ema_loss[indices],
                            self.history.forgetting[indices], self.settings.forget_scale)

    def _projection(self, width: int, device: torch.device) -> torch.Tensor:
        """A fixed Gaussian matrix [width, feature_dim] from the seeded generator (made once)."""
        if self.projection is None:
            matrix = torch.randn(width, self.settings.feature_dim, generator=self.generator)
            self.projection = (matrix / math.sqrt(self.settings.feature_dim)).to(device)
        return self.projection

    def _build_tutor(self, state_dim: int, device: torch.device) -> None:
        """Seeded initialisation that leaves the global RNG (the student's dropout) untouched."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.tutor = Tutor(state_dim, self.settings.actor_hidden, self.settings.critic_hidden,
                               self.settings.sigma).to(device)
        if self.settings.learn_tutor:
            self.optimiser = torch.optim.Adam([
                {"params": self.tutor.actor.parameters(), "lr": self.settings.actor_lr},
                {"params": self.tutor.critic.parameters(), "lr": self.settings.critic_lr}])

    def weights(self, states: torch.Tensor, before: Prediction) -> torch.Tensor:
        """1 during the warm-up (states kept for BC); then sigmoid of a draw from the policy, the
        transition's acting half kept for after_step when the tutor learns."""
        if not self.acting:
            self.bc_states.append(states)
            return torch.ones(len(states), device=states.device)
        with torch.no_grad():
            distribution = self.tutor.distribution(states)
            z = draw(distribution, self.generator)
            if self.settings.learn_tutor:
                self.pending = Pending(states, z, distribution.log_prob(z), self.tutor.value(states), before)
        return torch.sigmoid(z)

    def _clone_expert(self) -> dict[str, float]:
        states = torch.cat(self.bc_states)
        targets = expert_weights(states, self.settings.expert_high, self.settings.expert_low)
        before, after = behaviour_cloning(self.tutor, states, targets, self.settings, self.generator)
        return {"bc_mse_before": before, "bc_mse_after": after}

