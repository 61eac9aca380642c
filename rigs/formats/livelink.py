"""Live Link Face CSV: write a clip as the iPhone app's take file, and read real takes (numpy only).

The layout Epic's Live Link Face iOS app writes when a take is exported, and which Unreal's
LiveLinkFaceImporter, MetaHuman tools and the public Blender/Maya/MotionBuilder importers read::

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,...,RightEyeRoll
    00:00:00:00.000,61,0.012345,...

* Header: ``Timecode``, ``BlendShapeCount`` (the app's spelling, capital S; other app versions write
  ``BlendshapeCount``, and the reader takes either), then the 61 PascalCase
  columns of :data:`rigs.core.arkit.LIVELINK_COLUMNS` (52 blendshapes in ARKit/Live Link order, then
  head and eye rotations).
* Rows: the app always writes 60 rows per second (:data:`APP_ROWS_PER_S`), and importers that count
  rows (not timecodes) play a file at that rate; the export resamples any clip to 60 rows per second
  (expression linearly, joints by quaternion interpolation), so an 11 s clip is 660 rows whatever its fps.
* ``Timecode`` is ``HH:MM:SS:FF.fff``: hours, minutes, seconds, the frame within the second at the
  timecode rate (60, as the app), and the sub-frame as a fraction (thousandths). The app writes time of
  day; we start at ``00:00:00:00.000`` unless ``start_s`` is given.
* ``BlendShapeCount`` is 61 on every row.
* Rotations are radians, as the app writes them. Checked on a real take
  (``MySlate_3_Jason_Millers_iPhone.csv``, head tracking off, eyes moving up to 0.33): read as radians
  in the YXZ order below, each eye's rotation has no torsion about the gaze once decomposed pitch-first
  (``XYZ``: 0.006 degrees rms, what float rounding leaves), i.e. the app builds a pure gaze rotation
  and reports ``roll = yaw * pitch`` to second order (fitted slope 1.018 and 1.015, r = 0.9999); read
  as quarter turns (x pi/2, as some importers do) the same rows would carry 0.17 degrees rms of
  torsion and a slope of pi/2. Yaw is about the up axis (+ = the character turns to its left), pitch
  about the character's left axis (+ = looks down), roll about the forward axis (+ = tilts to its right
  shoulder), from the YXZ Euler decomposition of the rotation in the canonical skeleton's axes (Y up,
  +Z forward, +X left). The head rotation is the neck and head rotations combined (relative to the
  chest); eye rotations are the eye joints' local rotations. ``angle_units="quarter_turns"`` writes
  and reads angle / (pi/2) instead, for tools that expect it.

:func:`read_livelink_csv` reads these files and the real app's (any column order, extra columns
ignored, time-of-day timecodes, midnight wrap, dropped or duplicated frames, plain frame-number
timecodes) and resamples them onto a uniform frame grid, bounded by the rows in the file (no
rates above 240 fps, no gaps over 10 s, at most 4 grid frames per row), so a small file cannot make a huge clip.

References: Epic Games, "Recording Facial Animation from an iOS Device" (Live Link Face); Apple
ARKit ARFaceAnchor.BlendShapeLocation.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from pathlib import Path

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..core.arkit import ARKIT_INDEX, ARKIT_NAMES, LIVELINK_COLUMNS, NUM_CHANNELS, canonical_name
from ..core.clip import MAX_FPS, Clip, make_meta
from ..core.errors import ClipError
from ..core.files import atomic_write
from ..core.rotations import axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle, matrix_to_euler
from ..core.skeleton import canonical_skeleton
from ..core.timebase import frame_times_s, num_frames, resample_axis_angle, resample_linear

log = logging.getLogger(__name__)

LIVELINK_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LIVELINK_COLUMNS
ROTATION_COLUMNS: tuple[str, ...] = LIVELINK_COLUMNS[NUM_CHANNELS:]
QUARTER_TURN_RAD = math.pi / 2
APP_ROWS_PER_S = 60.0      # the app records and exports 60 rows per second
DEFAULT_RATE = APP_ROWS_PER_S
ANGLE_UNITS = {"rad": 1.0, "quarter_turns": QUARTER_TURN_RAD}  # radians per unit in the file
HALF_DAY_S = 43200.0       # a time-of-day timecode falling by more than this crossed midnight
# Reader bounds (a CSV is untrusted input): the frame grid stays in proportion to the rows in the file.
MAX_RATE_HZ = 240.0        # rows (or timecode frames) per second: the fastest standard rate
MAX_GAP_S = 10.0           # the longest stretch without a row (dropped frames are milliseconds)
MAX_FRAMES_PER_ROW = 4     # frames of the take's grid per row present (3 in 4 dropped at most)
MAX_TIMECODE_CHARS = 40    # "HH:MM:SS:FF.fff" is 15
MAX_CSV_BYTES = 1 << 30    # about 8 hours of 61 columns at 60 fps
# the count column: the app spells it BlendShapeCount or (other versions) BlendshapeCount; some tools NumProperties
_COUNT_COLUMNS = ("blendshapecount", "numproperties")
_STANDARD_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0, 90.0, 100.0, 120.0, 240.0)


def head_eye_angles(clip: Clip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 3) yaw/pitch/roll radians of the head (neck @ head) and of the left and right eyes."""
    names = list(clip.joint_names)
    R = axis_angle_to_matrix(np.asarray(clip.joint_angles, dtype=np.float64))
    eye = np.broadcast_to(np.eye(3), R.shape[:1] + (3, 3))

    def get(n):
        return R[:, names.index(n)] if n in names else eye

    head = get("neck") @ get("head")
    out = []
    for M in (head, get("left_eye"), get("right_eye")):
        out.append(matrix_to_euler(M, "YXZ"))  # yaw (Y), pitch (X), roll (Z)
    return tuple(out)


