"""Live Link Face takes (the iPhone app's CSV plus the take's audio) as :class:`CapturedTake`: how an artist
fine-tunes on their own recordings.

The CSV is read by the one Live Link reader, :func:`rigs.formats.livelink.read_livelink_take` (either count
header spelling, any column order, head and eye rotations in radians), at the take's own row rate (the app
writes 60 rows per second) and resampled to ``fps`` (default 30) with the time base
(:func:`rigs.formats.livelink.resample_clip`: weights linearly, rotations by quaternion interpolation). All 52
ARKit channels are valid when the file has them all (the app always writes them); head yaw/pitch/roll and
eye rotations become ``head_rotation`` and ``eye_rotations`` (axis-angle), or None when the file lacks them or
they are zero throughout the take (the app writes zeros when head tracking is off: not measured, not still).
The app records the audio in the take's video (``.mov``); :func:`read_takes` pairs each CSV with the audio or
video file of the same stem in the same folder. Training data is held to a stricter standard than the add-on's
import: a column the reader does not know (a misspelt channel) is an error here, not ignored.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS
from rigs.core.errors import ClipError, ParleyError
from rigs.core.skeleton import canonical_skeleton
from rigs.formats.livelink import read_livelink_take, resample_clip

from .take import TAKE_FPS, TAKE_SAMPLE_RATE, CapturedTake, ReadReport, find_audio, load_take_audio

log = logging.getLogger(__name__)

LIVELINK_LICENCE = "the artist's own recording"
CALIBRATION_SUFFIX = "_cal"        # the app's calibration CSV next to a take: not a take
UNMEASURED_RAD = 1e-6              # head or eye rotations within this of zero throughout a take: not recorded


def read_livelink(csv_path, audio_path=None, *, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE,
                  speaker: str = "", licence: str = LIVELINK_LICENCE, require_audio: bool = True) -> CapturedTake:
    """One Live Link Face take. ``audio_path`` defaults to the audio/video file with the CSV's stem next to it;
    ``require_audio=False`` accepts a CSV without one (``audio`` None). Raises ClipError (unreadable CSV, NaN,
    unknown columns, audio and labels more than two frames apart) or AudioError."""
    csv_path = Path(csv_path)
    ll = read_livelink_take(csv_path)
    if ll.ignored:
        raise ClipError(f"{csv_path}: unknown channel names {', '.join(ll.ignored[:10])}"
                        f"{' ...' if len(ll.ignored) > 10 else ''} (not ARKit blendshapes nor head/eye rotations); "
                        f"rename them to Live Link Face's column names")
    clip = resample_clip(ll.clip, fps)
    valid = np.zeros(NUM_CHANNELS, bool)
    valid[[ARKIT_INDEX[c] for c in ll.channels]] = True
    sk = canonical_skeleton()
    angles = np.asarray(clip.joint_angles, np.float32)
    rot = set(ll.rotations)
    head = angles[:, sk.index("head")] if any(r.startswith("Head") for r in rot) else None
    eyes = angles[:, [sk.index("left_eye"), sk.index("right_eye")]] if any("Eye" in r for r in rot) else None
    if head is not None and not np.abs(head).max() > UNMEASURED_RAD:
        log.info("%s: the head rotation is zero throughout (head tracking was off): not measured", csv_path)
        head = None
    if eyes is not None and not np.abs(eyes).max() > UNMEASURED_RAD:
        log.info("%s: the eye rotations are zero throughout: not measured", csv_path)
        eyes = None
    if audio_path is None:
        audio_path = find_audio(csv_path)
        if audio_path is None and require_audio:
            raise ClipError(f"{csv_path}: no audio for this take (a .wav, .mov or .mp4 named {csv_path.stem}.* "
                            f"next to it)")
    audio = None if audio_path is None else load_take_audio(Path(audio_path), sample_rate=sample_rate)
    return CapturedTake(
        take_id=csv_path.stem, source=csv_path, audio=audio, sample_rate=sample_rate, fps=float(fps),
        speaker=speaker, licence=licence, expression=np.asarray(clip.expression, np.float32),
        expression_valid=valid, head_rotation=head, eye_rotations=eyes,
        audio_source=None if audio_path is None else Path(audio_path),
        meta={"format": "livelink", "source_fps": float(ll.clip.fps), "count_header": ll.count_header})


def is_livelink_csv(path) -> bool:
    """Whether ``path`` looks like a Live Link Face CSV: its header holds a ``Timecode`` and a ``JawOpen`` column
    (any order, any case); False when it cannot be read."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            cells = {c.strip().lower() for c in f.readline().split(",")}
    except OSError:
        return False
    return {"timecode", "jawopen"} <= cells


def read_takes(folder, *, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE, speaker: str = "",
               licence: str = LIVELINK_LICENCE) -> ReadReport:
    """Every Live Link take under ``folder`` (recursively): each ``*.csv`` paired with the audio of the same
    stem. Takes that cannot be used (no audio, unreadable, NaN, unknown columns, lengths apart) are skipped
    with a warning and listed in the report; calibration files (``*_cal.csv``) are passed over."""
    report = ReadReport()
    for csv_path in sorted(Path(folder).rglob("*.csv")):
        if csv_path.stem.lower().endswith(CALIBRATION_SUFFIX):
            log.info("%s: a calibration file, not a take", csv_path)
            continue
        try:
            report.takes.append(read_livelink(csv_path, fps=fps, sample_rate=sample_rate, speaker=speaker,
                                              licence=licence))
        except ParleyError as e:
            report.skip(csv_path, e)
    return report
