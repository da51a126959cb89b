"""Seeded random generators derived from names, so results do not depend on processing order."""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator determined by the seed and the names (e.g. domain, clip id) alone."""
    return np.random.default_rng([seed, *(zlib.crc32(name.encode("utf-8")) for name in names)])
