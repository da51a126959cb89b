"""GRPO against the paper: advantage values (footnote 2), PPO clipping, k3, the appendix A.1
identity (GRPO w/o neg. = p-weighted SFT + the KL term, Eq. 11, also after the old policy moved),
the old policy (the starting checkpoint until the first refresh), and the closed form vs Monte Carlo."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepfake_rl.methods.base import Batch
from deepfake_rl.methods.grpo import (GRPO, GRPOSettings, clipped_surrogate, exact_kl, group_advantages, grpo_loss,
                                      k3, rewards_for)
from deepfake_rl.models.detector import DetectorOutput


def test_rewards_are_one_for_matching_samples():
    samples = torch.tensor([[1, 0, 1], [0, 0, 1]])
    assert rewards_for(samples, torch.tensor([1, 0])).tolist() == [[1, 0, 1], [1, 1, 0]]


@pytest.mark.parametrize("matched", [1, 3, 7])
def test_group_advantages_are_the_footnote_values(matched):
    group = 8
    rewards = torch.zeros(1, group)
    rewards[0, :matched] = 1
    mean = matched / group
    sigma = rewards.std().item()  # unbiased, as implemented
    advantages = group_advantages(rewards, "group", rho=0.0)
    assert advantages[0, :matched] == pytest.approx(torch.full((matched,), (1 - mean) / sigma), rel=1e-6)
    assert advantages[0, matched:] == pytest.approx(torch.full((group - matched,), -mean / sigma), rel=1e-6)


def test_uniform_group_gets_zero_advantage_thanks_to_rho():
    advantages = group_advantages(torch.ones(2, 4), "group", rho=1e-5)
    assert torch.all(advantages == 0)


def test_batch_normalisation_uses_batch_statistics_not_group_ones():
    rewards = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    batch = group_advantages(rewards, "batch", rho=0.0)
    assert batch == pytest.approx((rewards - 0.75) / rewards.std())
    assert torch.all(group_advantages(rewards, "group", rho=1e-5)[0] == 0)


def test_without_negative_reward_the_advantage_is_the_reward():
    rewards = torch.tensor([[1.0, 0.0, 1.0]])
    assert torch.equal(group_advantages(rewards, "batch", 1e-5, negative=False), rewards)


@pytest.mark.parametrize("ratio_value, advantage, gradient_expected", [
    (1.5, 1.0, False),   # above 1 + eps with positive advantage: clipped, no gradient
    (1.1, 1.0, True),    # inside the range: gradient
    (0.5, 1.0, True),    # below 1 - eps with positive advantage: min keeps the unclipped term
    (0.5, -1.0, False),  # below 1 - eps with negative advantage: clipped, no gradient
    (1.5, -1.0, True),   # above 1 + eps with negative advantage: unclipped (pessimistic) term
])
def test_clip_behaves_like_ppo(ratio_value, advantage, gradient_expected):
    ratio = torch.tensor(ratio_value, requires_grad=True)
    clipped_surrogate(ratio, torch.tensor(advantage), epsilon=0.2).backward()
    assert (ratio.grad.abs().item() > 0) == gradient_expected


def test_k3_is_zero_for_equal_policies_and_positive_otherwise():
    log_p = torch.log_softmax(torch.randn(5, 2), dim=1)
    assert torch.allclose(k3(log_p, log_p), torch.zeros(5, 2))
    other = torch.log_softmax(torch.randn(5, 2), dim=1)
    assert torch.all(k3(log_p, other) > 0)
    assert torch.all(exact_kl(log_p, other) > 0) and torch.allclose(exact_kl(log_p, log_p), torch.zeros(5))


def test_k3_is_an_unbiased_estimate_of_kl_under_p():
    log_p = torch.log_softmax(torch.randn(4, 2), dim=1)
    log_ref = torch.log_softmax(torch.randn(4, 2), dim=1)
    expectation = (log_p.exp() * k3(log_p, log_ref)).sum(dim=1)
    assert torch.allclose(expectation, exact_kl(log_p, log_ref), atol=1e-6)


def _policy(seed: int, n: int = 6):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 2, generator=generator, requires_grad=True)
    reference = torch.randn(n, 2, generator=generator)
    labels = torch.randint(0, 2, (n,), generator=generator)
    return logits, F.log_softmax(reference, dim=1), labels


def eq11_loss(logits: torch.Tensor, log_ref: torch.Tensor | None, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """Appendix A.1, Eq. 11 as a loss to differentiate: p(y|x)-weighted SFT (the weight detached)
    plus beta times the KL term (k3's expectation under the current policy, detached)."""
    log_p = F.log_softmax(logits, dim=1)
    log_p_true = log_p.gather(1, labels[:, None]).squeeze(1)
    loss = -(log_p_true.detach().exp() * log_p_true).mean()
    if beta > 0:
        loss = loss + beta * (log_p.detach().exp() * k3(log_p, log_ref)).sum(dim=1).mean()
    return loss


def eq11_gradient(logits: torch.Tensor, log_ref: torch.Tensor | None, labels: torch.Tensor,
                  beta: float) -> torch.Tensor:
    """Eq. 11's gradient w.r.t. `logits`, by autograd."""
    logits = logits.detach().requires_grad_(True)
    eq11_loss(logits, log_ref, labels, beta).backward()
    return logits.grad


@pytest.mark.parametrize("simplified", [False, True])
@pytest.mark.parametrize("beta", [0.0, 0.04, 1.0])
def test_appendix_a1_grpo_without_negative_is_p_weighted_sft_plus_kl(beta, simplified):
    """Eq. 11 whatever the old policy: w/o neg. has no importance ratio, so `log_old` (here far from
    the current policy) must not enter; GRPO_s gives the same form."""
    logits, log_ref, labels = _policy(0)
    log_old = F.log_softmax(torch.randn(6, 2, generator=torch.Generator().manual_seed(5)), dim=1)
    settings = GRPOSettings(negative=False, simplified=simplified, exact=True, beta=beta)
    grpo_loss(F.log_softmax(logits, dim=1), log_old, log_ref, labels, settings)[0].backward()
    assert torch.allclose(logits.grad, eq11_gradient(logits, log_ref, labels, beta), atol=1e-6)
    # and it is NOT the plain SFT gradient (the p(y|x) weight matters)
    plain = logits.detach().requires_grad_(True)
    F.cross_entropy(plain, labels).backward()
    if beta == 0.0:
        assert not torch.allclose(logits.grad, plain.grad, atol=1e-3)


def test_the_clipped_ratio_form_of_without_negative_leaves_eq11_once_the_policy_moved():
    """`noneg_form: clipped_ratio` (the earlier behaviour): A = r inside the clipped ratio. Equal to
    Eq. 11 only while the old policy is the current one."""
    logits, log_ref, labels = _policy(0)
    settings = GRPOSettings(negative=False, exact=True, beta=0.04, noneg_form="clipped_ratio")
    log_p = F.log_softmax(logits, dim=1)
    grpo_loss(log_p, log_p.detach(), log_ref, labels, settings)[0].backward()
    assert torch.allclose(logits.grad, eq11_gradient(logits, log_ref, labels, 0.04), atol=1e-6)
    logits.grad = None
    log_old = F.log_softmax(logits.detach() + torch.tensor([0.3, -0.3]), dim=1)   # the policy has moved
    grpo_loss(F.log_softmax(logits, dim=1), log_old, log_ref, labels, settings)[0].backward()
    assert not torch.allclose(logits.grad, eq11_gradient(logits, log_ref, labels, 0.04), atol=1e-3)


def test_eq11_monte_carlo_loss_is_the_authors_degraded_loss():
    """The sampled form: -mean(log p(y~) r - beta k3(y~)) over the B x G samples (grpo3_degraded_ref),
    with the same label draws as the implementation."""
    logits, log_ref, labels = _policy(4)
    settings = GRPOSettings(negative=False, beta=0.04, group_size=16)
    log_p = F.log_softmax(logits, dim=1)
    torch.manual_seed(11)
    loss, stats = grpo_loss(log_p, log_p.detach(), log_ref, labels, settings)
    torch.manual_seed(11)
    samples = torch.bernoulli(log_p.detach().exp()[:, 1:2].expand(-1, 16)).long()
    rewards = (samples == labels[:, None]).double()
    chosen, chosen_ref = log_p.gather(1, samples), log_ref.gather(1, samples)
    kl = torch.exp(chosen_ref - chosen) - (chosen_ref - chosen) - 1
    expected = -(chosen * rewards - 0.04 * kl).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["reward"] == pytest.approx(rewards.mean().item())


def test_appendix_a1_holds_for_the_monte_carlo_estimate_in_expectation():
    logits, log_ref, labels = _policy(1)
    torch.manual_seed(0)
    settings = GRPOSettings(negative=False, beta=0.0, group_size=200_000)
    log_p = F.log_softmax(logits, dim=1)
    grpo_loss(log_p, log_p.detach(), log_ref, labels, settings)[0].backward()
    assert torch.allclose(logits.grad, eq11_gradient(logits, None, labels, 0.0), atol=5e-3)


@pytest.mark.parametrize("norm", ["batch", "group"])
@pytest.mark.parametrize("simplified", [True, False])
def test_exact_equals_the_expectation_of_monte_carlo_for_large_groups(norm, simplified):
    logits, log_ref, labels = _policy(2)
    log_p = F.log_softmax(logits, dim=1)
    log_old = F.log_softmax(logits.detach() + 0.3 * torch.randn(6, 2, generator=torch.Generator().manual_seed(9)), dim=1)
    common = dict(advantage_norm=norm, simplified=simplified, sample_from="old", beta=0.04)
    exact = grpo_loss(log_p, log_old, log_ref, labels, GRPOSettings(exact=True, **common))[0]
    torch.manual_seed(3)
    monte_carlo = grpo_loss(log_p, log_old, log_ref, labels, GRPOSettings(group_size=400_000, **common))[0]
    assert monte_carlo.item() == pytest.approx(exact.item(), abs=5e-3)


def test_grpo_s_has_unit_ratio_and_the_policy_gradient():
    logits, log_ref, labels = _policy(3)
    log_p = F.log_softmax(logits, dim=1)
    loss, stats = grpo_loss(log_p, log_p.detach(), log_ref, labels, GRPOSettings(simplified=True, beta=0.0, group_size=8))
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert 0.0 <= stats["reward"] <= 1.0


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="advantage_norm 'token'"):
        GRPOSettings(advantage_norm="token")
    with pytest.raises(ValueError, match="noneg_form 'eq12'"):
        GRPOSettings(noneg_form="eq12")
    with pytest.raises(ValueError, match="sample_from must be 'current'"):
        GRPOSettings(negative=False, sample_from="old")
    assert GRPOSettings(negative=False, sample_from="old", noneg_form="clipped_ratio").sample_from == "old"


