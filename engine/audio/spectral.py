"""Spectral features sampled at the clip frame rate: the inputs of learned face and body models.

Prepared API: nothing in the engine calls these yet (the tests do); learned animators and training will.
Every function returns T = ``rigs.core.timebase.num_frames(len(y) / sr, fps)`` rows unless ``n_frames`` is
given, row ``i`` centred on ``i / fps`` seconds like :mod:`engine.audio.prosody`.

References
- ``lpc_autocorrelation``: the articulation input of T. Karras, T. Aila, S. Laine, A. Herva and
  J. Lehtinen, "Audio-driven facial animation by joint end-to-end learning of pose and emotion",
  SIGGRAPH 2017: per video frame, 520 ms of audio cut into 64 overlapping 16 ms windows, each
  described by its first 32 autocorrelation coefficients (a simplified, faithful reimplementation:
  Hann window, normalised by lag 0; the paper's extra formant-analysis tricks are omitted).
- ``log_mel`` / ``mfcc``: the usual HTK-free Slaney mel filterbank (M. Slaney, "Auditory Toolbox", 1998: linear
  below 1 kHz, logarithmic above, each triangle normalised to unit area; the same filters as librosa's
  ``filters.mel`` defaults, computed here in numpy so the phonetic engine starts without importing librosa) and
  DCT-II.
"""
from __future__ import annotations

import math

import numpy as np

from engine.audio.prosody import frame_centers, frame_signal
from rigs.core.timebase import num_frames


def _hop_frames(y, *, sr, fps, n_frames, frame_length):
    T = num_frames(len(y) / float(sr), fps) if n_frames is None else n_frames
    return frame_signal(y, centers=frame_centers(n_frames=T, sr=sr, fps=fps), frame_length=frame_length)


def log_mel(y: np.ndarray, *, sr: int, fps: float, n_mels: int = 80, n_fft: int = 512,
            win_length: int | None = None, fmin: float = 40.0, fmax: float | None = None,
            n_frames: int | None = None, floor: float = 1e-10) -> np.ndarray:
    """(T, n_mels) float32 log (natural) mel power spectrogram; frame i centred on i / fps.

    T defaults to num_frames(len(y)/sr, fps). Hann window of ``win_length`` (default n_fft) samples.
    """
    win = n_fft if win_length is None else int(win_length)
    fr = _hop_frames(np.asarray(y, np.float32), sr=sr, fps=fps, n_frames=n_frames, frame_length=win)
    fr = fr * np.hanning(win + 2)[1:-1].astype(np.float32)
    spec = np.abs(np.fft.rfft(fr, n_fft, axis=1)) ** 2                         # (T, n_fft//2+1)
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)       # (n_mels, F)
    return np.log(np.maximum(spec @ fb.T, floor)).astype(np.float32)


