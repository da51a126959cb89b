"""GRPO for a binary detector (paper section 2.3-2.4, appendix A.2, Eqs. 12-13).

For each utterance, G labels are sampled from the policy, rewarded 1 when they match the ground
truth, and turned into advantages (r - mean) / (std + rho). The policy-gradient term uses the
importance ratio p_theta(y~|x) / p_old(y~|x), clipped to [1 - eps, 1 + eps] as in PPO, and a k3
estimate of KL(p_theta || p_ref) to the frozen starting checkpoint is subtracted with weight beta.
The old policy is the starting checkpoint until the first refresh, then a copy of the policy taken
every `old_refresh_steps` updates.

A 2-class policy needs ONE forward pass per utterance for any G: sampling and the group statistics
are arithmetic on the two class probabilities.

Variants (all one class, chosen by hyper-parameters):
- `simplified` (GRPO_s): old = current with stop-gradient, no clipping, no old copy.
- `negative=False` ("w/o neg.", paper section 2.4 and appendix A.1, Eq. 11; the authors'
  `grpo3_degraded_ref`): advantage = reward, NO importance ratio, NO clipping, no old policy:
  loss = -mean(log p(y~) * r - beta * k3), y~ sampled from the current policy. Its gradient is
  that of p(y|x)-weighted SFT plus the KL term (Eq. 11), at every step.
  `noneg_form: clipped_ratio` keeps GRPO's clipped ratio against the old policy with A = r instead
  (the project's earlier behaviour): an ablation that changes the advantage only. Its gradient
  leaves Eq. 11 as soon as the policy has moved away from the old one (and vanishes where
  p / p_old > 1 + eps), so it is not the paper's "w/o neg." row.
- `exact` (ours): the expectation over sampled labels in closed form (G -> infinity), no sampling noise.
- `kl="exact"` (ours): the exact KL of the two 2-class distributions instead of the k3 estimate.

The frozen reference's log-probabilities are cached per training-set position for items whose input
is the same at every visit (`Batch.repeatable`): from the second visit on they cost no forward pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deepfake_rl.config import is_eq11
from deepfake_rl.methods.base import Batch, Method, clipped_surrogate

ADVANTAGE_NORMS = ("batch", "group")
SAMPLE_FROM = ("current", "old")
KL_KINDS = ("k3", "exact")
NONEG_FORMS = ("eq11", "clipped_ratio")


def rewards_for(samples: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1 where a sampled label matches the ground truth, else 0 ([B, G])."""
    return (samples == labels[:, None]).to(torch.float32)


def group_advantages(rewards: torch.Tensor, norm: str, rho: float, negative: bool = True) -> torch.Tensor:
    """(r - mean) / (std + rho) over the whole batch (the authors' code) or per group (paper Eq. 4).

    std is the unbiased sample standard deviation (torch's default, as in DeepSeek-style GRPO code).
    Without negative rewards the advantage is the reward itself."""
    if not negative:
        return rewards
    if norm == "batch":
        return (rewards - rewards.mean()) / (rewards.std() + rho)
    if norm == "group":
        return (rewards - rewards.mean(dim=1, keepdim=True)) / (rewards.std(dim=1, keepdim=True) + rho)
    raise ValueError(f"advantage_norm {norm!r}: expected one of {ADVANTAGE_NORMS}")


def k3(log_p: torch.Tensor, log_ref: torch.Tensor) -> torch.Tensor:
    """The k3 estimator of KL(p || ref) at a sample: exp(l_ref - l) - (l_ref - l) - 1 (>= 0, 0 iff equal)."""
    difference = log_ref - log_p
    return torch.exp(difference) - difference - 1.0


def exact_kl(log_p: torch.Tensor, log_ref: torch.Tensor) -> torch.Tensor:
    """KL(p || ref) of the 2-class distributions, per utterance ([B, 2] log-probs -> [B])."""
    return (log_p.exp() * (log_p - log_ref)).sum(dim=1)


