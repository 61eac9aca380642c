"""Prosody of a recording, sampled at the clip frame rate.

``analyze(audio, fps=...)`` gives per-frame RMS, robust 0..1 loudness, F0 and voicing, and voice
activity, all with ``T = rigs.core.timebase.num_frames(duration_s, fps)`` frames; frame ``i`` is centred on
``i / fps`` seconds (the clip convention), so features line up with clip frames without resampling.
``analyze_chunks`` does the same over a stream of chunks in bounded memory. Framing helpers
(``frame_centers``, ``frame_signal``) are shared with :mod:`engine.audio.spectral`; voice activity comes
from :mod:`engine.audio.vad`.

References
- Pitch: YIN, A. de Cheveigne and H. Kawahara, "YIN, a fundamental frequency estimator for speech and
  music", JASA 111(4), 2002 (difference function, cumulative-mean normalisation, absolute threshold,
  parabolic interpolation). The aperiodicity at the chosen lag drives the voicing decision.
- Voice activity: Silero VAD, or an energy detector when Silero is off or unusable (:mod:`engine.audio.vad`).
- Loudness: frame RMS in dB normalised between robust percentiles (cf. EBU R128 gating ideas).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from engine.audio.load import SILENCE_DBFS, Audio, amplitude_dbfs
from engine.audio.vad import SILERO_HANGOVER_S, SILERO_MIN_SPEECH_S, SILERO_THRESHOLD, remove_short_runs, \
    voice_activity
from rigs.core.errors import AudioError, ConfigError
from rigs.core.timebase import num_frames

FMIN_HZ = 65.0                 # pitch search range
FMAX_HZ = 500.0
YIN_THRESHOLD = 0.15           # absolute threshold for the first dip of the CMND
PITCH_WINDOW_S = 0.040         # YIN integration window (at least two periods of FMIN_HZ)
RMS_WINDOW_S = 0.032           # RMS window centred on each frame
LOUDNESS_LOW_PCT = 5.0         # loudness 0 at this percentile of the frame levels...
LOUDNESS_HIGH_PCT = 98.0       # ...and 1 at this percentile of the non-silent ones
LOUDNESS_RANGE_DB = 50.0       # loudness 0 at most this far below the high percentile
LOUDNESS_MIN_RANGE_DB = 6.0    # and at least this far, so a flat signal does not explode
MIN_VOICED_FRAMES = 2          # voiced runs shorter than this many clip frames are dropped
_MIN_RMS_WINDOW_SAMPLES = 8
# frames per block of the framed analyses: bounds their working memory (YIN: ~50 MB per block) so a
# one-hour recording is analysed in the same memory as a one-minute one
_BLOCK_FRAMES = 1024


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of :func:`analyze`."""

    fmin_hz: float = FMIN_HZ
    fmax_hz: float = FMAX_HZ
    yin_threshold: float = YIN_THRESHOLD
    voicing_max_aperiodicity: float = 0.3   # YIN aperiodicity at the chosen lag below which a frame is voiced
    min_voiced_frames: int = MIN_VOICED_FRAMES
    rms_window_s: float = RMS_WINDOW_S
    pitch_window_s: float = PITCH_WINDOW_S
    loudness_low_pct: float = LOUDNESS_LOW_PCT
    loudness_high_pct: float = LOUDNESS_HIGH_PCT
    loudness_range_db: float = LOUDNESS_RANGE_DB
    loudness_min_range_db: float = LOUDNESS_MIN_RANGE_DB
    silence_dbfs: float = SILENCE_DBFS
    use_silero: bool = True                 # else (or when Silero cannot run) the energy detector
    vad_threshold: float = SILERO_THRESHOLD
    vad_hangover_s: float = SILERO_HANGOVER_S
    vad_min_speech_s: float = SILERO_MIN_SPEECH_S


@dataclass(frozen=True)
class Prosody:
    """Per-frame prosody at ``fps``; every array has T = num_frames(duration_s, fps) rows."""

    fps: float
    duration_s: float
    rms: np.ndarray        # (T,) float32 linear RMS of a 32 ms window centred on the frame
    loudness: np.ndarray   # (T,) float32 in [0, 1], robust percentile normalisation in dB
    f0_hz: np.ndarray      # (T,) float32, 0 where unvoiced
    voiced: np.ndarray     # (T,) bool
    speech: np.ndarray     # (T,) bool, voice activity
    silent: bool = False   # the whole recording is below the silence threshold
    vad_method: str = "silero"

    @property
    def num_frames(self) -> int:
        return int(self.rms.shape[0])


