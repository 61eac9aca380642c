"""The per-frame model seam of the streaming animator, and the stand-in face that fills it today.

A :class:`FrameModel` maps a window of log-mel rows (:func:`engine.audio.spectral.log_mel`: 80 mels at
``feature_fps`` = 120 rows/s, i.e. 4 rows per 30 fps frame) to one output frame: ARKit-52 weights, head and
eye rotations. The streaming front end (:class:`engine.streaming.animator.StreamingAnimator`) keeps the
rows in a ring buffer and calls :meth:`FrameModel.predict` for output frame ``i`` (centred on ``i / fps``
seconds, i.e. on row ``r = i * feature_fps / fps``) with rows ``[r - context_frames, r + lookahead_frames]``
(inclusive; rows before the stream start read as silence) as soon as the audio those rows read has
arrived. A model is a pure function of its window (and of ``level_db``, the running speech level the front
end measures, which a model that normalises its own input ignores), so the same model run offline over a
whole clip (:func:`offline_predict`) gives the reference the streaming output is judged against.

:class:`EnergyFace` is the stand-in: no phonetics and no training, the mouth from band energies (an
RMS-style baseline refined by spectral balance). It is what ``parley stream`` runs until a learned fast
path (docs/streaming.md says how it plugs in) replaces it.

References: band-energy / RMS lip-sync baselines as in Rhubarb's and Audio2Face's comparisons (jaw from
loudness); vowel openness follows F1 energy and rounding lowers F2 (Stevens, "Acoustic Phonetics", 1998).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from engine.audio.prosody import RMS_WINDOW_S, frame_rms
from engine.audio.spectral import log_mel
from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS
from rigs.core.errors import ConfigError
from rigs.core.timebase import num_frames

DB_PER_NEPER_POWER = 10.0 / np.log(10.0)     # natural-log power -> dB
SILENCE_POWER = 1e-10                        # log_mel's floor: rows outside the stream read as this
OFFLINE_BLOCK_FRAMES = 256                   # frames per predict_frames call in offline_predict (memory)


@dataclass(frozen=True)
class FrameOutput:
    """One output frame: ``expression`` (52,) ARKit weights in [0, 1] (canonical order), ``head_rad`` (3,)
    pitch/yaw/roll and ``eyes_rad`` (2, 3) left/right, in :class:`engine.animators.base.FaceTrack`'s convention."""

    expression: np.ndarray
    head_rad: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    eyes_rad: np.ndarray = field(default_factory=lambda: np.zeros((2, 3), np.float32))


@runtime_checkable
class FrameModel(Protocol):
    """What the streaming front end needs of a per-frame face model (see the module docstring).

    ``fps``: output frames per second; ``feature_fps``: log-mel rows per second (an integer multiple of
    ``fps``); ``n_mels``: mel bands per row; ``context_frames`` / ``lookahead_frames``: rows of past / future
    the model reads around the frame's row (its receptive field); ``model_id``: recorded with the output.
    Optional members, used when present:

    - ``log_mel_kwargs``: a dict of ``n_fft``, ``win_length``, ``fmin``, ``fmax`` for
      :func:`engine.audio.spectral.log_mel` (its defaults otherwise);
    - ``normalize_rows(rows, state) -> (rows, state)``: a causal normalisation applied to each batch of new
      rows as they are computed ((n, n_mels) float32; ``state`` None at the start of a stream); it must give the
      same rows whatever the batching (e.g. a running mean carried in ``state``); windows then hold normalised
      rows;
    - ``pad_value``: the value of rows outside the stream (before its start, after its end) as the model sees
      them (default log(1e-10), raw silence; e.g. 0.0 for normalised features a causal conv zero-pads);
    - ``predict_many(windows, *, level_db) -> list[FrameOutput]``: windows (n, rows, n_mels) and level_db a
      (n,) sequence (None entries before any sound); used instead of n calls of ``predict``;
    - ``stream() -> FrameStepper``: a fresh per-stream stepper for models that keep state between frames (a
      temporal conv net caching its layers' past activations, so each frame costs one new column per layer
      instead of the whole receptive field); when present, windows are not built and ``predict`` is not called.
    """

    model_id: str
    fps: float
    feature_fps: float
    n_mels: int
    context_frames: int
    lookahead_frames: int

    def predict(self, window: np.ndarray, *, level_db: float | None) -> FrameOutput:
        """window: (context_frames + 1 + lookahead_frames, n_mels) float32 log-mel rows (natural-log power);
        level_db: the running speech level (dBFS RMS at the 98th percentile of non-silent frames; None
        before any speech). Returns the frame centred on row ``context_frames`` of the window."""
        ...