def test_grpo_trains_through_the_shared_loop_and_refreshes_the_old_policy(tmp_path):
    from deepfake_rl.data.dataset import WaveformDataset
    from deepfake_rl.methods.grpo import GRPO
    from deepfake_rl.models import Detector, ModelSpec
    from deepfake_rl.train.loop import TrainSettings, train
    from tests.test_models import TINY
    from tests.test_training import labelled_store

    store = WaveformDataset(labelled_store(tmp_path / "train.h5", 8, 0))
    detector = Detector(ModelSpec.from_config("tiny", TINY), freeze="layers:1", seed=0)
    method = GRPO(group_size=16, old_refresh_steps=2)
    result = train(detector, method, store, store, TrainSettings(lr=1e-3, epochs=2, batch_size=4, seed=1),
                   inputs_are_features=False, log_path=tmp_path / "log.csv", progress=False)
    assert result.steps == 4
    import pandas as pd

    log = pd.read_csv(tmp_path / "log.csv")
    assert {"reward", "kl"} <= set(log.columns) and 0.0 <= log["kl"].iloc[0] < 1e-2  # starts at the reference
    reference = method.reference.state_dict()
    trained = dict(method.old.state_dict())   # refreshed at step 4 = the last step
    changed = [k for k in reference if not torch.equal(reference[k], trained[k])]
    assert changed and all(not p.requires_grad for p in method.reference.parameters())


