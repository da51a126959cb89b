"""Learning-rate schedules of fine-tuning: a constant rate, or speechbrain's WarmAndExpDecayLRSchedule
stepped the way the AntiDeepfake recipe steps it.

speechbrain's schedule keeps a call counter c (0, 1, 2, ...) and its c-th call sets the rate

    f(c) = lr * c / W                                   if c < W   (linear warm-up from 0)
    f(c) = min(lr, lr * d ** ((c - W) / (T - W)))       otherwise  (exponential decay to lr * d at T)

with W = n_warmup_steps, T = total_steps, d = decay_factor. The authors' main.py calls it in
on_fit_batch_end, i.e. after every optimiser update, and the optimiser is built with the same `lr`:
update 0 runs at `lr` (no call yet), update u >= 1 at f(u - 1) (:meth:`LRSchedule.lr_at`). Their
fine-tuning configs use lr 1e-6, W 80000, T 50000, d 0.01 with a 50k-update limit: the decay branch is
never reached, and the rate ramps linearly from 0 to f(49998) = 6.24975e-7 (mean about 3.1e-7). With
T < W, updates past W run at `lr` (d raised to a negative power exceeds 1; the min caps it); T = W
would divide by zero in speechbrain and is refused here.

The rate is a pure function of the update count, which the resume state already holds: a resumed run
follows the schedule from where it stopped without a schedule state of its own. No torch here: the
config validation (run while Snakemake builds the DAG) builds schedules to check them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("constant", "warm_exp_decay")
WARM_EXP_DECAY_KEYS = ("n_warmup_steps", "total_steps", "decay_factor")
DEFAULT_DECAY_FACTOR = 0.1      # speechbrain's default (the authors' configs set 0.01)


@dataclass(frozen=True)
class LRSchedule:
    """The rate of each optimiser update: `lr` throughout (constant), or speechbrain's warm-up and
    exponential decay with peak `lr` (warm_exp_decay)."""

    lr: float
    kind: str = "constant"
    n_warmup_steps: int = 0
    total_steps: int = 1
    decay_factor: float = DEFAULT_DECAY_FACTOR

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r}: expected one of {KINDS}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.kind == "warm_exp_decay":
            if self.n_warmup_steps < 0 or self.total_steps < 1 or not self.decay_factor > 0:
                raise ValueError(f"need n_warmup_steps >= 0, total_steps >= 1 and decay_factor > 0, got "
                                 f"{self.n_warmup_steps}, {self.total_steps}, {self.decay_factor}")
            if self.total_steps == self.n_warmup_steps:
                raise ValueError(f"total_steps must differ from n_warmup_steps ({self.total_steps}): the decay "
                                 "runs over total_steps - n_warmup_steps updates (speechbrain divides by it)")

    @classmethod
    def from_config(cls, lr: float, spec: Mapping[str, Any] | None) -> LRSchedule:
        """From a config's `lr_schedule` mapping (None: constant); parameters of another kind are refused."""
        if spec is None:
            return cls(lr)
        spec = dict(spec)
        kind = spec.pop("kind", None)
        allowed = WARM_EXP_DECAY_KEYS if kind == "warm_exp_decay" else ()
        extra = sorted(set(spec) - set(allowed))
        if extra:
            raise ValueError(f"{extra} are not parameters of the {kind!r} schedule")
        return cls(lr, kind, **spec)

    def call_value(self, call: int) -> float:
        """What speechbrain's `call`-th call (from 0) of the schedule sets: f(call) above."""
        if self.kind == "constant":
            return self.lr
        if call < self.n_warmup_steps:
            return self.lr * call / self.n_warmup_steps
        decay_steps = self.total_steps - self.n_warmup_steps
        decayed = self.lr * self.decay_factor ** ((call - self.n_warmup_steps) / decay_steps)
        return min(self.lr, decayed)

    def lr_at(self, step: int) -> float:
        """The rate of update `step` (from 0): the optimiser's initial `lr` before the first call, then
        the value of the call made after the previous update."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        return self.lr if step == 0 else self.call_value(step - 1)