LOG_MEL_KEYS = ("n_fft", "win_length", "fmin", "fmax")


def log_mel_kwargs(model) -> dict:
    """The :func:`engine.audio.spectral.log_mel` parameters a model asks for in its optional
    ``log_mel_kwargs`` dict (``n_fft``, ``win_length``, ``fmin``, ``fmax``; the defaults otherwise)."""
    kw = dict(getattr(model, "log_mel_kwargs", None) or {})
    bad = sorted(set(kw) - set(LOG_MEL_KEYS))
    if bad:
        raise ConfigError(f"log_mel_kwargs: unknown {', '.join(bad)} (allowed: {', '.join(LOG_MEL_KEYS)})")
    return kw


@runtime_checkable
class FrameStepper(Protocol):
    """Per-stream state of a stateful model (``FrameModel.stream()``)."""

    def step(self, rows: np.ndarray, n_frames: int, *, level_db: list) -> list[FrameOutput]:
        """rows: (k, n_mels) the stream's next feature rows, in order, continuing the previous call (the first
        call starts at row 0; rows past the end of the stream are ``pad_value``); returns the outputs of the
        next ``n_frames`` frames, which these rows complete: after the call, the rows given so far reach row
        ``(last frame) * hop + lookahead_frames``. level_db: (n_frames,) speech levels, as for ``predict``."""
        ...


def stepper(model):
    """A fresh :class:`FrameStepper` of the model (its optional ``stream()``), or None."""
    f = getattr(model, "stream", None)
    return f() if callable(f) else None


def row_normalizer(model):
    """The model's optional ``normalize_rows`` (None without one)."""
    f = getattr(model, "normalize_rows", None)
    return f if callable(f) else None


def pad_value(model) -> float:
    """The value of rows outside the stream as the model sees them (its ``pad_value``, else raw silence)."""
    v = getattr(model, "pad_value", None)
    return float(np.log(np.float32(SILENCE_POWER)) if v is None else v)


def predict_frames(model, windows: np.ndarray, levels: list) -> list[FrameOutput]:
    """The model's outputs for stacked windows (n, rows, n_mels) at per-frame speech levels (n,)."""
    many = getattr(model, "predict_many", None)
    if callable(many):
        out = list(many(windows, level_db=levels))
        if len(out) != len(windows):
            raise ConfigError(f"{type(model).__name__}.predict_many returned {len(out)} frames for {len(windows)}")
        return out
    return [model.predict(w, level_db=lv) for w, lv in zip(windows, levels)]


def check_model(model) -> int:
    """Validate a :class:`FrameModel`'s timing attributes; returns rows per output frame."""
    if not isinstance(model, FrameModel):
        raise ConfigError(f"{type(model).__name__} is not a FrameModel (needs fps, feature_fps, n_mels, "
                          "context_frames, lookahead_frames, model_id and predict)")
    hop = model.feature_fps / model.fps
    if not (model.fps > 0 and hop >= 1 and abs(hop - round(hop)) < 1e-9):
        raise ConfigError(f"feature_fps ({model.feature_fps}) must be an integer multiple of fps ({model.fps})")
    if model.context_frames < 0 or model.lookahead_frames < 0:
        raise ConfigError("context_frames and lookahead_frames must be >= 0")
    return int(round(hop))


# ------------------------------------------------------------------------------------------------
# the stand-in face

LOW_BAND_HZ = (200.0, 1000.0)     # F1 region: openness of the vowel
MID_BAND_HZ = (1000.0, 3000.0)    # F2 region: spread (high F2) vs rounded (low F2)
HIGH_BAND_HZ = (3500.0, 8000.0)   # frication


