"""What the command line shows: progress bars on stderr (none for quick stages), JSON lines only when asked,
a child's own output kept back unless -v or a failure, and stdout left to the one result line."""
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from conftest import requires_bpy

from engine import console
from engine.cli import main


def _tone(path, *, sr=16000, dur=1.0):
    t = np.arange(int(sr * dur)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), sr)
    return path


def test_stage_bars_one_line_per_stage_with_the_runs_percentage(monkeypatch):
    monkeypatch.setattr(console, "STAGE_BAR_DELAY_S", 0.0)
    monkeypatch.setattr(console, "BAR_MIN_INTERVAL_S", 0.0)
    out = io.StringIO()
    with console.StageBars(file=out) as bars:
        bars("analyze", 0.0)
        for f in (0.1, 0.2, 0.3, 0.4):
            bars("phones", f)
        bars("face", 0.5)
    text = out.getvalue().replace("\r", "\n")
    assert "{" not in text                                   # no JSON
    finals = [ln for ln in text.split("\n") if ln.strip()]
    phones = [ln for ln in finals if ln.startswith("phones")]
    assert "20%" in phones[1] and "left" in phones[1]        # the run's percentage and its time left
    assert "50%" in phones[-1] and "left" not in phones[-1]  # ends where the next stage starts
    assert any(ln.startswith("face") for ln in finals)


def test_quick_stages_leave_no_bar():
    out = io.StringIO()
    with console.StageBars(file=out) as bars:
        for stage, f in (("load", 0.0), ("analyze", 0.1), ("face", 0.5), ("done", 1.0)):
            bars(stage, f)
    assert out.getvalue() == ""


def test_frame_bar_counts_frames():
    out = io.StringIO()
    bar = console.FrameBar(file=out)
    for i in range(1, 11):
        bar(i, 10)
    bar.close()
    assert "10/10 frames" in out.getvalue().replace("\r", "\n")


CHILD = textwrap.dedent("""
    import json, sys
    print("Video append frame 1", flush=True)
    print("EGL Error (0x3009): EGL_BAD_MATCH", file=sys.stderr, flush=True)
    for i in (1, 2):
        print(json.dumps({"stage": "render", "progress": i / 2, "frame": i, "of": 2}), file=sys.stderr, flush=True)
    print(json.dumps({"warning": "no audio"}), file=sys.stderr, flush=True)
    if sys.argv[1] == "fail":
        print("parley: error: boom", file=sys.stderr, flush=True)
        sys.exit(2)
    print(json.dumps({"out": "o.mp4", "frames": 2}), flush=True)
""")


@pytest.mark.parametrize("verbose", [False, True])
def test_run_child_keeps_its_chatter_back_unless_verbose(verbose, capsys):
    seen = []
    run = console.run_child([sys.executable, "-c", CHILD, "ok"], on_progress=seen.append, verbose=verbose)
    err = capsys.readouterr().err
    assert run.returncode == 0 and run.result == {"out": "o.mp4", "frames": 2}
    assert [d["frame"] for d in seen] == [1, 2] and run.warnings == ["no audio"]
    assert "Video append frame 1" in run.log and any("EGL Error" in ln for ln in run.log)
    assert ("Video append" in err and "EGL Error" in err) == verbose
    assert "render" not in err                               # progress went to the callback, not the terminal


def test_run_child_failure_keeps_the_error_and_the_log(capsys):
    run = console.run_child([sys.executable, "-c", CHILD, "fail"])
    assert run.returncode == 2 and run.result is None
    assert run.errors == ["parley: error: boom"] and "Video append frame 1" in run.log
    assert capsys.readouterr().err == ""