def test_an_explicit_reference_is_kept_frozen_and_other_families_refuse_one():
    from deepfake_rl.methods import build_method
    from deepfake_rl.models import Detector, ModelSpec
    from tests.test_models import TINY

    spec = ModelSpec.from_config("tiny", {"label": "Tiny", **TINY})
    start, anchor = Detector(spec, seed=0), Detector(spec, seed=1)
    method = build_method("grpo", {"group_size": 4}, reference=anchor)
    method.setup(start, train_size=4)
    assert all(torch.equal(a, b) for a, b in zip(method.reference.state_dict().values(), anchor.state_dict().values()))
    assert not any(p.requires_grad for p in method.reference.parameters())
    with pytest.raises(ValueError, match="'sft' has no KL reference"):
        build_method("sft", {}, reference=anchor)


def test_sharing_the_reference_pass_as_the_old_policy_changes_nothing():
    """Before the first refresh the old policy IS the starting checkpoint = the reference: one frozen
    pass serves both, and the loss equals the one computed with a separate old copy."""
    from deepfake_rl.methods.base import Batch
    from deepfake_rl.methods.grpo import GRPO, _frozen_copy
    from deepfake_rl.models import Detector, ModelSpec
    from tests.test_models import TINY

    spec = ModelSpec.from_config("tiny", {"label": "Tiny", **TINY})
    detector = Detector(spec, freeze="layers:1", seed=0).train()
    waves = 0.1 * torch.randn(4, 6000, generator=torch.Generator().manual_seed(0))
    inputs, lengths = detector.prefix(waves, torch.full((4,), 6000))
    batch = Batch(inputs, lengths, torch.tensor([0, 1, 0, 1]), torch.arange(4))
    shared, separate = GRPO(group_size=32), GRPO(group_size=32)
    shared.setup(detector, 4)
    separate.setup(detector, 4)
    separate.old, separate.old_is_reference = _frozen_copy(detector), False
    assert shared.old is None and shared.old_is_reference
    detector.eval()                      # no dropout, so the two forward passes of `detector` agree
    losses = []
    for method in (shared, separate):
        torch.manual_seed(3)
        losses.append(method.loss(detector, batch))
    assert torch.equal(losses[0][0], losses[1][0]) and losses[0][1] == losses[1][1]
    no_kl = GRPO(group_size=32, beta=0.0)
    no_kl.setup(detector, 4)
    torch.manual_seed(3)
    loss, stats = no_kl.loss(detector, batch)
    assert math.isnan(stats["kl"]) and torch.isfinite(loss)