@dataclass(frozen=True)
class EnergyFaceConfig:
    """Tuning of :class:`EnergyFace` (weights are ARKit units, levels dB)."""

    context_frames: int = 8          # rows of past (67 ms at 120 rows/s)
    lookahead_frames: int = 4        # rows of future (33 ms)
    smooth_rows: float = 2.0         # Gaussian sigma of the temporal smoothing, rows
    open_floor_db: float = -25.0     # F1-band level (dB re the speech level, calibrated) of a closed mouth ...
    open_range_db: float = 35.0      # ... and the rise to a fully open one (measured on jfk.flac, sr_english.wav)
    jaw_gain: float = 0.65
    jaw_exponent: float = 1.3
    lower_lip_gain: float = 0.25
    upper_lip_gain: float = 0.12
    round_gain: float = 0.45         # pucker/funnel when F2 energy is low against F1
    round_tilt_db: float = -18.0     # mid - low balance (dB, re speech-level calibration) of a rounded vowel
    spread_gain: float = 0.3         # stretch when F2 energy is high
    spread_tilt_db: float = -5.0
    fricative_gain: float = 0.3      # mouthClose-ish narrowing and upper lip raise on frication ...
    fricative_db: float = -15.0      # ... when the high band comes within this many dB of the F1 band
    press_gain: float = 0.15         # lips press a little in pauses after speech