@dataclass(frozen=True)
class GRPOSettings:
    group_size: int = 64
    beta: float = 0.04
    epsilon: float | None = 0.2    # None: no clipping
    rho: float = 1e-5
    advantage_norm: str = "batch"
    old_refresh_steps: int = 1000
    negative: bool = True
    simplified: bool = False
    exact: bool = False
    kl: str = "k3"
    sample_from: str = "current"
    reference_cache: bool = True   # reuse the frozen reference's outputs on repeatable items (exact)
    noneg_form: str = "eq11"       # negative=False: Eq. 11 (no ratio) | clipped_ratio (A = r inside Eq. 12)

    def __post_init__(self) -> None:
        for name, value, allowed in (("advantage_norm", self.advantage_norm, ADVANTAGE_NORMS),
                                     ("kl", self.kl, KL_KINDS), ("sample_from", self.sample_from, SAMPLE_FROM),
                                     ("noneg_form", self.noneg_form, NONEG_FORMS)):
            if value not in allowed:
                raise ValueError(f"grpo {name} {value!r}: expected one of {allowed}")
        if self.group_size < 1 or self.old_refresh_steps < 1:
            raise ValueError("grpo group_size and old_refresh_steps must be positive")
        if self.eq11 and self.sample_from != "current":
            raise ValueError("grpo negative: false (Eq. 11) samples from the current policy: it has no old "
                             "policy, so sample_from must be 'current' (or set noneg_form: clipped_ratio)")

    @property
    def eq11(self) -> bool:
        """The paper's "w/o neg." (Eq. 11): A = r with no ratio and no clipping."""
        return is_eq11(self.negative, self.noneg_form)

    @property
    def uses_old_policy(self) -> bool:
        """Whether the loss needs an old policy at all (GRPO_s and Eq. 11 have none)."""
        return not (self.simplified or self.eq11)


def _freeze(module: nn.Module) -> nn.Module:
    """No gradients, eval mode (no dropout): how the reference and the old policy are run."""
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _frozen_copy(detector: nn.Module) -> nn.Module:
    """A frozen copy of the detector being trained (it keeps changing; the copy must not)."""
    return _freeze(copy.deepcopy(detector))