# --- the reference cache ---------------------------------------------------------------------------
# Bit-for-bit checks run the tiny detector in float64: its log-probs are cast to float32, where the
# reduction-order noise of float64 (~1e-16) vanishes. In float32 an item's output differs by an ulp
# with the size of its batch (BLAS picks other kernels), so there the live pass itself is not
# batch-invariant and the cache can only be as exact as that.

def _tiny_detector(freeze: str = "layers:1", dtype: torch.dtype = torch.float32):
    from deepfake_rl.models import Detector, ModelSpec
    from tests.test_models import TINY

    return Detector(ModelSpec.from_config("tiny", {"label": "Tiny", **TINY}), freeze=freeze, seed=0).to(dtype).train()


def _waves(lengths: list[int], seed: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(n, generator=generator, dtype=dtype) for n in lengths]


def _batch(detector, waves: list[torch.Tensor], indices: list[int], repeatable: list[bool] | None):
    """A padded batch through the frozen prefix, as the training loop builds it."""
    from deepfake_rl.methods.base import Batch

    lengths = torch.tensor([len(w) for w in waves])
    padded = waves[0].new_zeros(len(waves), int(lengths.max()))
    for row, wave in enumerate(waves):
        padded[row, :len(wave)] = wave
    inputs, frames = detector.prefix(padded, lengths)
    return Batch(inputs, frames, torch.tensor(indices) % 2, torch.tensor(indices),
                 None if repeatable is None else torch.tensor(repeatable))