# ----------------------------------------------------------------------------------------------
# framing


def frame_centers(*, n_frames: int, sr: int, fps: float) -> np.ndarray:
    """(T,) int sample index of the centre of clip frame i: round(i * sr / fps)."""
    return np.round(np.arange(n_frames) * (sr / float(fps))).astype(np.int64)


def frame_signal(y: np.ndarray, *, centers: np.ndarray, frame_length: int) -> np.ndarray:
    """(T, frame_length) float32 windows of (N,) ``y`` centred on ``centers`` (zero padded at the edges)."""
    y = np.asarray(y, dtype=np.float32)
    idx = (np.asarray(centers, np.int64)[:, None] - frame_length // 2) + np.arange(frame_length)[None, :]
    if y.size == 0:
        return np.zeros(idx.shape, np.float32)
    out = y[np.clip(idx, 0, y.size - 1)]      # gathers only the windows: no padded copy of the signal
    out[(idx < 0) | (idx >= y.size)] = 0.0
    return out


# ----------------------------------------------------------------------------------------------
# analysis


def frame_rms(y: np.ndarray, *, sr: int, fps: float, n_frames: int, window_s: float = RMS_WINDOW_S) -> np.ndarray:
    """(T,) RMS of a ``window_s`` window centred on each clip frame."""
    return _rms_at(y, centres=frame_centers(n_frames=n_frames, sr=sr, fps=fps), sr=sr, window_s=window_s)


def robust_loudness(rms: np.ndarray, *, low_pct: float = LOUDNESS_LOW_PCT, high_pct: float = LOUDNESS_HIGH_PCT,
                    range_db: float = LOUDNESS_RANGE_DB, min_range_db: float = LOUDNESS_MIN_RANGE_DB,
                    silence_dbfs: float = SILENCE_DBFS) -> np.ndarray:
    """(T,) loudness in [0, 1] from (T,) RMS: dB mapped between robust percentiles.

    1 at the ``high_pct`` percentile of the non-silent levels, 0 at max(``low_pct`` percentile,
    high - ``range_db``) but at least ``min_range_db`` below high. Frames below ``silence_dbfs`` are 0;
    an all-silent input gives all zeros.
    """
    db = amplitude_dbfs(rms)
    active = db[db > silence_dbfs]
    if active.size == 0:
        return np.zeros(db.shape, np.float32)
    hi = float(np.percentile(active, high_pct))
    lo = max(float(np.percentile(db, low_pct)), hi - range_db)
    lo = min(lo, hi - min_range_db)
    out = np.clip((db - lo) / (hi - lo), 0.0, 1.0)
    out[db <= silence_dbfs] = 0.0
    return out.astype(np.float32)


def yin_pitch(y: np.ndarray, *, sr: int, fps: float, n_frames: int, fmin_hz: float = FMIN_HZ,
              fmax_hz: float = FMAX_HZ, threshold: float = YIN_THRESHOLD, window_s: float = PITCH_WINDOW_S):
    """YIN F0 per clip frame. Returns (f0_hz (T,) float32, aperiodicity (T,) float32 in [0, 1+]).

    The integration window is ``window_s`` (at least two periods of ``fmin_hz``); lags cover
    [sr/fmax, sr/fmin]. Vectorised over frames with FFT autocorrelation.
    """
    return _yin_centres(y, frame_centers(n_frames=n_frames, sr=sr, fps=fps), sr, fmin_hz, fmax_hz, threshold,
                        window_s)


def _yin_centres(y, centres, sr, fmin_hz, fmax_hz, threshold, window_s):
    f0 = np.empty(centres.size, np.float32)
    ap = np.empty(centres.size, np.float32)
    for a in range(0, centres.size, _BLOCK_FRAMES):
        b = min(a + _BLOCK_FRAMES, centres.size)
        f0[a:b], ap[a:b] = _yin_block(y, centres[a:b], sr, fmin_hz, fmax_hz, threshold, window_s)
    return f0, ap


def _yin_block(y, centres, sr, fmin_hz, fmax_hz, threshold, window_s):
    tau_min = max(2, int(np.floor(sr / fmax_hz)))
    tau_max = int(np.ceil(sr / fmin_hz))
    W = max(int(round(window_s * sr)), tau_max)
    L = W + tau_max + 1
    fr = frame_signal(y, centers=centres, frame_length=L)
    fr = fr.astype(np.float64)
    fr -= fr.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(L + W)))
    A = np.fft.rfft(fr[:, :W], nfft)
    B = np.fft.rfft(fr, nfft)
    acf = np.fft.irfft(np.conj(A) * B, nfft)[:, : tau_max + 1]          # r(tau) = sum_j x[j] x[j+tau]
    sq = np.concatenate([np.zeros((fr.shape[0], 1)), np.cumsum(fr ** 2, axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    e0 = sq[:, W][:, None]
    et = sq[:, taus + W] - sq[:, taus]
    d = np.maximum(e0 + et - 2.0 * acf, 0.0)                             # difference function
    cm = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cm, 1e-12)
    seg = cmnd[:, tau_min: tau_max + 1]
    below = seg < threshold
    # first dip under the threshold, then walk to its local minimum
    has = below.any(axis=1)
    first = np.where(has, below.argmax(axis=1), seg.argmin(axis=1))
    best = first.copy()
    for _ in range(tau_max - tau_min):                                   # bounded descent
        nxt = np.minimum(best + 1, seg.shape[1] - 1)
        step = has & (seg[np.arange(seg.shape[0]), nxt] < seg[np.arange(seg.shape[0]), best])
        if not step.any():
            break
        best = np.where(step, nxt, best)
    rows = np.arange(seg.shape[0])
    ap = seg[rows, best]
    # parabolic interpolation around the chosen lag
    l_ = seg[rows, np.maximum(best - 1, 0)]
    r_ = seg[rows, np.minimum(best + 1, seg.shape[1] - 1)]
    den = l_ - 2 * ap + r_
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (l_ - r_) / np.where(den == 0, 1, den), 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    tau = best + tau_min + shift
    f0 = sr / np.maximum(tau, 1e-6)
    return f0.astype(np.float32), ap.astype(np.float32)


def analyze(audio: Audio, *, fps: float, config: FeatureConfig = FeatureConfig()) -> Prosody:
    """Per-frame prosody of ``audio`` at ``fps``: rms, loudness, f0_hz, voiced, speech (all (T,)).

    T = ``rigs.core.timebase.num_frames(audio.duration_s, fps)``; frame i is centred on i / fps seconds.
    """
    return _analyze_samples(audio.samples, sr=audio.sr, fps=fps, duration_s=audio.duration_s,
                            config=config, silent=audio.is_silent(threshold_dbfs=config.silence_dbfs))


def _analyze_samples(y: np.ndarray, *, sr: int, fps: float, duration_s: float, config: FeatureConfig,
                     silent: bool, n_frames: int | None = None, normalise: bool = True) -> Prosody:
    _check_fps(fps)
    T = num_frames(duration_s, fps) if n_frames is None else n_frames
    if silent:
        config = replace(config, use_silero=False)
    pr = _analyze_at(np.asarray(y, np.float32), sr=sr, fps=fps, centres=frame_centers(n_frames=T, sr=sr, fps=fps),
                     config=config)
    speech = pr.speech & (not silent)
    loud = _loudness(pr.rms, config) if normalise else pr.loudness
    return replace(pr, fps=float(fps), duration_s=float(duration_s), loudness=loud, speech=speech,
                   silent=bool(silent), vad_method="silent" if silent else pr.vad_method)


def analyze_chunks(chunks: Iterable[np.ndarray], *, sr: int, fps: float, context_s: float = 0.6,
                   config: FeatureConfig = FeatureConfig()) -> Prosody:
    """:func:`analyze` over a stream of (n,) mono chunks at ``sr`` (e.g. ``engine.audio.load.iter_audio_chunks``).

    Memory stays at a few chunks regardless of the recording's length: each chunk is analysed with
    ``context_s`` of its neighbours on both sides so frames near chunk edges see the same windows as
    in a one-shot analysis (VAD state is the exception: Silero restarts per chunk). Loudness is
    normalised once over the whole (T,) RMS curve at the end.
    """
    _check_fps(fps)
    ctx = int(round(context_s * sr))
    step = sr / float(fps)
    parts: list[Prosody] = []
    buf = np.zeros(0, np.float32)   # samples from global index buf_start on
    buf_start = 0
    next_frame = 0                  # next global frame index to produce
    total = 0
    peak = 0.0
    methods = set()

    def emit(upto_sample: int, final: bool):
        nonlocal next_frame
        # frames whose window (centre +- ctx) lies inside the buffer
        last = int(np.floor((upto_sample - ctx) / step)) if not final else num_frames(total / sr, fps) - 1
        if last < next_frame:
            return
        first_c = int(round(next_frame * step))
        lo = max(0, first_c - ctx)
        hi = min(buf_start + buf.size, int(round(last * step)) + ctx + 1)
        seg = buf[lo - buf_start: hi - buf_start]
        n = last - next_frame + 1
        centres = np.round(np.arange(next_frame, last + 1) * step).astype(np.int64) - lo
        pr = _analyze_at(seg, sr=sr, fps=fps, centres=centres, config=config)
        parts.append(pr)
        methods.add(pr.vad_method)
        next_frame += n

    for c in chunks:
        c = np.asarray(c, np.float32)
        total += c.size
        if c.size:
            peak = max(peak, float(np.max(np.abs(c))))
        buf = np.concatenate([buf, c])
        emit(buf_start + buf.size, final=False)
        keep_from = max(0, int(round(next_frame * step)) - ctx)
        if keep_from > buf_start:
            buf = buf[keep_from - buf_start:]
            buf_start = keep_from
    if total == 0:
        raise AudioError("analyze_chunks: audio has zero length (no samples)")
    emit(buf_start + buf.size, final=True)
    silent = (20 * np.log10(peak) if peak > 0 else -np.inf) < config.silence_dbfs
    rms = np.concatenate([p.rms for p in parts])
    speech = np.concatenate([p.speech for p in parts])
    if silent:
        speech[:] = False
    loud = _loudness(rms, config)
    return Prosody(fps=float(fps), duration_s=total / float(sr), rms=rms, loudness=loud,
                   f0_hz=np.concatenate([p.f0_hz for p in parts]), voiced=np.concatenate([p.voiced for p in parts]),
                   speech=speech, silent=bool(silent), vad_method="silent" if silent else "+".join(sorted(methods)))


def _analyze_at(seg: np.ndarray, *, sr: int, fps: float, centres: np.ndarray, config: FeatureConfig) -> Prosody:
    """Prosody (loudness left at 0) of frames of ``seg`` centred at sample offsets ``centres`` (step sr/fps)."""
    n = centres.size
    rms = _rms_at(seg, centres=centres, sr=sr, window_s=config.rms_window_s)
    f0, ap = _yin_centres(seg, centres, sr, config.fmin_hz, config.fmax_hz, config.yin_threshold,
                          config.pitch_window_s)
    db = amplitude_dbfs(rms)
    voiced = (ap < config.voicing_max_aperiodicity) & (db > config.silence_dbfs) & \
        (f0 >= config.fmin_hz) & (f0 <= config.fmax_hz)
    voiced = remove_short_runs(voiced, min_frames=config.min_voiced_frames)
    start = max(0, int(centres[0])) if n else 0          # Silero reads from the centre of the first frame
    speech, method = voice_activity(seg[start:], rms, sr=sr, fps=fps, use_silero=config.use_silero,
                                    threshold=config.vad_threshold, hangover_s=config.vad_hangover_s,
                                    min_speech_s=config.vad_min_speech_s, silence_dbfs=config.silence_dbfs)
    return Prosody(fps=fps, duration_s=n / fps, rms=rms, loudness=np.zeros(n, np.float32),
                   f0_hz=np.where(voiced, f0, 0).astype(np.float32), voiced=voiced, speech=speech,
                   vad_method=method)


def _loudness(rms: np.ndarray, config: FeatureConfig) -> np.ndarray:
    return robust_loudness(rms, low_pct=config.loudness_low_pct, high_pct=config.loudness_high_pct,
                           range_db=config.loudness_range_db, min_range_db=config.loudness_min_range_db,
                           silence_dbfs=config.silence_dbfs)


def _check_fps(fps: float) -> None:
    if not (np.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be positive, got {fps!r}")


def _rms_at(y, *, centres, sr, window_s):
    n = max(_MIN_RMS_WINDOW_SAMPLES, int(round(window_s * sr)))
    out = np.empty(centres.size, np.float32)
    for a in range(0, centres.size, _BLOCK_FRAMES):
        fr = frame_signal(y, centers=centres[a:a + _BLOCK_FRAMES], frame_length=n).astype(np.float64)
        out[a:a + fr.shape[0]] = np.sqrt(np.einsum("ij,ij->i", fr, fr) / n)
    return out
