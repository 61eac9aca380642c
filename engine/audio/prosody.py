"""Prosody and spectral features of a recording, sampled at the clip frame rate.

``analyze(audio, fps=...)`` gives per-frame RMS, robust 0..1 loudness, F0 and voicing, and voice
activity, all with ``T = rigs.core.clip.num_frames(duration_s, fps)`` frames; frame ``i`` is centred on
``i / fps`` seconds (the clip convention), so features line up with clip frames without resampling.

References
- Pitch: YIN, A. de Cheveigne and H. Kawahara, "YIN, a fundamental frequency estimator for speech and
  music", JASA 111(4), 2002 (difference function, cumulative-mean normalisation, absolute threshold,
  parabolic interpolation). The aperiodicity at the chosen lag drives the voicing decision.
- Voice activity: Silero VAD (Silero Team, 2021-2024, ``silero-vad`` package, MIT) on torch CPU;
  an energy detector (adaptive noise floor + hysteresis) replaces it when it cannot be imported.
- Loudness: frame RMS in dB normalised between robust percentiles (cf. EBU R128 gating ideas).
- ``lpc_autocorrelation``: the articulation input of T. Karras, T. Aila, S. Laine, A. Herva and
  J. Lehtinen, "Audio-driven facial animation by joint end-to-end learning of pose and emotion",
  SIGGRAPH 2017: per video frame, 520 ms of audio cut into 64 overlapping 16 ms windows, each
  described by its first 32 autocorrelation coefficients (a simplified, faithful reimplementation:
  Hann window, normalised by lag 0; the paper's extra formant-analysis tricks are omitted).
- ``log_mel`` / ``mfcc``: the usual HTK-free Slaney mel filterbank (librosa.filters.mel) and DCT-II.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from engine.audio.load import Audio, SILENCE_DBFS
from rigs.core.clip import num_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of :func:`analyze`."""

    fmin_hz: float = 65.0
    fmax_hz: float = 500.0
    yin_threshold: float = 0.15      # absolute threshold for the first dip of the CMND
    voicing_max_aperiodicity: float = 0.3
    rms_window_s: float = 0.032
    pitch_window_s: float = 0.040
    loudness_low_pct: float = 5.0
    loudness_high_pct: float = 98.0
    loudness_range_db: float = 50.0  # loudness 0 at most this far below the high percentile
    silence_dbfs: float = SILENCE_DBFS
    use_silero: bool = True
    vad_threshold: float = 0.5
    vad_hangover_s: float = 0.10     # speech regions are widened by this much each side


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


def frame_rms(y: np.ndarray, *, sr: int, fps: float, n_frames: int, window_s: float = 0.032) -> np.ndarray:
    """(T,) RMS of a ``window_s`` window centred on each clip frame."""
    return _rms_at(y, centres=frame_centers(n_frames=n_frames, sr=sr, fps=fps), sr=sr, window_s=window_s)


def robust_loudness(rms: np.ndarray, *, low_pct: float = 5.0, high_pct: float = 98.0,
                    range_db: float = 50.0, silence_dbfs: float = SILENCE_DBFS) -> np.ndarray:
    """(T,) loudness in [0, 1] from (T,) RMS: dB mapped between robust percentiles.

    1 at the ``high_pct`` percentile level, 0 at max(``low_pct`` percentile, high - ``range_db``).
    Frames below ``silence_dbfs`` are 0; an all-silent input gives all zeros.
    """
    db = 20.0 * np.log10(np.maximum(np.asarray(rms, np.float64), 1e-10))
    active = db[db > silence_dbfs]
    if active.size == 0:
        return np.zeros(db.shape, np.float32)
    hi = float(np.percentile(active, high_pct))
    lo = max(float(np.percentile(db, low_pct)), hi - range_db)
    lo = min(lo, hi - 6.0)  # at least 6 dB of range so a flat signal does not explode
    out = np.clip((db - lo) / (hi - lo), 0.0, 1.0)
    out[db <= silence_dbfs] = 0.0
    return out.astype(np.float32)


def yin_pitch(y: np.ndarray, *, sr: int, fps: float, n_frames: int, fmin_hz: float = 65.0,
              fmax_hz: float = 500.0, threshold: float = 0.15, window_s: float = 0.040):
    """YIN F0 per clip frame. Returns (f0_hz (T,) float32, aperiodicity (T,) float32 in [0, 1+]).

    The integration window is ``window_s`` (at least two periods of ``fmin_hz``); lags cover
    [sr/fmax, sr/fmin]. Vectorised over frames with FFT autocorrelation.
    """
    return _yin_centres(y, frame_centers(n_frames=n_frames, sr=sr, fps=fps), sr, fmin_hz, fmax_hz, threshold,
                        window_s)


