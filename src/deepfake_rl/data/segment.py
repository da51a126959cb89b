"""Cutting clips into segments: the DFE24 protocol (fixed maximum, last shorter chunk kept) and the
DEEP-VOICE protocol (seeded random lengths). Pure functions over sample counts, so they are
testable without audio."""

from __future__ import annotations

import numpy as np

# The wav2vec2 front end's receptive field (400 samples): a shorter piece has no output frame of its
# own (the detector pads it), so by default it is not a trial. Decoded mp3/AAC runs 16-88 ms past its
# header, which would make 20 ms tails into test trials. The schema's `min_seconds` default.
DEFAULT_MIN_SECONDS = 0.025


def fixed_bounds(n_samples: int, max_samples: int | None, min_samples: int = 1) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) chunks of at most max_samples; the last shorter chunk is kept
    when it has at least min_samples. max_samples None keeps the whole clip."""
    if n_samples <= 0:
        return []
    if max_samples is None or n_samples <= max_samples:
        return [(0, n_samples)] if n_samples >= min_samples else []
    if max_samples <= 0:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    starts = range(0, n_samples, max_samples)
    bounds = [(start, min(start + max_samples, n_samples)) for start in starts]
    return [(start, end) for start, end in bounds if end - start >= min_samples]


def random_bounds(n_samples: int, min_samples: int, max_samples: int,
                  rng: np.random.Generator) -> list[tuple[int, int]]:
    """Consecutive chunks of uniform random length in [min_samples, max_samples]; a remainder
    shorter than min_samples is dropped (it cannot satisfy the protocol's minimum)."""
    if not 0 < min_samples <= max_samples:
        raise ValueError(f"need 0 < min_samples <= max_samples, got {min_samples}, {max_samples}")
    bounds: list[tuple[int, int]] = []
    start = 0
    while n_samples - start >= min_samples:
        length = int(rng.integers(min_samples, max_samples + 1))
        end = min(start + length, n_samples)
        bounds.append((start, end))
        start = end
    return bounds