def format_timecode(t_s: float, rate: float) -> str:
    """``HH:MM:SS:FF.fff`` for a time in seconds at an integer-ish timecode ``rate``."""
    r = max(1, int(round(rate)))
    total = t_s * r
    whole = int(math.floor(total + 1e-6))
    sub = max(0.0, total - whole)
    milli = int(round(sub * 1000))
    if milli >= 1000:
        whole, milli = whole + 1, 0
    ff = whole % r
    secs = whole // r
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h % 24:02d}:{m:02d}:{s:02d}:{ff:02d}.{milli:03d}"


def _units(angle_units: str) -> float:
    if angle_units not in ANGLE_UNITS:
        raise ClipError(f"angle_units must be one of {sorted(ANGLE_UNITS)}, got {angle_units!r}")
    return ANGLE_UNITS[angle_units]


def resample_clip(clip: Clip, fps: float) -> Clip:
    """``clip`` at another frame rate, same duration (expression and root linearly, joints by quaternion
    interpolation); the clip itself when the rate already matches."""
    if abs(float(clip.fps) - float(fps)) < 1e-9:
        return clip
    t = frame_times_s(num_frames(clip.duration_s, fps), fps)
    t = np.minimum(t, (clip.num_frames - 1) / clip.fps)
    return dataclasses.replace(
        clip, fps=float(fps), expression=resample_linear(clip.expression, clip.fps, t).astype(np.float32),
        joint_angles=resample_axis_angle(clip.joint_angles, clip.fps, t).astype(np.float32),
        root_translation=resample_linear(clip.root_translation, clip.fps, t).astype(np.float32),
        lip_vertices=resample_linear(clip.lip_vertices, clip.fps, t).astype(np.float32), meta=dict(clip.meta))


def livelink_rows(clip: Clip, *, angle_units: str = "rad") -> np.ndarray:
    """(T, 61) values of the Live Link columns in :data:`LIVELINK_COLUMNS` order, one row per clip frame."""
    per_unit = _units(angle_units)
    T = clip.num_frames
    out = np.zeros((T, len(LIVELINK_COLUMNS)))
    idx = {n: i for i, n in enumerate(clip.expression_names)}
    for k, col in enumerate(LIVELINK_COLUMNS[:NUM_CHANNELS]):
        c = canonical_name(col)
        if c in idx:
            out[:, k] = clip.expression[:, idx[c]]
    head, le, re_ = head_eye_angles(clip)
    rot = np.concatenate([head, le, re_], axis=1)  # yaw, pitch, roll x 3
    out[:, NUM_CHANNELS:] = rot / per_unit
    return out


