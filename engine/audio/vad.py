"""Voice activity per clip frame: Silero VAD when asked and usable, else an energy detector.

``voice_activity`` is the policy: Silero (``silero_vad_frames``) when requested, falling back with a
warning to ``energy_vad`` when silero-vad or torch cannot run here. Both detectors share the run-length
clean-up: runs shorter than a minimum are dropped (``remove_short_runs``), then the remaining speech is
widened by a hangover (``dilate``).

References
- Silero VAD (Silero Team, 2021-2024, ``silero-vad`` package, MIT); the torch part lives in
  :mod:`engine.learned.silero`, imported only when Silero is used.
- Energy detector: adaptive noise floor + margin with hysteresis and hangover, the classic two-threshold
  endpoint detector (cf. L. R. Rabiner and M. R. Sambur, "An algorithm for determining the endpoints of
  isolated utterances", Bell Syst. Tech. J. 54(2), 1975).
"""
from __future__ import annotations

import logging

import numpy as np

from engine.audio.load import SILENCE_DBFS, amplitude_dbfs

log = logging.getLogger(__name__)

# energy detector
ENERGY_FLOOR_PCT = 10           # percentile of the frame levels taken as the noise floor
ENERGY_PEAK_PCT = 99            # percentile of the frame levels taken as the speech peak
ENERGY_MARGIN_DB = 12.0         # speech starts this far above the noise floor...
ENERGY_PEAK_RANGE_DB = 35.0     # ...or this far below the peak, whichever is higher
ENERGY_HYSTERESIS_DB = 4.0      # and ends this far below where it started
ENERGY_HANGOVER_S = 0.15        # speech regions are widened by this much each side
ENERGY_MIN_SPEECH_S = 0.08      # shorter bursts are dropped

# Silero
SILERO_THRESHOLD = 0.5          # speech probability above which a frame is speech
SILERO_HANGOVER_S = 0.10        # speech regions are widened by this much each side
SILERO_MIN_SPEECH_S = 0.05      # shorter runs are dropped
# what "Silero cannot run here" raises: silero-vad/torch/soxr missing or broken (ImportError), a model
# file that does not load (OSError, RuntimeError from torch.jit). Anything else is a bug and propagates.
SILERO_UNUSABLE = (ImportError, OSError, RuntimeError)


def remove_short_runs(mask: np.ndarray, *, min_frames: int) -> np.ndarray:
    """(T,) bool ``mask`` without its True runs shorter than ``min_frames`` (unchanged if min_frames <= 1)."""
    if min_frames <= 1:
        return mask
    out = mask.copy()
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        if e - s < min_frames:
            out[s:e] = False
    return out


def dilate(mask: np.ndarray, *, radius_frames: int) -> np.ndarray:
    """(T,) bool ``mask`` with every True run widened by ``radius_frames`` on each side."""
    if radius_frames <= 0 or not mask.any():
        return mask
    c = np.convolve(mask.astype(np.int32), np.ones(2 * radius_frames + 1, np.int32), mode="same")
    return c > 0


def energy_vad(rms: np.ndarray, *, fps: float, silence_dbfs: float = SILENCE_DBFS,
               margin_db: float = ENERGY_MARGIN_DB, peak_range_db: float = ENERGY_PEAK_RANGE_DB,
               hysteresis_db: float = ENERGY_HYSTERESIS_DB, hangover_s: float = ENERGY_HANGOVER_S,
               min_speech_s: float = ENERGY_MIN_SPEECH_S) -> np.ndarray:
    """(T,) bool voice activity from (T,) frame RMS at ``fps``: adaptive threshold, hysteresis, hangover.

    Speech starts above max(noise floor + ``margin_db``, peak - ``peak_range_db``, ``silence_dbfs``) and
    ends ``hysteresis_db`` below that. The fallback when Silero VAD is unavailable; also used by the phone
    aligner to find pauses.
    """
    db = amplitude_dbfs(rms)
    if not np.any(db > silence_dbfs):
        return np.zeros(db.shape, bool)
    floor = float(np.percentile(db, ENERGY_FLOOR_PCT))
    peak = float(np.percentile(db, ENERGY_PEAK_PCT))
    on = max(floor + margin_db, peak - peak_range_db, silence_dbfs)
    off = on - hysteresis_db
    act = np.zeros(db.shape, bool)
    state = False
    for i, v in enumerate(db):                       # hysteresis; T is small (frames, not samples)
        state = v > on if not state else v > off
        act[i] = state
    act = remove_short_runs(act, min_frames=int(round(min_speech_s * fps)))
    return dilate(act, radius_frames=int(round(hangover_s * fps)))


def silero_vad_frames(y: np.ndarray, *, sr: int, fps: float, n_frames: int, threshold: float = SILERO_THRESHOLD,
                      hangover_s: float = SILERO_HANGOVER_S, min_speech_s: float = SILERO_MIN_SPEECH_S) -> np.ndarray:
    """(T,) bool voice activity from Silero VAD probabilities of (N,) ``y`` at ``sr``; frame i at i / fps.

    Raises one of :data:`SILERO_UNUSABLE` when silero-vad or torch is unusable (callers fall back).
    """
    from engine.learned.silero import speech_probabilities

    probs, model_sr, window = speech_probabilities(y, sr=sr)
    # probability p[k] covers samples [k*window, (k+1)*window); sample clip frames at their centre
    t_frames = np.arange(n_frames) / float(fps)
    k = np.clip((t_frames * model_sr / window).astype(np.int64), 0, max(0, probs.size - 1))
    p = probs[k] if probs.size else np.zeros(n_frames)
    act = p > threshold
    act = remove_short_runs(act, min_frames=int(round(min_speech_s * fps)))
    return dilate(act, radius_frames=int(round(hangover_s * fps)))


def voice_activity(y: np.ndarray, rms: np.ndarray, *, sr: int, fps: float, use_silero: bool,
                   threshold: float = SILERO_THRESHOLD, hangover_s: float = SILERO_HANGOVER_S,
                   min_speech_s: float = SILERO_MIN_SPEECH_S,
                   silence_dbfs: float = SILENCE_DBFS) -> tuple[np.ndarray, str]:
    """((T,) bool voice activity, method "silero" or "energy") for T = len(rms) frames at ``fps``.

    ``y`` (N,) at ``sr`` starts at the centre of frame 0 (Silero's input); ``rms`` (T,) is the frame RMS
    (the energy detector's input). ``threshold``, ``hangover_s`` and ``min_speech_s`` tune Silero; when
    ``use_silero`` is set but Silero cannot run, this warns and uses the energy detector.
    """
    if use_silero:
        try:
            return silero_vad_frames(y, sr=sr, fps=fps, n_frames=rms.size, threshold=threshold,
                                     hangover_s=hangover_s, min_speech_s=min_speech_s), "silero"
        except SILERO_UNUSABLE as e:
            log.warning("silero VAD unavailable (%s); using the energy detector", e)
    return energy_vad(rms, fps=fps, silence_dbfs=silence_dbfs), "energy"
