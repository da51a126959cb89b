"""RawBoost waveform augmentation, algorithm 5 (Tak et al., ICASSP 2022).

RawBoost distorts raw training audio the way unseen channels do, so a countermeasure cannot key
on a clean-channel fingerprint. Algorithm 5 -- the one SSL-AASIST and AntiDeepfake fine-tune
with -- applies in series

1. linear and non-linear convolutive noise (:func:`lnl_convolutive_noise`): the sum over
   ``k = 1..N_f`` of ``x**k`` passed through a random cascade of FIR notch (band-stop) filters,
   the higher orders a random 5-20 dB quieter; it mimics coloured, mildly non-linear channels;
2. impulsive signal-dependent additive noise (:func:`isd_additive_noise`): up to ``P`` % of the
   samples get a random multiple of themselves added; it mimics clipping and impulsive
   artefacts whose size follows the signal.

The defaults of :class:`RawBoostSettings` are those of the reference recipe's command line
(SSL_Anti-spoofing ``main_SSL_LA.py``), and the semantics follow its ``RawBoost.py``: filters of
odd length from ``scipy.signal.firwin`` with a Hamming window, each cascade scaled to a peak
gain of ``G`` dB, and both components rescaled by the peak only when the peak exceeds 1 (so
quiet input stays quiet; the result never clips). Two deliberate differences: every random
draw comes from the caller's ``numpy.random.Generator`` (reproducible, safe in DataLoader
workers), and the filter delay is compensated exactly (the reference's output is shifted by one
sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from deepfake_rl.data.audio_io import SAMPLE_RATE

__all__ = ["RawBoostSettings", "rawboost", "lnl_convolutive_noise", "isd_additive_noise",
           "notch_filter_coefficients", "apply_fir"]

# Band edges are kept this far (Hz) inside (0, Nyquist), where firwin accepts them.
_EDGE_MARGIN_HZ = 1e-3


@dataclass(frozen=True)
class RawBoostSettings:
    """RawBoost parameters; names and defaults of the reference command line in brackets.

    Frequencies are in Hz, gains in dB. ``snr_min_db``/``snr_max_db`` belong to the stationary
    noise component (SSI, algorithms 3/4/6/7) that algorithm 5 does not use; they are kept so
    the full reference parameter set fits in one place.
    """

    n_bands: int = 5  # nBands: notch filters per cascade
    min_freq: float = 20.0  # minF: centre frequency range
    max_freq: float = 8000.0  # maxF (<= Nyquist)
    min_bandwidth: float = 100.0  # minBW
    max_bandwidth: float = 1000.0  # maxBW
    min_coeffs: int = 10  # minCoeff: filter length range (made odd)
    max_coeffs: int = 100  # maxCoeff
    min_gain_db: float = 0.0  # minG: peak gain of the linear term
    max_gain_db: float = 0.0  # maxG
    min_bias_lin_nonlin_db: float = 5.0  # minBiasLinNonLin: non-linear terms this much quieter ...
    max_bias_lin_nonlin_db: float = 20.0  # maxBiasLinNonLin: ... up to this much
    nonlinearity_order: int = 5  # N_f: highest power of x (1 = linear only)
    isd_max_percent: float = 10.0  # P: at most this % of samples get impulsive noise
    isd_gain: float = 2.0  # g_sd: impulsive noise scale relative to the sample
    snr_min_db: float = 10.0  # SNRmin (SSI only)
    snr_max_db: float = 40.0  # SNRmax (SSI only)

    def __post_init__(self) -> None:
        if self.n_bands < 1 or self.nonlinearity_order < 1:
            raise ValueError("RawBoost needs n_bands >= 1 and nonlinearity_order >= 1")
        if not 1 <= self.min_coeffs <= self.max_coeffs:
            raise ValueError(f"RawBoost filter lengths need 1 <= min_coeffs <= max_coeffs, got "
                             f"{self.min_coeffs}, {self.max_coeffs}")
        if not 0 < self.min_bandwidth <= self.max_bandwidth or not 0 <= self.min_freq <= self.max_freq:
            raise ValueError("RawBoost needs 0 < min_bandwidth <= max_bandwidth and "
                             "0 <= min_freq <= max_freq")
        if not 0 <= self.isd_max_percent <= 100:
            raise ValueError(f"isd_max_percent must be a percentage, got {self.isd_max_percent}")


def _peak_normalise(x: np.ndarray) -> np.ndarray:
    """Scale down to a peak of 1 only when it is above 1 (the reference's normWav(x, 0)): keeps
    the level of ordinary audio, prevents clipping, and cannot divide by zero."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 1.0 else x


def notch_filter_coefficients(rng: np.random.Generator, settings: RawBoostSettings,
                              gain_db_range: tuple[float, float],
                              sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A cascade of ``settings.n_bands`` random FIR band-stop filters with a peak gain drawn
    from ``gain_db_range``: the random channel colouring of RawBoost."""
    nyquist = sample_rate / 2
    if settings.max_freq > nyquist:
        raise ValueError(f"RawBoost max_freq {settings.max_freq} Hz is above the Nyquist frequency "
                         f"of {sample_rate} Hz audio")
    taps = np.ones(1)
    for _ in range(settings.n_bands):
        centre = rng.uniform(settings.min_freq, settings.max_freq)
        half_width = rng.uniform(settings.min_bandwidth, settings.max_bandwidth) / 2
        # firwin builds a band-stop filter only with an odd number of taps.
        length = int(rng.integers(settings.min_coeffs, settings.max_coeffs, endpoint=True)) | 1
        low = min(max(centre - half_width, _EDGE_MARGIN_HZ), nyquist - 2 * _EDGE_MARGIN_HZ)
        high = min(centre + half_width, nyquist - _EDGE_MARGIN_HZ)
        band = signal.firwin(length, [low, high], window="hamming", fs=sample_rate)
        taps = np.convolve(taps, band)
    gain_db = rng.uniform(min(gain_db_range), max(gain_db_range))
    _, response = signal.freqz(taps, worN=1024, fs=sample_rate)
    return taps * (10 ** (gain_db / 20) / np.max(np.abs(response)))


def apply_fir(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Filter with the delay of a linear-phase FIR removed, so the output lines up with the
    input (same length; RawBoost must not shift audio relative to its label boundaries)."""
    delay = (len(taps) - 1) // 2
    return signal.oaconvolve(x, taps)[delay: delay + len(x)]


def lnl_convolutive_noise(x: np.ndarray, settings: RawBoostSettings, rng: np.random.Generator,
                          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RawBoost component 1: sum over k of notch-filtered ``x**k``, mean removed, peak <= 1.

    The linear term's gain is drawn from [min_gain_db, max_gain_db]; the non-linear terms from
    that range lowered by [min_bias, max_bias] dB (as the reference does)."""
    linear_gain = (settings.min_gain_db, settings.max_gain_db)
    nonlinear_gain = (settings.min_gain_db - settings.min_bias_lin_nonlin_db,
                      settings.max_gain_db - settings.max_bias_lin_nonlin_db)
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros_like(x)
    for order in range(1, settings.nonlinearity_order + 1):
        taps = notch_filter_coefficients(rng, settings, linear_gain if order == 1 else nonlinear_gain,
                                         sample_rate)
        y += apply_fir(x ** order, taps)
    return _peak_normalise(y - y.mean()) if y.size else y


def isd_additive_noise(x: np.ndarray, settings: RawBoostSettings,
                       rng: np.random.Generator) -> np.ndarray:
    """RawBoost component 2: a random share (<= isd_max_percent %) of the samples, at distinct
    random positions, become ``x + isd_gain * x * u1 * u2`` with u1, u2 ~ U(-1, 1); the others
    are untouched (then peak <= 1)."""
    x = np.asarray(x, dtype=np.float64)
    share = rng.uniform(0.0, settings.isd_max_percent) / 100
    positions = rng.choice(len(x), size=int(len(x) * share), replace=False)
    factor = (2 * rng.random(len(positions)) - 1) * (2 * rng.random(len(positions)) - 1)
    y = x.copy()
    y[positions] += settings.isd_gain * x[positions] * factor
    return _peak_normalise(y)


def rawboost(waveform: np.ndarray, settings: RawBoostSettings, rng: np.random.Generator,
             sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RawBoost algorithm 5 (LnL convolutive noise, then ISD additive noise) of a mono waveform:
    float32, same length. Silent (all-zero) or empty input comes back unchanged: there is
    nothing to distort, and it must not turn into NaN."""
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"rawboost expects a mono waveform [T], got shape {waveform.shape}")
    if not np.any(waveform):
        return waveform.astype(np.float32)
    boosted = lnl_convolutive_noise(waveform, settings, rng, sample_rate)
    return isd_additive_noise(boosted, settings, rng).astype(np.float32)