class EnergyFace:
    """The stand-in :class:`FrameModel`: jaw and lips from log-mel band energies relative to the speech level.

    ``jawOpen`` and ``mouthLowerDown*`` follow the F1-band energy (an RMS-style baseline); the F2/F1 balance
    adds rounding (``mouthPucker``/``mouthFunnel``) or spreading (``mouthStretch*``); high-band frication
    narrows the jaw and raises the upper lip. Head and eyes are left at zero (the front end's procedural
    upper face moves them). Deterministic; a pure function of its window and ``level_db``.
    """

    model_id = "energy-face-v1"
    fps = 30.0
    feature_fps = 120.0
    n_mels = 80

    def __init__(self, config: EnergyFaceConfig = EnergyFaceConfig(), *, sr: int = 16000, fps: float = 30.0):
        import librosa
        self.config = config
        self.fps = float(fps)
        self.feature_fps = 4.0 * self.fps
        self.context_frames = int(config.context_frames)
        self.lookahead_frames = int(config.lookahead_frames)
        self.sr = int(sr)
        f = librosa.mel_frequencies(self.n_mels + 2, fmin=40.0, fmax=self.sr / 2.0)[1:-1]
        self.bands = [np.flatnonzero((f >= lo) & (f < hi)) for lo, hi in (LOW_BAND_HZ, MID_BAND_HZ, HIGH_BAND_HZ)]
        n = self.context_frames + 1 + self.lookahead_frames
        k = np.exp(-0.5 * ((np.arange(n) - self.context_frames) / max(config.smooth_rows, 1e-3)) ** 2)
        self.kernel = (k / k.sum()).astype(np.float64)
        self.offsets_db = self._calibrate()

    def _calibrate(self) -> np.ndarray:
        """dB of each band minus the RMS dBFS of the signal, measured on seeded white noise: the band level
        a sound at the speech level has when its spectrum is flat."""
        y = (0.1 * np.random.default_rng(0).standard_normal(self.sr)).astype(np.float32)
        lm = log_mel(y, sr=self.sr, fps=self.feature_fps)[4:-4]
        rms_db = 20.0 * np.log10(float(np.sqrt(np.mean(y.astype(np.float64) ** 2))))
        return np.asarray([float(np.mean(self._band_db(lm, b))) - rms_db for b in self.bands])

    @staticmethod
    def _band_db(lm: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return DB_PER_NEPER_POWER * np.log(np.sum(np.exp(lm[:, idx].astype(np.float64)), axis=1) + 1e-30)

    def predict(self, window: np.ndarray, *, level_db: float | None) -> FrameOutput:
        cfg = self.config
        e = np.zeros(NUM_CHANNELS, np.float32)
        if level_db is None:
            return FrameOutput(e)
        w = np.asarray(window, np.float32)
        rel = [self.kernel @ self._band_db(w, b) - (level_db + off) for b, off in zip(self.bands, self.offsets_db)]
        low, mid, high = rel
        open_ = float(np.clip((low - cfg.open_floor_db) / cfg.open_range_db, 0.0, 1.0))
        fric = float(np.clip((high - low - cfg.fricative_db) / 15.0, 0.0, 1.0)) \
            * float(np.clip((high - cfg.open_floor_db) / cfg.open_range_db, 0.0, 1.0))
        voiced_share = 1.0 - fric                                         # frication narrows the jaw
        jaw = cfg.jaw_gain * open_ ** cfg.jaw_exponent * (0.5 + 0.5 * voiced_share)
        tilt = mid - low
        rounded = float(np.clip((cfg.round_tilt_db - tilt) / 10.0, 0.0, 1.0)) * open_
        spread = float(np.clip((tilt - cfg.spread_tilt_db) / 10.0, 0.0, 1.0)) * open_
        put = {"jawOpen": jaw, "mouthLowerDownLeft": cfg.lower_lip_gain * open_,
               "mouthLowerDownRight": cfg.lower_lip_gain * open_,
               "mouthUpperUpLeft": cfg.upper_lip_gain * max(open_, fric),
               "mouthUpperUpRight": cfg.upper_lip_gain * max(open_, fric),
               "mouthPucker": cfg.round_gain * rounded, "mouthFunnel": 0.7 * cfg.round_gain * rounded,
               "mouthStretchLeft": cfg.spread_gain * spread, "mouthStretchRight": cfg.spread_gain * spread,
               "mouthClose": cfg.fricative_gain * fric * (1.0 - open_),
               "mouthPressLeft": cfg.press_gain * (1.0 - open_) * (open_ > 0.0),
               "mouthPressRight": cfg.press_gain * (1.0 - open_) * (open_ > 0.0)}
        for name, v in put.items():
            e[ARKIT_INDEX[name]] = v
        return FrameOutput(np.clip(e, 0.0, 1.0))


# ------------------------------------------------------------------------------------------------
# the same model over a whole clip (the offline reference)

def offline_level_db(y: np.ndarray, *, sr: int, fps: float) -> float | None:
    """The whole-clip speech level: 98th percentile of the non-silent frame RMS levels (dBFS), the
    reference :func:`engine.audio.prosody.robust_loudness` maps to loudness 1; None for a silent clip."""
    from engine.audio.load import SILENCE_DBFS
    from engine.audio.prosody import LOUDNESS_HIGH_PCT
    T = num_frames(len(y) / float(sr), fps)
    db = 20.0 * np.log10(np.maximum(frame_rms(y, sr=sr, fps=fps, n_frames=T, window_s=RMS_WINDOW_S), 1e-12))
    active = db[db > SILENCE_DBFS]
    return float(np.percentile(active, LOUDNESS_HIGH_PCT)) if active.size else None


def offline_predict(model: FrameModel, y: np.ndarray, *, sr: int, level_db: float | None = None) -> np.ndarray:
    """(T, 52) expression of ``model`` over the whole (N,) clip ``y`` at ``sr``: log-mel of the whole clip,
    the whole-clip speech level (unless ``level_db`` is given), one :meth:`FrameModel.predict` per frame
    with the same windows the streaming front end uses. T = num_frames(N / sr, model.fps)."""
    hop = check_model(model)
    T = num_frames(len(y) / float(sr), model.fps)
    rows = log_mel(np.asarray(y, np.float32), sr=sr, fps=model.feature_fps, n_mels=model.n_mels,
                   **log_mel_kwargs(model))
    norm = row_normalizer(model)
    if norm is not None:
        rows = np.asarray(norm(rows, None)[0], np.float32)
    pv = pad_value(model)
    pad = np.full((model.context_frames, model.n_mels), pv, np.float32)
    padr = np.full((model.lookahead_frames + hop * T, model.n_mels), pv, np.float32)
    rows = np.concatenate([pad, rows, padr])
    lvl = offline_level_db(y, sr=sr, fps=model.fps) if level_db is None else level_db
    n = model.context_frames + 1 + model.lookahead_frames
    out = np.zeros((T, NUM_CHANNELS), np.float32)
    st = stepper(model)
    if st is not None:      # the stateful path: every row once, from the stream's first row
        c = model.context_frames
        for k, f in enumerate(st.step(rows[c:c + (T - 1) * hop + model.lookahead_frames + 1], T,
                                      level_db=[lvl] * T)):
            out[k] = f.expression
        return out
    for a in range(0, T, OFFLINE_BLOCK_FRAMES):
        idx = np.arange(a, min(T, a + OFFLINE_BLOCK_FRAMES))
        # frame i's window: unpadded rows [i*hop - context, i*hop + lookahead] = padded rows [i*hop, i*hop + n)
        windows = rows[idx[:, None] * hop + np.arange(n)[None, :]]          # (b, n, n_mels)
        for k, f in enumerate(predict_frames(model, windows, [lvl] * len(idx))):
            out[a + k] = f.expression
    return out
