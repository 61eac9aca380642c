"""The one type every real-capture reader returns: :class:`CapturedTake`, and the checks all readers share.

A take is a recording of one performance: its audio (mono float32 at ``sample_rate``) and whichever labels
its format holds, all time-first at ``fps`` (frame ``i`` at ``i / fps`` s, :mod:`rigs.core.timebase`):

- ``expression`` (T, 52) ARKit weights in :data:`rigs.core.arkit.ARKIT_NAMES` order with ``expression_valid``
  (52,) bool: which channels the capture really measured (FACEGOOD: mouth and jaw only; channels that are not
  valid hold 0 and must not be trained on);
- ``head_rotation`` (T, 3) local axis-angle radians of the canonical ``head`` joint (Live Link's HeadYaw/...);
- ``eye_rotations`` (T, 2, 3) local axis-angle radians of ``left_eye``, ``right_eye``;
- ``joint_angles`` (T, J, 3) local axis-angle radians on the canonical skeleton
  (:func:`rigs.core.skeleton.canonical_skeleton`) and ``root_translation`` (T, 3) metres.

Labels a format lacks are ``None``. Construction validates shapes, finiteness and that audio and labels are
no more than :data:`MAX_DRIFT_FRAMES` frames apart in length; every failure is a
:class:`~rigs.core.errors.ClipError` (labels) or :class:`~rigs.core.errors.AudioError` (audio) naming the
source file. Folder readers collect takes in a :class:`ReadReport`: unreadable takes are skipped with a
warning, named and counted, never silently truncated.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rigs.core.arkit import ARKIT_NAMES, NUM_CHANNELS
from rigs.core.errors import AudioError, ClipError, ParleyError
from rigs.core.skeleton import canonical_skeleton
from rigs.core.timebase import frame_times_s, num_frames, resample_axis_angle, resample_linear

log = logging.getLogger(__name__)

MAX_DRIFT_FRAMES = 2.0       # audio and labels may differ in length by at most this many label frames
TAKE_FPS = 30.0              # readers resample labels to this rate unless told otherwise (the corpus rate)
TAKE_SAMPLE_RATE = 16000     # and load audio at this rate (the corpus rate)
SILENT_PEAK = 10 ** (-70 / 20)   # a take's audio whose peak stays below -70 dBFS is silent
AUDIO_SUFFIXES = (".wav", ".flac", ".aiff", ".aif", ".mov", ".mp4", ".m4a", ".mp3", ".ogg")


@dataclass(frozen=True)
class CapturedTake:
    """One captured performance: audio plus the labels its format holds (see the module docstring).

    Arrays are float32, time first at ``fps``; ``None`` where the format has no such label. The dataclass is
    frozen (fields cannot be rebound); treat the arrays as read-only too.
    """

    take_id: str                                  # unique within its source, e.g. the file stem
    source: Path                                  # the label file the take was read from
    audio: np.ndarray | None                      # (N,) mono float32 in [-1, 1], or None (a BVH without wav)
    sample_rate: int
    fps: float
    speaker: str = ""
    licence: str = ""
    expression: np.ndarray | None = None          # (T, 52) ARKit weights, ARKIT_NAMES order
    expression_valid: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CHANNELS, bool))  # (52,)
    head_rotation: np.ndarray | None = None       # (T, 3) axis-angle rad, canonical ``head``
    eye_rotations: np.ndarray | None = None       # (T, 2, 3) axis-angle rad, left then right eye
    joint_angles: np.ndarray | None = None        # (T, J, 3) axis-angle rad, canonical skeleton
    root_translation: np.ndarray | None = None    # (T, 3) m
    audio_source: Path | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        where = str(self.source)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ClipError(f"{where}: frame rate {self.fps!r} is not a positive number")
        T = None
        J = canonical_skeleton().num_joints
        shapes = {"expression": (NUM_CHANNELS,), "head_rotation": (3,), "eye_rotations": (2, 3),
                  "joint_angles": (J, 3), "root_translation": (3,)}
        for name, tail in shapes.items():
            a = getattr(self, name)
            if a is None:
                continue
            if a.ndim != 1 + len(tail) or a.shape[1:] != tail:
                raise ClipError(f"{where}: {name} has shape {a.shape}, expected (T, {', '.join(map(str, tail))})")
            if not np.all(np.isfinite(a)):
                bad = int(np.argwhere(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))[0, 0])
                raise ClipError(f"{where}: {name} holds NaN or infinite values (first at frame {bad}, "
                                f"{bad / self.fps:.3f} s)")
            if T is None:
                T = a.shape[0]
            elif a.shape[0] != T:
                raise ClipError(f"{where}: {name} has {a.shape[0]} frames, other labels {T}")
        if T is None:
            raise ClipError(f"{where}: no labels (expression, head, eyes or body)")
        if T == 0:
            raise ClipError(f"{where}: no frames")
        if self.expression is not None and self.expression_valid.shape != (NUM_CHANNELS,):
            raise ClipError(f"{where}: expression_valid must have {NUM_CHANNELS} entries")
        if self.audio is not None:
            src = self.audio_source or self.source
            if self.audio.ndim != 1 or self.audio.size == 0:
                raise AudioError(f"{src}: audio must be mono and non-empty, got shape {self.audio.shape}")
            if not np.all(np.isfinite(self.audio)):
                raise AudioError(f"{src}: audio contains NaN or infinite samples")
            check_alignment(self.audio.size / float(self.sample_rate), T, self.fps, labels=self.source,
                            audio=src)

    @property
    def num_frames(self) -> int:
        for a in (self.expression, self.joint_angles, self.head_rotation, self.eye_rotations):
            if a is not None:
                return int(a.shape[0])
        return 0

    @property
    def duration_s(self) -> float:
        """Length of the labels in seconds (T / fps)."""
        return self.num_frames / self.fps

    @property
    def audio_duration_s(self) -> float | None:
        return None if self.audio is None else self.audio.size / float(self.sample_rate)

    @property
    def valid_channels(self) -> tuple[str, ...]:
        """Names of the ARKit channels the capture measured."""
        if self.expression is None:
            return ()
        return tuple(n for n, v in zip(ARKIT_NAMES, self.expression_valid) if v)


def check_alignment(audio_duration_s: float, n_frames: int, fps: float, *, labels, audio) -> None:
    """Refuse audio and labels whose lengths differ by more than :data:`MAX_DRIFT_FRAMES` frames (ClipError)."""
    label_s = n_frames / float(fps)
    drift = abs(audio_duration_s - label_s) * fps
    if drift > MAX_DRIFT_FRAMES:
        raise ClipError(f"{labels}: labels last {label_s:.3f} s ({n_frames} frames at {fps:g} fps) but the audio "
                        f"{Path(str(audio)).name} lasts {audio_duration_s:.3f} s: {drift:.1f} frames apart (at most "
                        f"{MAX_DRIFT_FRAMES:g}); is it the right audio for this take?")


def resample_take_arrays(fps_in: float, fps_out: float, n_in: int, *, linear: dict, rotations: dict) -> dict:
    """Label arrays at ``fps_in`` (T frames) resampled to ``fps_out`` over the same duration with the time base
    (:func:`~rigs.core.timebase.resample_linear` for ``linear``, quaternion interpolation for ``rotations``:
    (T, J, 3) axis-angle); ``None`` values pass through. Returns float32 arrays by the same keys."""
    out: dict = {}
    same = abs(fps_in - fps_out) < 1e-9
    t = frame_times_s(num_frames(n_in / fps_in, fps_out), fps_out)
    for k, a in linear.items():
        out[k] = None if a is None else (a if same else resample_linear(a, fps_in, t)).astype(np.float32)
    for k, a in rotations.items():
        out[k] = None if a is None else (a if same else resample_axis_angle(a, fps_in, t)).astype(np.float32)
    return out


def load_take_audio(path: Path, *, sample_rate: int) -> np.ndarray:
    """(N,) mono float32 of an audio or video file at ``sample_rate`` (engine.audio's loader: ffmpeg for
    .mov/.mp4). Raises AudioError naming the file, also when it is silent (peak below :data:`SILENT_PEAK`: a
    video recorded without microphone access has a silent track), since a take without sound teaches nothing."""
    from engine.audio.load import load_audio
    y = load_audio(path, sr=sample_rate).samples
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak < SILENT_PEAK:
        raise AudioError(f"{path}: the audio is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS); was the "
                         "microphone on when the take was recorded?")
    return y


def find_audio(label_path: Path, *, folders: tuple[str, ...] = ()) -> Path | None:
    """The audio of a take: a file with the label file's stem and an audio/video suffix next to it (or in one
    of ``folders`` relative to its folder, e.g. BEAT2's ``../wave16k``); None when there is none."""
    for d in (label_path.parent, *(label_path.parent / f for f in folders)):
        for suf in AUDIO_SUFFIXES:
            for cand in (d / (label_path.stem + suf), d / (label_path.stem + suf.upper())):
                if cand.is_file():
                    return cand
    return None


@dataclass
class ReadReport:
    """What a folder reader found: the takes it read and the files it skipped (path, reason)."""

    takes: list[CapturedTake] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def skip(self, path: Path, error: ParleyError | str) -> None:
        reason = str(error)
        log.warning("skipping %s: %s", path, reason)
        self.skipped.append((Path(path), reason))

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)