# frames per block of the framed analyses: bounds their working memory (YIN: ~50 MB per block) so a
# one-hour recording is analysed in the same memory as a one-minute one
_BLOCK_FRAMES = 1024


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


def energy_vad(rms: np.ndarray, *, fps: float, silence_dbfs: float = SILENCE_DBFS,
               margin_db: float = 12.0, hangover_s: float = 0.15, min_speech_s: float = 0.08) -> np.ndarray:
    """(T,) bool voice activity from (T,) RMS: adaptive noise floor + margin, hysteresis, hangover.

    The fallback when Silero VAD is unavailable; also used by the phone aligner's sanity checks.
    """
    db = 20.0 * np.log10(np.maximum(np.asarray(rms, np.float64), 1e-10))
    if not np.any(db > silence_dbfs):
        return np.zeros(db.shape, bool)
    floor = float(np.percentile(db, 10))
    peak = float(np.percentile(db, 99))
    on = max(floor + margin_db, peak - 35.0, silence_dbfs)
    off = on - 4.0
    act = np.zeros(db.shape, bool)
    state = False
    for i, v in enumerate(db):                       # hysteresis; T is small (frames, not samples)
        state = v > on if not state else v > off
        act[i] = state
    act = _remove_short(act, int(round(min_speech_s * fps)))
    return _dilate(act, int(round(hangover_s * fps)))


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or not mask.any():
        return mask
    c = np.convolve(mask.astype(np.int32), np.ones(2 * k + 1, np.int32), mode="same")
    return c > 0


def _remove_short(mask: np.ndarray, k: int) -> np.ndarray:
    if k <= 1:
        return mask
    out = mask.copy()
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        if e - s < k:
            out[s:e] = False
    return out


