"""The Live Link CSV reader on hostile timecodes (issue 16, items 7 and 11): the frame grid and the rate are
bounded by the file, and unreadable timecodes are one ClipError line."""
import numpy as np
import pytest

from rigs.core.arkit import LIVELINK_COLUMNS
from rigs.core.errors import ClipError
from rigs.formats import livelink


def _csv(tmp_path, timecodes, name="t.csv"):
    lines = ["Timecode,BlendShapeCount," + ",".join(LIVELINK_COLUMNS[:3])]
    lines += [f"{tc},61,{0.1 * (i % 10):.1f},0.2,0.3" for i, tc in enumerate(timecodes)]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _tc(frame, rate=60):
    s, ff = divmod(frame, rate)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}.000"


def test_one_far_timecode_does_not_make_a_huge_grid(tmp_path):
    """Issue 16.7: 60 rows and one 10 hours later made a dense 2.16 M-frame grid (2.6 GB from 1.4 KB)."""
    p = _csv(tmp_path, [_tc(i) for i in range(60)] + [_tc(10 * 3600 * 60)])
    assert p.stat().st_size < 4096
    with pytest.raises(ClipError, match="line 62: the timecode jumps 35999 s after the previous row"):
        livelink.read_livelink_csv(p)


def test_sparse_rows_do_not_make_a_huge_grid(tmp_path):
    """Rows 9 s apart pass the gap bound, but 50 rows spanning 10800 frames at 60 fps are refused."""
    p = _csv(tmp_path, [_tc(i) for i in range(30)] + [_tc(9 * 60 * k) for k in range(1, 21)])
    with pytest.raises(ClipError, match="frames are missing"):
        livelink.read_livelink_csv(p)


def test_microsecond_timecodes_do_not_infer_a_megahertz_rate(tmp_path):
    """Issue 16.7: rows a microsecond apart gave a 1e6 fps clip."""
    p = _csv(tmp_path, [f"00:00:00.{i:06d}" for i in range(20)])
    with pytest.raises(ClipError, match=r"1e\+06 rows per second.*at most 240"):
        livelink.read_livelink_csv(p)
    p = _csv(tmp_path, [f"00:00:0{s}:{f:06d}.000" for s in range(2) for f in (0, 500000, 999999)], "ff.csv")
    with pytest.raises(ClipError, match="FF.*reach 999999"):
        livelink.read_livelink_csv(p)


@pytest.mark.parametrize("bad,needle", [
    ("inf", "timecode 'inf' is not a finite number"),
    ("nan", "timecode 'nan' is not a finite number"),
    ("9" * 4300, "unreadable timecode .*4300 characters"),
    ("9" * 4300 + ":00:00:00.000", "unreadable timecode .*4313 characters"),
    ("00:00:00:" + "9" * 4300, "unreadable timecode .*4309 characters"),
    ("1e308", "jumps"),
])
def test_unreadable_timecodes_are_one_line(tmp_path, bad, needle):
    """Issue 16.11: `inf` and 4300-digit timecodes were tracebacks (ValueError, int conversion limit)."""
    ok = ["0", "1"] if not bad[:1].isdigit() or bad == "1e308" or len(bad) == 4300 else [_tc(0), _tc(1)]
    with pytest.raises(ClipError, match=needle):
        livelink.read_livelink_csv(_csv(tmp_path, ok + [bad]))


def test_a_take_with_dropped_frames_still_reads(tmp_path):
    """The bounds leave real takes alone: 60 fps with every fourth frame dropped spans 1.5 s."""
    frames = [i for i in range(90) if i % 4 != 2]
    c = livelink.read_livelink_csv(_csv(tmp_path, [_tc(i) for i in frames]))
    assert c.fps == 60.0 and c.num_frames == 90
    assert np.all(np.isfinite(c.expression))


@pytest.mark.parametrize("kw", [{"fps": float("inf")}, {"fps": 0.0}, {"fps": 5000.0}, {"timecode_rate": 1e6},
                                {"timecode_rate": float("nan")}])
def test_rate_arguments_are_bounded(tmp_path, kw):
    with pytest.raises(ClipError, match="must be a number of frames per second"):
        livelink.read_livelink_csv(_csv(tmp_path, [_tc(i) for i in range(10)]), **kw)