def chunked_log_mel(y: np.ndarray, *, sr: int, fps: float, n_mels: int, n_fft: int, n_frames: int,
                    chunk_frames: int, fmin: float = 40.0) -> np.ndarray:
    """(n_frames, n_mels) float32 :func:`engine.audio.spectral.log_mel` of ``y``, computed ``chunk_frames`` rows
    at a time: the same rows (each is one windowed FFT), with the working memory of one chunk instead of a few
    float64 and int64 copies of every window of the recording (about 0.7 GB for 10 minutes at 120 rows/s).

    A chunk starts on a frame whose centre ``i * sr / fps`` is a whole sample and reads the audio from the
    centre of such a frame at least half a window earlier, so its frames are centred on the same samples and
    see the same audio as in one pass; when the rate has no such frames within a few, one pass."""
    from fractions import Fraction

    def whole():
        return log_mel(y, sr=sr, fps=fps, n_mels=n_mels, n_fft=n_fft, fmin=fmin, n_frames=n_frames)

    period = (Fraction(sr) / Fraction(fps).limit_denominator(1000)).denominator   # frames between whole centres
    if n_frames <= chunk_frames or period > 16:
        return whole()
    chunk = max(period, chunk_frames // period * period)
    half = n_fft // 2
    lead = math.ceil(half * fps / sr / period) * period            # frames whose centres span half a window
    centres = frame_centers(n_frames=n_frames, sr=sr, fps=fps)      # (n_frames,) int64
    out = np.empty((n_frames, n_mels), np.float32)
    for a in range(0, n_frames, chunk):
        b = min(n_frames, a + chunk)
        a0 = max(0, a - lead)
        s0, s1 = int(centres[a0]), min(len(y), int(centres[b - 1]) + half + 1)
        if not np.array_equal(frame_centers(n_frames=b - a0, sr=sr, fps=fps), centres[a0:b] - s0):
            return whole()                                          # float rounding moved a centre
        out[a:b] = log_mel(y[s0:s1], sr=sr, fps=fps, n_mels=n_mels, n_fft=n_fft, fmin=fmin, n_frames=b - a0)[a - a0:]
    return out


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic (27 mel per factor 6.4) above."""
    f = np.asarray(f, np.float64)
    lin = f / (200.0 / 3.0)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), lin)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), (200.0 / 3.0) * m)


def mel_filterbank(*, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, centres equally spaced in Slaney mels between
    ``fmin`` and ``fmax`` (default sr / 2), each normalised to unit area (2 / bandwidth in Hz)."""
    fmax = sr / 2.0 if fmax is None else float(fmax)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    rise = -ramps[:-2] / widths[:-1, None]
    fall = ramps[2:] / widths[1:, None]
    w = np.maximum(0.0, np.minimum(rise, fall))
    w *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return w.astype(np.float32)


def mfcc(y: np.ndarray, *, sr: int, fps: float, n_mfcc: int = 13, n_mels: int = 40, n_fft: int = 512,
         n_frames: int | None = None) -> np.ndarray:
    """(T, n_mfcc) float32 MFCCs (orthonormal DCT-II of :func:`log_mel`); frame i centred on i / fps."""
    import scipy.fft
    lm = log_mel(y, sr=sr, fps=fps, n_mels=n_mels, n_fft=n_fft, n_frames=n_frames)
    return scipy.fft.dct(lm, type=2, norm="ortho", axis=1)[:, :n_mfcc].astype(np.float32)


def lpc_autocorrelation(y: np.ndarray, *, sr: int, fps: float, n_windows: int = 64, window_s: float = 0.016,
                        span_s: float = 0.520, n_coeffs: int = 32, n_frames: int | None = None) -> np.ndarray:
    """(T, n_windows, n_coeffs) float32 autocorrelation features after Karras et al. 2017.

    For each clip frame, ``span_s`` (520 ms) of audio centred on it is cut into ``n_windows`` (64)
    overlapping ``window_s`` (16 ms) Hann windows (hop = (span - window) / (n_windows - 1) = 8 ms);
    each window gives its autocorrelation at lags 1..``n_coeffs`` (32) normalised by lag 0 (values in
    [-1, 1]; silent windows are 0). Simplification of the paper's input (which also applies formant-
    friendly preprocessing); keeps its shapes and time scales.
    """
    y = np.asarray(y, np.float32)
    T = num_frames(len(y) / float(sr), fps) if n_frames is None else n_frames
    wl = int(round(window_s * sr))
    hop = (span_s - window_s) / (n_windows - 1)
    offs = np.round((np.arange(n_windows) * hop - (span_s - window_s) / 2) * sr).astype(np.int64)
    centres = frame_centers(n_frames=T, sr=sr, fps=fps)
    allc = (centres[:, None] + offs[None, :]).reshape(-1)                       # (T*64,)
    fr = frame_signal(y, centers=allc, frame_length=wl).astype(np.float64) * np.hanning(wl + 2)[1:-1]
    nfft = 1 << int(np.ceil(np.log2(2 * wl)))
    F = np.fft.rfft(fr, nfft, axis=1)
    ac = np.fft.irfft(np.abs(F) ** 2, nfft, axis=1)[:, : n_coeffs + 1]
    r0 = ac[:, :1]
    out = np.where(r0 > 1e-12, ac[:, 1:] / np.maximum(r0, 1e-12), 0.0)
    return out.reshape(T, n_windows, n_coeffs).astype(np.float32)