def export_livelink_csv(clip: Clip, path, *, angle_units: str = "rad", start_s: float = 0.0,
                        decimals: int = 6, rows_per_s: float = APP_ROWS_PER_S) -> Path:
    """Write ``clip`` as a Live Link Face CSV at ``rows_per_s`` (the app's 60) rows per second (see the
    module docstring)."""
    _units(angle_units)
    clip = resample_clip(clip, rows_per_s)
    vals = livelink_rows(clip, angle_units=angle_units)
    buf = io.StringIO()
    buf.write(",".join(LIVELINK_HEADER) + "\n")
    rate = round(rows_per_s)
    for i, row in enumerate(vals):
        tc = format_timecode(start_s + i / rows_per_s, rate)
        buf.write(f"{tc},{len(LIVELINK_COLUMNS)}," + ",".join(f"{v:.{decimals}f}" for v in row) + "\n")
    return atomic_write(path, lambda f: f.write(buf.getvalue()), text=True)


_TC = re.compile(r"^\s*(\d+):(\d+):(\d+)(?::(\d+(?:\.\d*)?))?(?:\.(\d+))?\s*$")


def _parse_timecodes(cells: list[str], lines: list[int], path) -> tuple[np.ndarray, np.ndarray | None]:
    """-> (seconds part (N,), frame part (N,) float or None for frame-number/second timecodes)."""
    secs = np.empty(len(cells))
    frames = np.empty(len(cells))
    kind = None
    for i, c in enumerate(cells):
        if len(c) > MAX_TIMECODE_CHARS:
            raise ClipError(f"{path}: line {lines[i]}: unreadable timecode {c[:MAX_TIMECODE_CHARS]!r}... "
                            f"({len(c)} characters)")
        m = _TC.match(c)
        if m:
            h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
            secs[i] = h * 3600 + mi * 60 + s
            if m.group(4) is not None:
                frames[i] = float(m.group(4))
                k = "frames"
            else:
                frames[i] = float("0." + m.group(5)) if m.group(5) else 0.0
                k = "seconds"
        else:
            try:
                frames[i] = float(c)
            except ValueError:
                raise ClipError(f"{path}: line {lines[i]}: unreadable timecode {c!r}") from None
            if not math.isfinite(frames[i]):
                raise ClipError(f"{path}: line {lines[i]}: timecode {c!r} is not a finite number")
            secs[i] = 0.0
            k = "number"
        if kind is None:
            kind = k
        elif kind != k:
            raise ClipError(f"{path}: line {lines[i]}: timecode {c!r} is not in the same format as the first")
    if kind == "seconds":
        return secs + frames, None
    if kind == "number":
        return frames, np.array([])  # marker: plain frame numbers
    return secs, frames


def _snap_rate(r: float) -> float:
    best = min(_STANDARD_RATES, key=lambda s: abs(s - r))
    return best if abs(best - r) <= 0.02 * r else r


@dataclass(frozen=True)
class LiveLinkTake:
    """A Live Link Face CSV as read: the ``clip`` and which columns the file held. ``channels``: the canonical
    ARKit channels found (the others are 0 in the clip); ``rotations``: the rotation columns found (of
    :data:`ROTATION_COLUMNS`); ``ignored``: header cells matching neither (besides Timecode and the count);
    ``count_header``: the spelling of the count column (``BlendShapeCount`` or ``BlendshapeCount``), or ""."""

    clip: Clip
    channels: tuple[str, ...]
    rotations: tuple[str, ...]
    ignored: tuple[str, ...]
    count_header: str = ""


def read_livelink_csv(path, *, fps: float | None = None, timecode_rate: float | None = None,
                      angle_units: str = "rad") -> Clip:
    """Read a Live Link Face CSV into a :class:`Clip` on the canonical skeleton (:func:`read_livelink_take`'s
    clip)."""
    return read_livelink_take(path, fps=fps, timecode_rate=timecode_rate, angle_units=angle_units).clip


