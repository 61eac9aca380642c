"""The parley CLI end to end: animate, info, takes, and every bad input as one line with exit code 2."""
import json
import subprocess
import sys
import wave

import numpy as np
import pytest
import soundfile as sf

from conftest import requires_bpy

from engine.cli import main
from rigs.core.clip import load_clip

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def _tone(path, *, sr=16000, dur=1.0, amp=0.3):
    t = np.arange(int(sr * dur)) / sr
    x = amp * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(path, x.astype(np.float32), sr)
    return path


def test_neutral_animate_and_info(tmp_path, capsys):
    a = _tone(tmp_path / "a.wav", dur=1.5)
    out = tmp_path / "a.npz"
    assert main(["animate", str(a), "-o", str(out), "--mode", "neutral", "--fps", "25"]) == 0
    c = load_clip(out)
    assert c.num_frames == round(1.5 * 25) and abs(c.duration_s - 1.5) < 1 / 25
    assert c.meta["mode"] == "neutral" and c.meta["source_audio"] == "a.wav"
    assert len(c.meta["source_sha256"]) == 64
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 38 and info["fps"] == 25.0 and info["expression_channels"] == 52


def test_takes_have_distinct_seeds(tmp_path):
    a = _tone(tmp_path / "a.wav")
    assert main(["animate", str(a), "-o", str(tmp_path / "t.npz"), "--mode", "neutral", "--samples", "3",
                 "--seed", "7"]) == 0
    seeds = [load_clip(tmp_path / f"t_take0{k}.npz").meta["seed"] for k in (1, 2, 3)]
    assert seeds == [7, 8, 9]
    assert not (tmp_path / "t.npz").exists()


def _write_nan_wav(path):
    x = np.zeros(16000, np.float32)
    x[100:200] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")


def _write_zero_length(path):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"")


def _write_absurd_rate(path):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(100)
        w.writeframes(np.zeros(400, np.int16).tobytes())


BAD_AUDIO = {
    "missing": lambda p: None,
    "empty": lambda p: p.write_bytes(b""),
    "text": lambda p: p.write_text("this is not audio at all\n" * 20),
    "zero_length": _write_zero_length,
    "nan": _write_nan_wav,
    "absurd_rate": _write_absurd_rate,
}


@pytest.mark.parametrize("kind", sorted(BAD_AUDIO))
def test_bad_audio_is_one_line_exit_2_no_output(tmp_path, capsys, kind):
    src = tmp_path / f"{kind}.wav"
    BAD_AUDIO[kind](src)
    out = tmp_path / "out.npz"
    code = main(["animate", str(src), "-o", str(out), "--mode", "neutral"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("parley: error:"), err
    assert "Traceback" not in err[0]
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ([src.name] if src.exists() else [])


def test_bad_clip_and_options(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, expression=np.zeros((3, 51)))
    assert main(["info", str(bad)]) == 2
    assert "'meta' is missing" in capsys.readouterr().err
    a = _tone(tmp_path / "a.wav")
    assert main(["animate", str(a), "-o", str(tmp_path / "x.npz"), "--emotion", "glee:0.5"]) == 2
    assert "unknown emotion 'glee'" in capsys.readouterr().err
    assert main(["animate", str(a), "-o", str(tmp_path / "x.npz"), "--emotion", "joy:3"]) == 2
    assert main(["animate", str(a), "-o", str(tmp_path / "nope" / "x.npz"), "--mode", "neutral"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["animate", str(a), "-o", str(tmp_path / "x.npz"), "--fps", "0", "--mode", "neutral"]) == 2
    assert not (tmp_path / "x.npz").exists()


def test_subprocess_error_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "engine", "animate", str(tmp_path / "none.wav"), "-o",
                        str(tmp_path / "o.npz")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "none.wav" in r.stderr


def test_progress_json_lines(tmp_path, capsys):
    a = _tone(tmp_path / "a.wav")
    assert main(["animate", str(a), "-o", str(tmp_path / "p.npz"), "--mode", "neutral", "--progress-json"]) == 0
    lines = [json.loads(s) for s in capsys.readouterr().err.strip().splitlines()]
    assert lines[0]["stage"] == "load" and lines[-1] == {"stage": "done", "progress": 1.0}
    assert all(0.0 <= x["progress"] <= 1.0 for x in lines)


def test_jfk_duration_matches_audio_within_one_frame(tmp_path, data_dir):
    src = data_dir / "speech" / "jfk.flac"
    out = tmp_path / "jfk.npz"
    assert main(["animate", str(src), "-o", str(out)]) == 0
    c = load_clip(out)
    info = sf.info(str(src))
    assert abs(c.duration_s - info.duration) <= 1 / c.fps
    assert abs(c.num_frames / c.fps - info.duration) <= 1 / c.fps
    # the default is the neural face with its shipped weights (issue 11), recorded in the meta
    assert c.meta["mode"] == "neural" and c.meta["checkpoint"]["id"].startswith("neural-face-")


def test_silent_audio_gives_valid_clip_with_warning(tmp_path, caplog):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(32000, np.float32), 16000)
    out = tmp_path / "s.npz"
    assert main(["animate", str(p), "-o", str(out)]) == 0
    c = load_clip(out)
    assert c.num_frames == 60
    assert any("speech" in r.getMessage().lower() for r in caplog.records if r.levelname == "WARNING")


@requires_bpy
def test_every_subcommand_uses_the_one_error_prefix(tmp_path, capfd):
    """render runs in the Blender layer's own process; its errors read like every other subcommand's."""
    bad_clip = tmp_path / "none.npz"
    for argv in (["info", str(bad_clip)], ["export", str(bad_clip), "--json", str(tmp_path / "o.json")],
                 ["render", str(bad_clip), "-o", str(tmp_path / "o.mp4")]):
        assert main(argv) == 2, argv
        err = capfd.readouterr().err.strip().splitlines()
        assert err and err[-1].startswith("parley: error: ") and "no such clip file" in err[-1], (argv, err)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.json").exists()