def _count_reference_rows(method) -> list[list[int]]:
    """Records the training-set positions of every reference forward pass the method runs."""
    calls: list[list[int]] = []
    original = method._log_probs

    def counted(module, batch):
        if module is method.reference:
            calls.append(batch.indices.tolist())
        return original(module, batch)

    method._log_probs = counted
    return calls


@pytest.mark.parametrize("freeze", ["none", "cnn", "layers:1"])
def test_an_items_output_does_not_depend_on_its_batch_beyond_float_rounding(freeze):
    """Why the cache may run misses on `inputs[miss]` with the batch's padding (no trimming needed):
    the model masks padding, so a slice, a batch of one, or trimmed padding agree to float32 rounding."""
    from deepfake_rl.methods.grpo import select_rows

    detector = _tiny_detector(freeze).eval()
    batch = _batch(detector, _waves([16000, 9137, 3000, 4001, 12000], 0), list(range(5)), [True] * 5)
    with torch.no_grad():
        full = detector.suffix(batch.inputs, batch.lengths).logits
        for rows in ([False, True, False, True, False], [True, False, True, True, True], [False] * 4 + [True]):
            part = select_rows(batch, torch.tensor(rows))
            assert part.indices.tolist() == [i for i in range(5) if rows[i]]
            trimmed = part.inputs[:, :int(part.lengths.max())]
            for inputs in (part.inputs, trimmed):
                sliced = detector.suffix(inputs, part.lengths).logits
                assert torch.allclose(sliced, full[torch.tensor(rows)], rtol=0, atol=1e-6)


def test_the_reference_forward_runs_only_on_cache_misses():
    from deepfake_rl.methods.grpo import GRPO

    detector = _tiny_detector(dtype=torch.float64)
    waves = _waves([6000, 7000, 5000, 8000, 6500, 9000], 1, torch.float64)
    method = GRPO(group_size=8)
    method.setup(detector, train_size=6)
    calls = _count_reference_rows(method)

    def visit(indices: list[int], repeatable: list[bool] | None) -> list[int] | None:
        """The positions the reference is run on during one loss call (None: no reference pass)."""
        before = len(calls)
        batch = _batch(detector, [waves[i] for i in indices], indices, repeatable)
        method.loss(detector, batch)
        ran = calls[before:]
        assert len(ran) <= 1                                            # at most one reference pass
        with torch.no_grad():
            live = method._log_probs(method.reference, batch)
        assert torch.equal(method._reference_log_probs(batch), live)   # cached = live, bit for bit
        return ran[0] if ran else None

    assert visit([0, 1, 2, 3], [True, True, False, True]) == [0, 1, 2, 3]   # cold: one whole-batch pass
    assert visit([0, 1, 2, 3], [True, True, False, True]) == [2]            # only the non-repeatable item
    assert visit([5, 1, 4, 3], [True, True, True, True]) == [5, 4]          # new items, mixed batch
    assert visit([3, 5, 0, 4], [True, True, True, True]) is None            # full hit: no reference pass
    assert visit([3, 5, 0, 4], None) == [3, 5, 0, 4]                        # unknown: always live
    assert visit([2, 5], [False, True]) == [2]                              # never cached when cropped
    assert method.cache.filled.tolist() == [True, True, False, True, True, True]