@functools.lru_cache(maxsize=1)
def _silero_model():
    """The Silero VAD model, loaded once per process (``audio_forward`` resets its state per call)."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


def silero_vad_frames(y: np.ndarray, *, sr: int, fps: float, n_frames: int, threshold: float = 0.5,
                      hangover_s: float = 0.1) -> np.ndarray:
    """(T,) bool voice activity from Silero VAD probabilities (16 kHz or 8 kHz input; else resampled).

    Raises ImportError/RuntimeError when silero-vad or torch is unusable (caller falls back).
    """
    import torch

    if sr not in (8000, 16000):
        import soxr
        y = soxr.resample(np.asarray(y, np.float32), sr, 16000)
        sr = 16000
    win = 512 if sr == 16000 else 256
    model = _silero_model()
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            probs = model.audio_forward(torch.from_numpy(np.ascontiguousarray(y, np.float32)), sr)
        probs = probs.reshape(-1).numpy()
    finally:
        torch.set_num_threads(prev)
    # probability p[k] covers samples [k*win, (k+1)*win); sample clip frames at their centre
    t_frames = np.arange(n_frames) / float(fps)
    k = np.clip((t_frames * sr / win).astype(np.int64), 0, max(0, probs.size - 1))
    p = probs[k] if probs.size else np.zeros(n_frames)
    act = p > threshold
    act = _remove_short(act, int(round(0.05 * fps)))
    return _dilate(act, int(round(hangover_s * fps)))


def analyze(audio: Audio, *, fps: float, config: FeatureConfig = FeatureConfig()) -> Prosody:
    """Per-frame prosody of ``audio`` at ``fps``: rms, loudness, f0_hz, voiced, speech (all (T,)).

    T = ``rigs.core.clip.num_frames(audio.duration_s, fps)``; frame i is centred on i / fps seconds.
    """
    return _analyze_samples(audio.samples, sr=audio.sr, fps=fps, duration_s=audio.duration_s,
                            config=config, silent=audio.is_silent(threshold_dbfs=config.silence_dbfs))


def _analyze_samples(y: np.ndarray, *, sr: int, fps: float, duration_s: float, config: FeatureConfig,
                     silent: bool, n_frames: int | None = None, normalise: bool = True) -> Prosody:
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps!r}")
    T = num_frames(duration_s, fps) if n_frames is None else n_frames
    if silent:
        config = replace(config, use_silero=False)
    pr = _analyze_at(np.asarray(y, np.float32), sr=sr, fps=fps, centres=frame_centers(n_frames=T, sr=sr, fps=fps),
                     config=config)
    speech = pr.speech & (not silent)
    loud = robust_loudness(pr.rms, low_pct=config.loudness_low_pct, high_pct=config.loudness_high_pct,
                           range_db=config.loudness_range_db, silence_dbfs=config.silence_dbfs) if normalise \
        else pr.loudness
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
        raise ValueError("analyze_chunks: no samples")
    emit(buf_start + buf.size, final=True)
    silent = (20 * np.log10(peak) if peak > 0 else -np.inf) < config.silence_dbfs
    rms = np.concatenate([p.rms for p in parts])
    speech = np.concatenate([p.speech for p in parts])
    if silent:
        speech[:] = False
    loud = robust_loudness(rms, low_pct=config.loudness_low_pct, high_pct=config.loudness_high_pct,
                           range_db=config.loudness_range_db, silence_dbfs=config.silence_dbfs)
    return Prosody(fps=float(fps), duration_s=total / float(sr), rms=rms, loudness=loud,
                   f0_hz=np.concatenate([p.f0_hz for p in parts]), voiced=np.concatenate([p.voiced for p in parts]),
                   speech=speech, silent=bool(silent), vad_method="silent" if silent else "+".join(sorted(methods)))


def _analyze_at(seg: np.ndarray, *, sr: int, fps: float, centres: np.ndarray, config: FeatureConfig) -> Prosody:
    """Prosody (loudness left at 0) of frames of ``seg`` centred at sample offsets ``centres`` (step sr/fps)."""
    n = centres.size
    rms = _rms_at(seg, centres=centres, sr=sr, window_s=config.rms_window_s)
    f0, ap = _yin_centres(seg, centres, sr, config.fmin_hz, config.fmax_hz, config.yin_threshold,
                          config.pitch_window_s)
    db = 20.0 * np.log10(np.maximum(rms.astype(np.float64), 1e-10))
    voiced = (ap < config.voicing_max_aperiodicity) & (db > config.silence_dbfs) & \
        (f0 >= config.fmin_hz) & (f0 <= config.fmax_hz)
    voiced = _remove_short(voiced, 2)
    speech = None
    method = "energy"
    if config.use_silero:
        try:
            start = max(0, int(centres[0]))
            speech = silero_vad_frames(seg[start:], sr=sr, fps=fps, n_frames=n, threshold=config.vad_threshold,
                                       hangover_s=config.vad_hangover_s)
            method = "silero"
        except Exception as e:
            log.warning("silero VAD unavailable (%s); using the energy detector", e)
    if speech is None:
        speech = energy_vad(rms, fps=fps, silence_dbfs=config.silence_dbfs)
    return Prosody(fps=fps, duration_s=n / fps, rms=rms, loudness=np.zeros(n, np.float32),
                   f0_hz=np.where(voiced, f0, 0).astype(np.float32), voiced=voiced, speech=speech,
                   vad_method=method)


def _rms_at(y, *, centres, sr, window_s):
    n = max(8, int(round(window_s * sr)))
    out = np.empty(centres.size, np.float32)
    for a in range(0, centres.size, _BLOCK_FRAMES):
        fr = frame_signal(y, centers=centres[a:a + _BLOCK_FRAMES], frame_length=n).astype(np.float64)
        out[a:a + fr.shape[0]] = np.sqrt(np.einsum("ij,ij->i", fr, fr) / n)
    return out


# ----------------------------------------------------------------------------------------------
# features for learned models


def _hop_frames(y, *, sr, fps, n_frames, frame_length):
    T = num_frames(len(y) / float(sr), fps) if n_frames is None else n_frames
    return frame_signal(y, centers=frame_centers(n_frames=T, sr=sr, fps=fps), frame_length=frame_length)


def log_mel(y: np.ndarray, *, sr: int, fps: float, n_mels: int = 80, n_fft: int = 512,
            win_length: int | None = None, fmin: float = 40.0, fmax: float | None = None,
            n_frames: int | None = None, floor: float = 1e-10) -> np.ndarray:
    """(T, n_mels) float32 log (natural) mel power spectrogram; frame i centred on i / fps.

    T defaults to num_frames(len(y)/sr, fps). Hann window of ``win_length`` (default n_fft) samples.
    """
    import librosa
    win = n_fft if win_length is None else int(win_length)
    fr = _hop_frames(np.asarray(y, np.float32), sr=sr, fps=fps, n_frames=n_frames, frame_length=win)
    fr = fr * np.hanning(win + 2)[1:-1].astype(np.float32)
    spec = np.abs(np.fft.rfft(fr, n_fft, axis=1)) ** 2                         # (T, n_fft//2+1)
    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)  # (n_mels, F)
    return np.log(np.maximum(spec @ fb.T, floor)).astype(np.float32)


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