def read_livelink_take(path, *, fps: float | None = None, timecode_rate: float | None = None,
                       angle_units: str = "rad") -> LiveLinkTake:
    """Read a Live Link Face CSV into a :class:`LiveLinkTake`: a :class:`Clip` on the canonical skeleton and
    the columns the file held.

    Blendshape columns are matched by name (any order, any case); ``HeadYaw``... columns set the
    head joint (neck left at rest) and the eye joints; other columns are ignored. ``fps``: output
    frame rate (default: the take's own row rate). ``timecode_rate``: frames per second of the
    ``FF`` timecode field (default: inferred from the file -- the largest FF + 1 when the take
    crosses a second boundary -- else ``fps``, else 60, the app's default).
    Rotation values are radians, as the app writes them (``angle_units="quarter_turns"`` for files that
    store angle / (pi/2)).

    A CSV is untrusted input, so the frame grid is bounded by the file: row and timecode rates above
    :data:`MAX_RATE_HZ`, a gap between rows over :data:`MAX_GAP_S` and a take with more than
    :data:`MAX_FRAMES_PER_ROW` frames per row present are refused (one far timecode would otherwise
    make a grid of millions of frames from a few rows). Raises :class:`ClipError` on unreadable files.
    """
    per_unit = _units(angle_units)
    path = Path(path)
    _check_rate_argument("fps", fps, MAX_FPS)
    _check_rate_argument("timecode_rate", timecode_rate, MAX_RATE_HZ)
    header, rows = _read_rows(path)
    tc_col, columns, ignored = _map_columns(header, path)
    found = _Columns(dict(columns.shapes), dict(columns.rotations))
    cells, lines, data, columns = _values(rows, header, tc_col, columns, path)
    t = _row_times(cells, lines, path, fps=fps, timecode_rate=timecode_rate)
    keep = np.concatenate([[True], np.diff(t) > 1e-9])  # drop duplicated / backwards rows
    keep &= np.maximum.accumulate(t) <= t + 1e-12
    t, data, lines = t[keep], data[keep], [n for n, k in zip(lines, keep) if k]
    _check_gaps(t, lines, path)
    src_fps = _row_rate(t, timecode_rate, path)
    duration_s = _duration_s(t, src_fps, path)
    fps = src_fps if fps is None else float(fps)
    n = num_frames(duration_s, fps)
    grid = frame_times_s(n, fps)
    res = np.stack([np.interp(grid, t, data[:, j]) for j in range(data.shape[1])], axis=1) if len(t) > 1 \
        else np.repeat(data, n, axis=0)
    clip = _clip(res, columns, fps=fps, duration_s=duration_s, source=path.name, rad_per_unit=per_unit)
    count = next((h for h in header if h.lower() in _COUNT_COLUMNS), "")
    return LiveLinkTake(clip, channels=tuple(ARKIT_NAMES[k] for k in sorted(found.shapes)),
                        rotations=tuple(ROTATION_COLUMNS[k] for k in sorted(found.rotations)),
                        ignored=tuple(ignored), count_header=count)


def _check_rate_argument(name: str, value: float | None, most: float) -> None:
    if value is not None and not (math.isfinite(value) and 0 < value <= most):
        raise ClipError(f"{name} must be a number of frames per second in (0, {most:g}], got {value!r}")


def _row_rate(t: np.ndarray, timecode_rate: float | None, path: Path) -> float:
    """The take's own row rate (rows per second, snapped to a standard rate) from the median row spacing."""
    if len(t) < 2:
        return float(timecode_rate or DEFAULT_RATE)
    rate = _snap_rate(1.0 / float(np.median(np.diff(t))))
    if rate > MAX_RATE_HZ:
        raise ClipError(f"{path}: rows are {1e3 / rate:.3g} ms apart ({rate:.4g} rows per second); a Live Link "
                        f"take has at most {MAX_RATE_HZ:g} (are the timecodes in another unit?)")
    return rate