@pytest.mark.parametrize("settings, expected", [({"reference_cache": False}, [[0, 1, 2, 3]] * 3),
                                                ({"beta": 0.0, "simplified": True}, [])])
def test_without_the_cache_every_reference_pass_is_live(settings, expected):
    from deepfake_rl.methods.grpo import GRPO

    detector = _tiny_detector()
    method = GRPO(group_size=8, **settings)
    method.setup(detector, train_size=4)
    calls = _count_reference_rows(method)
    batch = _batch(detector, _waves([6000, 7000, 5000, 8000], 2), [0, 1, 2, 3], [True] * 4)
    for _ in range(3):
        method.loss(detector, batch)
    assert calls == expected and (method.cache is None) == (not settings.get("simplified"))


def _train_grpo(reference_cache: bool, dtype: torch.dtype, epochs: int = 3) -> tuple[list[torch.Tensor], int]:
    """A few epochs as the loop runs them: reshuffled batches (so batch composition and padding width
    change between visits), long items cropped at a random offset (not repeatable), short ones whole.
    Returns the trained parameters and how many items the reference was run on."""
    from deepfake_rl.methods.grpo import GRPO
    from deepfake_rl.train.loop import optimiser_step

    torch.manual_seed(0)
    detector = _tiny_detector(dtype=dtype)
    waves, crop = _waves([5000, 6200, 7400, 9000, 11000, 5600, 6800, 12500], 3, dtype), 8000
    method = GRPO(group_size=16, old_refresh_steps=5, reference_cache=reference_cache)
    method.setup(detector, train_size=len(waves))
    calls = _count_reference_rows(method)
    parameters = [p for p in detector.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=1e-3)
    order, offsets, step = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2), 0
    for _ in range(epochs):
        for indices in torch.randperm(len(waves), generator=order).split(4):
            items = []
            for i in indices.tolist():
                extra = len(waves[i]) - crop
                start = int(torch.randint(0, extra + 1, (1,), generator=offsets)) if extra > 0 else 0
                items.append(waves[i][start:start + crop])
            batch = _batch(detector, items, indices.tolist(), [len(waves[i]) <= crop for i in indices.tolist()])
            optimiser_step(method, detector, batch, optimiser, parameters, grad_clip=100.0)
            step += 1
            method.after_step(detector, step, batch)
    return [p.detach().clone() for p in parameters], sum(len(call) for call in calls)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_training_with_the_reference_cache_is_exact(dtype):
    """Same seed with and without the cache, 3 epochs across the old policy's refresh at step 5:
    bit-identical parameters in float64; in float32 equal to rounding (see above: the live values
    themselves move by an ulp with the batch; Adam turns a zero-mean gradient's noise into steps of
    up to lr, hence atol 1e-6 = lr / 1000, far below what one wrong cached value does)."""
    cached, cached_rows = _train_grpo(True, dtype)
    live, live_rows = _train_grpo(False, dtype)
    if dtype == torch.float64:
        assert all(torch.equal(a, b) for a, b in zip(cached, live))
    else:
        assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(cached, live))
    assert live_rows == 3 * 8 and cached_rows == 8 + 2 * 3     # 3 of the 8 items are cropped
    start = [p.detach() for p in _tiny_detector(dtype=dtype).parameters() if p.requires_grad]
    assert not any(torch.equal(a, b) for a, b in zip(cached, start) if a.ndim == 2)   # it did train


# --- the old policy and Eq. 11 through the method, across refreshes ---------------------------------

class LinearPolicy(nn.Module):
    """A linear detector suffix without dropout: frozen copies give exactly the policy's outputs."""

    def __init__(self, seed: int, dim: int = 5) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(dim, 2)

    def suffix(self, inputs: torch.Tensor, lengths: torch.Tensor) -> DetectorOutput:
        return DetectorOutput(logits=self.head(inputs), pooled=inputs)


def _toy_batch(seed: int, n: int = 8, dim: int = 5) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    inputs = torch.randn(n, dim, generator=generator) + labels[:, None]
    return Batch(inputs, torch.ones(n, dtype=torch.long), labels, torch.arange(n))