class GRPO(Method):
    """The GRPO family; see the module docstring for the variants."""

    name = "grpo"

    def __init__(self, reference: nn.Module | None = None, **settings: object) -> None:
        """`reference`: the KL reference when it is not the starting checkpoint (e.g. the post-trained
        model for SFT -> GRPO), taken over and frozen in place (a second copy of a 2B-parameter model
        would only cost memory); None = a frozen copy of the detector at setup."""
        self.settings = GRPOSettings(**settings)  # type: ignore[arg-type]
        self.reference: nn.Module | None = None if reference is None else _freeze(reference)
        self.old: nn.Module | None = None
        self.old_is_reference = False
        self.cache: ReferenceCache | None = None

    def setup(self, detector: nn.Module, train_size: int) -> None:
        """The reference defaults to the starting checkpoint, frozen. The old policy starts as the
        starting checkpoint too: while that is also the reference (until the first refresh), the
        reference's forward pass serves both, so no separate old copy is kept or run. Variants
        without an old policy (GRPO_s, Eq. 11) keep none."""
        uses_old = self.settings.uses_old_policy
        self.old_is_reference = uses_old and self.reference is None
        if self.reference is None:
            self.reference = _frozen_copy(detector)
        device = next(detector.parameters()).device
        self.reference.to(device)
        self.old = _frozen_copy(detector) if uses_old and not self.old_is_reference else None
        self.cache = ReferenceCache(train_size, device) if self.settings.reference_cache else None

    def after_step(self, detector: nn.Module, step: int, batch: Batch) -> dict[str, float]:
        if self.settings.uses_old_policy and step % self.settings.old_refresh_steps == 0:
            if self.old is None:
                self.old = _frozen_copy(detector)
            else:
                self.old.load_state_dict(detector.state_dict())
            self.old_is_reference = False
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The old policy once refreshed and the reference cache (the reference itself is rebuilt from
        its checkpoint at setup). The cache is kept because refilling it would compute its rows in
        other batches, which moves float32 outputs by an ulp: a resumed run would not be bit-identical."""
        return {"old": None if self.old is None else self.old.state_dict(), "old_is_reference": self.old_is_reference,
                "cache": None if self.cache is None else {"values": self.cache.values, "filled": self.cache.filled}}

    def load_state_dict(self, state: dict[str, Any], detector: nn.Module) -> None:
        self.old_is_reference = state["old_is_reference"]
        if state["old"] is not None:
            if self.old is None:
                self.old = _frozen_copy(detector)
            self.old.load_state_dict(state["old"])
        if self.cache is not None and state["cache"] is not None:
            self.cache.values.copy_(state["cache"]["values"])
            self.cache.filled.copy_(state["cache"]["filled"])

    def _log_probs(self, module: nn.Module, batch: Batch) -> torch.Tensor:
        return F.log_softmax(module.suffix(batch.inputs, batch.lengths).logits.float(), dim=1)

    def _reference_log_probs(self, batch: Batch) -> torch.Tensor:
        """The reference's log-probs: cached rows read back, the forward pass only on the rest."""
        if self.cache is None:
            return self._log_probs(self.reference, batch)
        return self.cache.fetch(batch, lambda rows: self._log_probs(self.reference, rows))

    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """One forward pass with gradients; frozen passes only where needed: the reference when
        beta > 0 (or when it doubles as the old policy) on items not in its cache, the old policy
        once it has been refreshed (it changes every old_refresh_steps, so it is never cached).
        Without an old policy (GRPO_s, Eq. 11) `log_old` is the current one, detached (unused by Eq. 11)."""
        log_p = self._log_probs(detector, batch)
        with torch.no_grad():
            needs_reference = self.settings.beta > 0 or self.old_is_reference
            log_ref = self._reference_log_probs(batch) if needs_reference else None
            if self.old is not None:
                log_old = self._log_probs(self.old, batch)
            else:
                log_old = log_ref if self.old_is_reference else log_p.detach()
        return grpo_loss(log_p, log_old, log_ref if self.settings.beta > 0 else None, batch.labels, self.settings)


def select_rows(batch: Batch, rows: torch.Tensor) -> Batch:
    """The batch's items where `rows` ([B] bool) is set, padding width kept: a masked model's output
    per item then matches the full batch's bit for bit (trimming changes it by an ulp)."""
    return Batch(batch.inputs[rows], batch.lengths[rows], batch.labels[rows], batch.indices[rows],
                 None if batch.repeatable is None else batch.repeatable[rows])


class ReferenceCache:
    """[train_size, 2] log-probs of a frozen model (eval mode: a constant function of its input), kept
    for items whose input is identical at every visit; anything else is always computed live."""

    def __init__(self, size: int, device: torch.device | str = "cpu") -> None:
        self.values = torch.zeros(size, 2, device=device)
        self.filled = torch.zeros(size, dtype=torch.bool, device=device)

    def fetch(self, batch: Batch, compute: Callable[[Batch], torch.Tensor]) -> torch.Tensor:
        """Log-probs for the batch ([B, 2]): hits from the cache, `compute` on the misses (not called
        at all on a full hit; on the whole batch when nothing hits); repeatable misses are stored."""
        if batch.repeatable is None:
            return compute(batch)
        indices = batch.indices.to(self.filled.device)
        repeatable = batch.repeatable.to(self.filled.device, torch.bool)
        miss = ~(repeatable & self.filled[indices])
        if not miss.any():
            return self.values[indices]
        if miss.all():
            log_probs = compute(batch)
        else:
            log_probs = self.values[indices]
            log_probs[miss] = compute(select_rows(batch, miss.to(batch.inputs.device)))
        store = miss & repeatable
        self.values[indices[store]] = log_probs[store]
        self.filled[indices[store]] = True
        return log_probs