def _check_gaps(t: np.ndarray, lines: list[int], path: Path) -> None:
    """Refuse a stretch of more than :data:`MAX_GAP_S` without a row (a timecode far from the others)."""
    if len(t) > 1:
        gaps = np.diff(t)
        k = int(np.argmax(gaps))
        if gaps[k] > MAX_GAP_S:
            raise ClipError(f"{path}: line {lines[k + 1]}: the timecode jumps {gaps[k]:.6g} s after the previous "
                            f"row (at most {MAX_GAP_S:g} s without a row)")


def _duration_s(t: np.ndarray, src_fps: float, path: Path) -> float:
    """The take's length (each row holds for one period, the last one included); refuses a take so sparse
    that its frame grid would be out of proportion to the rows present."""
    duration_s = float(t[-1]) + 1.0 / src_fps
    frames = duration_s * src_fps
    if frames > MAX_FRAMES_PER_ROW * len(t):
        raise ClipError(f"{path}: {len(t)} rows span {frames:.0f} frames at {src_fps:g} fps: more than "
                        f"{MAX_FRAMES_PER_ROW - 1} in {MAX_FRAMES_PER_ROW} frames are missing")
    return duration_s


@dataclass(frozen=True)
class _Columns:
    """Which CSV column holds each ARKit channel (``shapes``: channel index -> column) and each rotation
    (``rotations``: index into :data:`ROTATION_COLUMNS` -> column)."""

    shapes: dict[int, int]
    rotations: dict[int, int]

    def used(self) -> list[int]:
        return list(self.shapes.values()) + list(self.rotations.values())

    def compact(self) -> "_Columns":
        """The same channels numbered by their position in :meth:`used` (the columns :func:`_values` keeps)."""
        pos = {j: i for i, j in enumerate(self.used())}
        return _Columns({k: pos[j] for k, j in self.shapes.items()}, {k: pos[j] for k, j in self.rotations.items()})


