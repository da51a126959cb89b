"""RawBoost algorithm 5: reproducibility, shape, the two components' defining properties, and
silent input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from deepfake_rl.data.rawboost import (
    RawBoostSettings,
    apply_fir,
    isd_additive_noise,
    lnl_convolutive_noise,
    rawboost,
)

RATE = 16000
SETTINGS = RawBoostSettings()


def tone(freq: float, amplitude: float = 0.3, samples: int = RATE) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(samples) / RATE)).astype(np.float32)


def speechlike(seed: int = 0, samples: int = RATE) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def test_same_seed_same_output_other_seed_other_output() -> None:
    x = speechlike()
    first = rawboost(x, SETTINGS, np.random.default_rng(7))
    again = rawboost(x, SETTINGS, np.random.default_rng(7))
    other = rawboost(x, SETTINGS, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first, x)


@pytest.mark.parametrize("samples", [1, 37, 3 * RATE + 5])
def test_output_is_float32_same_length_finite_and_not_clipping(samples: int) -> None:
    x = np.clip(speechlike(1, samples) * 5, -1, 1).astype(np.float64)  # loud, full scale
    y = rawboost(x, SETTINGS, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0 + 1e-6


def test_silent_input_stays_silent_and_finite() -> None:
    zeros = np.zeros(RATE, dtype=np.float32)
    for function in (rawboost, lnl_convolutive_noise):
        y = function(zeros, SETTINGS, np.random.default_rng(0))
        assert np.all(np.isfinite(y)) and not np.any(y)
    assert not np.any(isd_additive_noise(zeros, SETTINGS, np.random.default_rng(0)))
    near_silent = (1e-30 * np.ones(RATE)).astype(np.float32)
    assert np.all(np.isfinite(rawboost(near_silent, SETTINGS, np.random.default_rng(0))))


@pytest.mark.parametrize("seed", range(5))
def test_isd_touches_at_most_p_percent_of_samples_by_a_bounded_amount(seed: int) -> None:
    settings = RawBoostSettings(isd_max_percent=10.0, isd_gain=2.0)
    x = 0.1 + 0.05 * np.random.default_rng(seed).random(RATE)  # nonzero everywhere, peak < 1/3
    y = isd_additive_noise(x, settings, np.random.default_rng(seed))
    changed = y != x
    assert changed.sum() <= 0.10 * RATE
    # Untouched samples are bit-identical; touched ones move by at most g_sd * |x|.
    assert np.all(np.abs(y - x)[changed] <= settings.isd_gain * np.abs(x)[changed] + 1e-12)


def test_isd_with_full_share_changes_many_samples() -> None:
    x = 0.1 + 0.05 * np.random.default_rng(0).random(RATE)
    y = isd_additive_noise(x, RawBoostSettings(isd_max_percent=100.0), np.random.default_rng(3))
    assert (y != x).sum() > 0.05 * RATE


ONE_NOTCH = RawBoostSettings(n_bands=1, nonlinearity_order=1, min_freq=2000, max_freq=2000,
                             min_bandwidth=400, max_bandwidth=400, min_coeffs=101, max_coeffs=101)


def band_level(y: np.ndarray, freq: float) -> float:
    """Amplitude of the `freq` component (steady part only, away from the filter edges)."""
    middle = y[2000:-2000]
    phase = 2 * np.pi * freq * np.arange(2000, len(y) - 2000) / RATE
    return float(np.hypot(middle @ np.sin(phase), middle @ np.cos(phase)) * 2 / len(middle))


def test_single_band_lnl_is_the_notch_filter() -> None:
    x = tone(2000) + tone(6000)
    y = lnl_convolutive_noise(x, ONE_NOTCH, np.random.default_rng(0))
    taps = signal.firwin(101, [1800, 2200], window="hamming", fs=RATE)
    taps /= np.max(np.abs(signal.freqz(taps, worN=1024, fs=RATE)[1]))
    expected = apply_fir(x.astype(np.float64), taps)
    np.testing.assert_allclose(y, expected - expected.mean(), atol=1e-9)
    assert band_level(y, 2000) < 0.1 * 0.3  # in the notch: attenuated by > 20 dB (101 taps)
    assert band_level(y, 6000) == pytest.approx(0.3, rel=0.02)  # far away: passes unchanged


def test_apply_fir_keeps_alignment() -> None:
    impulse = np.zeros(64)
    impulse[20] = 1.0
    taps = np.array([0.25, 0.5, 0.25])
    np.testing.assert_allclose(apply_fir(impulse, taps)[19:22], taps)


def test_settings_reject_max_freq_above_nyquist() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        rawboost(speechlike(), SETTINGS, np.random.default_rng(0), sample_rate=8000)