def test_animate_shows_bars_not_json_and_stdout_is_the_path(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(console, "STAGE_BAR_DELAY_S", 0.0)
    out = tmp_path / "a.npz"
    assert main(["animate", str(_tone(tmp_path / "a.wav")), "-o", str(out), "--mode", "neutral"]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines() == [str(out)]
    assert "%|" in cap.err and "animate" in cap.err           # a bar on stderr
    assert not any(ln.strip().startswith("{") for ln in cap.err.replace("\r", "\n").splitlines())


def test_animate_progress_json_is_json_lines_only(tmp_path, capsys):
    out = tmp_path / "a.npz"
    assert main(["animate", str(_tone(tmp_path / "a.wav")), "-o", str(out), "--mode", "neutral",
                 "--progress-json"]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines() == [str(out)]
    lines = [json.loads(s) for s in cap.err.strip().splitlines()]   # every stderr line is JSON
    assert lines and all(set(d) == {"stage", "progress"} for d in lines)
    assert "%|" not in cap.err


def test_phone_timing_reports_progress_on_long_recordings(data_dir):
    """Recognition of a recording longer than one decoding segment reports rising fractions ending at 1."""
    from engine.audio.load import load_audio
    from engine.phonetics import PhoneticsConfig, phone_timing

    audio = load_audio(data_dir / "speech" / "jfk.flac")
    seen = []
    phone_timing(audio, config=PhoneticsConfig(segment_s=3.0), progress=seen.append)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def rig(tmp_path_factory, data_dir):
    pytest.importorskip("bpy")
    from addon.blender.demo_character import build

    return build(tmp_path_factory.mktemp("rig") / "demo.blend")


@requires_bpy
@pytest.mark.parametrize("verbose", [False, True])
def test_render_hides_blenders_output_unless_verbose(tmp_path, capfd, rig, verbose):
    from rigs.core.clip import neutral_clip, save_clip

    clip = save_clip(neutral_clip(0.3, fps=10), tmp_path / "c.npz")
    out = tmp_path / "c.mp4"
    argv = ["render", str(clip), "-o", str(out), "--rig", str(rig), "--resolution", "32x18"]
    assert main(argv + (["-v"] if verbose else [])) == 0
    cap = capfd.readouterr()
    result = [json.loads(s) for s in cap.out.splitlines()]
    assert len(result) == 1 and result[0]["out"] == str(out) and result[0]["frames"] == 3 and out.is_file()
    assert ("Video append frame" in cap.err) == verbose
    assert "3/3 frames" in cap.err.replace("\r", "\n")          # the bar, on stderr
    if not verbose:
        assert "EGL" not in cap.err and "Read blend" not in cap.err


@requires_bpy
def test_render_progress_json(tmp_path, capfd, rig):
    from rigs.core.clip import neutral_clip, save_clip

    clip = save_clip(neutral_clip(0.3, fps=10), tmp_path / "c.npz")
    assert main(["render", str(clip), "-o", str(tmp_path / "c.mp4"), "--rig", str(rig), "--resolution", "32x18",
                 "--progress-json"]) == 0
    cap = capfd.readouterr()
    lines = [json.loads(s) for s in cap.err.strip().splitlines() if s.startswith("{")]
    assert [d["frame"] for d in lines if d["stage"] == "render"] == [1, 2, 3]
    assert lines[0]["stage"] == "scene" and all(0.0 <= d["progress"] <= 1.0 for d in lines)
    assert "%|" not in cap.err and len(cap.out.splitlines()) == 1


def test_render_subprocess_stdout_is_one_line(tmp_path):
    """The renderer's front end, run as `python -m engine`: a bad clip is one error line on stderr, nothing on
    stdout (no Blender needed to get that far)."""
    r = subprocess.run([sys.executable, "-m", "engine", "render", str(tmp_path / "none.npz"), "-o",
                        str(tmp_path / "o.mp4")], capture_output=True, text=True,
                       cwd=__import__("pathlib").Path(__file__).resolve().parent.parent)
    if "needs Blender" in r.stderr:
        pytest.skip("bpy not installed")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1].startswith("parley: error: ")