def grpo_loss(log_p: torch.Tensor, log_old: torch.Tensor, log_ref: torch.Tensor | None, labels: torch.Tensor,
              settings: GRPOSettings) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO loss from the three policies' log-probabilities ([B, 2] each); pure, for tests.

    `log_ref` None (allowed when beta = 0): no KL term; the log's `kl` is then NaN, not 0.
    `log_old` is not read by the Eq. 11 form (no ratio) nor, for the ratio, by GRPO_s."""
    if log_ref is None and settings.beta > 0:
        raise ValueError("grpo_loss: beta > 0 needs the reference log-probabilities")
    sampling = (log_p.detach() if settings.sample_from == "current" else log_old).exp()
    if settings.exact:
        objective, kl_term, mean_reward = _expected_objective(log_p, log_old, log_ref, labels, sampling, settings)
    else:
        samples = torch.bernoulli(sampling[:, 1:2].expand(-1, settings.group_size)).long()   # 1 = real
        rewards = rewards_for(samples, labels)
        advantages = group_advantages(rewards, settings.advantage_norm, settings.rho, settings.negative)
        if settings.eq11:
            objective = log_p.gather(1, samples) * advantages
        else:
            ratio = torch.exp(log_p.gather(1, samples) - log_old.gather(1, samples))
            epsilon = None if settings.simplified else settings.epsilon
            objective = clipped_surrogate(ratio, advantages, epsilon)
        if log_ref is None:
            kl_term = None
        elif settings.kl == "k3":
            kl_term = k3(log_p.gather(1, samples), log_ref.gather(1, samples))
        else:
            kl_term = exact_kl(log_p, log_ref)[:, None].expand_as(objective)
        mean_reward = rewards.mean()
    penalised = objective if kl_term is None else objective - settings.beta * kl_term
    loss = -penalised.mean()
    accuracy = (log_p.argmax(dim=1) == labels).float().mean()
    return loss, {"loss": float(loss.detach()), "accuracy": float(accuracy), "reward": float(mean_reward),
                  "kl": float("nan") if kl_term is None else float(kl_term.detach().mean())}


def _expected_objective(log_p: torch.Tensor, log_old: torch.Tensor, log_ref: torch.Tensor | None,
                        labels: torch.Tensor, sampling: torch.Tensor, settings: GRPOSettings
                        ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Per-utterance expectation over y~ ~ sampling of the surrogate and of the KL term, with the
    group statistics of an infinite group: mean reward q = P(y~ = y), std sqrt(q (1 - q))."""
    q = sampling.gather(1, labels[:, None]).squeeze(1)                     # P(sampled label is correct)
    if settings.eq11:                                  # E[r log p(y~)] = q log p(y): gradient p(y) grad log p(y)
        objective = q * log_p.gather(1, labels[:, None]).squeeze(1)
        return objective, _expected_kl(log_p, log_ref, sampling, settings), q.mean()
    if not settings.negative:
        advantage_match, advantage_miss = torch.ones_like(q), torch.zeros_like(q)
    else:
        mean = q.mean() if settings.advantage_norm == "batch" else q
        std = torch.sqrt(mean * (1 - mean))
        advantage_match, advantage_miss = (1 - mean) / (std + settings.rho), -mean / (std + settings.rho)
    epsilon = None if settings.simplified else settings.epsilon
    other = 1 - labels
    objective = q * clipped_surrogate(
        torch.exp(log_p.gather(1, labels[:, None]) - log_old.gather(1, labels[:, None])).squeeze(1),
        advantage_match.expand_as(q), epsilon)
    objective = objective + (1 - q) * clipped_surrogate(
        torch.exp(log_p.gather(1, other[:, None]) - log_old.gather(1, other[:, None])).squeeze(1),
        advantage_miss.expand_as(q), epsilon)
    return objective, _expected_kl(log_p, log_ref, sampling, settings), q.mean()


def _expected_kl(log_p: torch.Tensor, log_ref: torch.Tensor | None, sampling: torch.Tensor,
                 settings: GRPOSettings) -> torch.Tensor | None:
    """Per-utterance KL term of the closed form: the exact KL, or k3's expectation under `sampling`."""
    if log_ref is None:
        return None
    if settings.kl == "exact":
        return exact_kl(log_p, log_ref)
    return (sampling * k3(log_p, log_ref)).sum(dim=1)