def _read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(header cells, iterator of (line number, cells) of the data rows), blank lines skipped."""
    if not path.is_file():
        raise ClipError(f"{path}: no such CSV file")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ClipError(f"{path}: {path.stat().st_size / 2**20:.0f} MiB is more than a Live Link take "
                        f"({MAX_CSV_BYTES / 2**20:.0f} MiB at most)")
    rows = _csv_rows(path)
    header = next(rows, None)
    if header is None:
        raise ClipError(f"{path}: no frames in CSV")
    return [h.strip() for h in header[1]], rows


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for r in reader:
                if any(x.strip() for x in r):
                    yield reader.line_num, r
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ClipError(f"{path}: cannot read CSV ({e.__class__.__name__})") from None


def _map_columns(header: list[str], path: Path) -> tuple[int, _Columns, list[str]]:
    """The timecode column, the blendshape and rotation columns (matched by name), and the header cells that
    are neither (ignored)."""
    low = [h.lower() for h in header]
    if "timecode" not in low:
        raise ClipError(f"{path}: not a Live Link Face CSV (no Timecode column)")
    tc_col = low.index("timecode")
    shapes: dict[int, int] = {}
    rotations: dict[int, int] = {}
    ignored = []
    rot_low = [c.lower() for c in ROTATION_COLUMNS]
    for j, h in enumerate(header):
        if j == tc_col or h.lower() in _COUNT_COLUMNS:
            continue
        if h.lower() in rot_low:
            rotations.setdefault(rot_low.index(h.lower()), j)
            continue
        c = canonical_name(h)
        if c is not None and c in ARKIT_INDEX and ARKIT_INDEX[c] not in shapes:
            shapes[ARKIT_INDEX[c]] = j
        else:
            ignored.append(h)
    if not shapes and not rotations:
        raise ClipError(f"{path}: no ARKit blendshape or head rotation columns")
    if ignored:
        log.info("%s: ignoring %d columns: %s", path, len(ignored), ", ".join(ignored[:20]))
    return tc_col, _Columns(shapes, rotations), ignored


def _values(rows: Iterator[tuple[int, list[str]]], header: list[str], tc_col: int, columns: _Columns,
            path: Path) -> tuple[list[str], list[int], np.ndarray, _Columns]:
    """(timecode cells, line numbers, (rows, used columns) float64 values, the columns renumbered to match);
    values finite or ClipError."""
    ncol = len(header)
    used = columns.used()
    cells: list[str] = []
    lines: list[int] = []
    values: list[list[float]] = []
    for line, r in rows:
        if len(r) < ncol:
            raise ClipError(f"{path}: line {line} has {len(r)} fields, header has {ncol}")
        row = []
        for j in used:
            try:
                row.append(float(r[j]))
            except ValueError:
                raise ClipError(f"{path}: line {line}: {header[j]} value {r[j][:40]!r} is not a number") from None
        cells.append(r[tc_col])
        lines.append(line)
        values.append(row)
    if not values:
        raise ClipError(f"{path}: no frames in CSV")
    data = np.array(values, dtype=np.float64).reshape(len(values), len(used))
    if not np.all(np.isfinite(data)):
        raise ClipError(f"{path}: NaN or infinite values")
    return cells, lines, data, columns.compact()


def _row_times(cells: list[str], lines: list[int], path: Path, *, fps: float | None,
               timecode_rate: float | None) -> np.ndarray:
    """(rows,) float64 seconds of each row from the take's start (midnight wraps undone)."""
    secs, frames = _parse_timecodes(cells, lines, path)
    if frames is None:  # HH:MM:SS.sss
        t = secs
    elif frames.size == 0:  # plain frame numbers
        t = secs / float(fps or timecode_rate or DEFAULT_RATE)
    else:
        rate = timecode_rate
        if rate is None:
            crossed = np.any(np.diff(secs) != 0)
            rate = _snap_rate(float(np.floor(frames.max())) + 1) if crossed else float(fps or DEFAULT_RATE)
            if rate > MAX_RATE_HZ:
                raise ClipError(f"{path}: timecode frame numbers (FF) reach {frames.max():.0f}, more than a "
                                f"{MAX_RATE_HZ:g} fps timecode has; pass the timecode rate")
        t = secs + frames / rate
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.asarray(t, dtype=np.float64)
        d = np.diff(t)
        if np.any(d < -HALF_DAY_S):  # crossed midnight
            t = t + 2 * HALF_DAY_S * np.concatenate([[0], np.cumsum(d < -HALF_DAY_S)])
        t = t - t[0]
    if not np.all(np.isfinite(t)):
        raise ClipError(f"{path}: timecodes out of range")
    return t


def _clip(res: np.ndarray, columns: _Columns, *, fps: float, duration_s: float, source: str,
          rad_per_unit: float = 1.0) -> Clip:
    """The resampled columns (n, header columns) as a clip: expression, head and eye joints."""
    n = res.shape[0]
    expr = np.zeros((n, len(ARKIT_NAMES)), np.float32)
    for k, j in columns.shapes.items():
        expr[:, k] = np.clip(res[:, j], 0.0, 1.0)
    rot = np.zeros((n, len(ROTATION_COLUMNS)))
    for k, j in columns.rotations.items():
        rot[:, k] = res[:, j] * rad_per_unit
    sk = canonical_skeleton()
    angles = np.zeros((n, sk.num_joints, 3))
    for name, sl in (("head", slice(0, 3)), ("left_eye", slice(3, 6)), ("right_eye", slice(6, 9))):
        angles[:, sk.index(name)] = matrix_to_axis_angle(euler_to_matrix(rot[:, sl], "YXZ"))
    meta = make_meta(fps=fps, duration_s=duration_s, mode="livelink-import", source_file=source)
    clip = Clip(fps=fps, duration_s=duration_s, expression=expr, joint_angles=angles.astype(np.float32),
                joint_names=sk.names, joint_parents=sk.parents, root_translation=np.zeros((n, 3), np.float32),
                lip_vertices=np.zeros((n, 0, 3), np.float32), lip_vertex_ids=np.zeros(0, np.int64), meta=meta)
    return clip.validate()