def _steps(method: GRPO, policy: nn.Module, first: int, last: int, lr: float = 0.5) -> None:
    """SGD updates number first..last on a toy batch, each followed by the loop's after_step hook."""
    optimiser = torch.optim.SGD(policy.parameters(), lr=lr)
    batch = _toy_batch(0)
    for step in range(first, last + 1):
        torch.manual_seed(step)
        loss, _ = method.loss(policy, batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        method.after_step(policy, step, batch)


def _log_probs(module: nn.Module, batch: Batch) -> torch.Tensor:
    return F.log_softmax(module.suffix(batch.inputs, batch.lengths).logits.float(), dim=1)


def _gradients(policy: nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(policy.parameters()), retain_graph=True))


def _same(first: list[torch.Tensor], second: list[torch.Tensor], atol: float = 1e-6) -> bool:
    return all(torch.allclose(a, b, rtol=0, atol=atol) for a, b in zip(first, second))


@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_without_negative_is_eq11_after_old_policy_refreshes_too(beta):
    """w/o neg. through the method, after the steps where an old policy would have been refreshed (2
    and 4) and moved from (5): the gradient is Eq. 11's; no old policy exists and no frozen pass but
    the reference's (for the KL, beta > 0 only) is run."""
    policy = LinearPolicy(0)
    method = GRPO(negative=False, exact=True, beta=beta, old_refresh_steps=2)
    method.setup(policy, 8)
    start = copy.deepcopy(policy)
    frozen: list[nn.Module] = []
    original = method._log_probs

    def recorded(module: nn.Module, batch: Batch) -> torch.Tensor:
        if module is not policy:
            frozen.append(module)
        return original(module, batch)

    method._log_probs = recorded
    _steps(method, policy, 1, 5)
    assert method.old is None and not method.old_is_reference
    batch = _toy_batch(1)
    got = _gradients(policy, method.loss(policy, batch)[0])
    with torch.no_grad():
        log_ref = _log_probs(start, batch)
    want = _gradients(policy, eq11_loss(policy.suffix(batch.inputs, batch.lengths).logits.float(), log_ref,
                                        batch.labels, beta))
    assert _same(got, want)
    assert all(module is method.reference for module in frozen) and len(frozen) == (6 if beta > 0 else 0)


@pytest.mark.parametrize("explicit_reference", [False, True])
def test_the_old_policy_is_the_starting_checkpoint_until_the_first_refresh(explicit_reference):
    """Eq. 12's old policy: the checkpoint training started from (not the current policy, not an
    explicit KL reference such as SFT -> GRPO's post-trained model) until step old_refresh_steps,
    then the policy as it was at the refresh."""
    policy = LinearPolicy(0)
    anchor = LinearPolicy(1) if explicit_reference else None
    method = GRPO(exact=True, beta=0.04, old_refresh_steps=3, reference=anchor)
    start = copy.deepcopy(policy)
    method.setup(policy, 8)

    def check(old_model: nn.Module) -> None:
        batch = _toy_batch(1)
        got = _gradients(policy, method.loss(policy, batch)[0])
        log_p = _log_probs(policy, batch)
        with torch.no_grad():
            log_old, log_ref = _log_probs(old_model, batch), _log_probs(method.reference, batch)
        want = _gradients(policy, grpo_loss(log_p, log_old, log_ref, batch.labels, method.settings)[0])
        current = _gradients(policy, grpo_loss(log_p, log_p.detach(), log_ref, batch.labels, method.settings)[0])
        assert _same(got, want)
        assert not _same(want, current, atol=1e-4)        # the check can tell the two apart

    _steps(method, policy, 1, 2)                      # no refresh yet
    check(start)
    _steps(method, policy, 3, 3)                      # refresh at step 3
    refreshed = copy.deepcopy(policy)
    _steps(method, policy, 4, 5)
    check(refreshed)
