"""``parley batch``: the manifest's bad input, per-row failures, resume after Ctrl-C and ``kill -9``, a worker
that dies mid-line, a full disk, the local Ray run against the local one, and one phonetic line."""
from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.batch.job import BatchConfig, run_batch
from engine.batch.manifest import read_manifest
from engine.batch.store import export_csv
from engine.batch.testing import DyingFactory
from rigs.core.clip import load_clip
from rigs.core.errors import ConfigError, OutputError

ROOT = Path(__file__).resolve().parent.parent
SR = 16000
NEUTRAL = BatchConfig(mode="neutral", workers=0)


def _wav(path: Path, duration_s: float, *, freq_hz: float = 220.0) -> Path:
    import soundfile as sf

    t = np.arange(int(duration_s * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * freq_hz * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(path, x.astype(np.float32), SR)
    return path


def _manifest(folder: Path, text: str, *, bom: bool = False, name: str = "lines.csv") -> Path:
    p = folder / name
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return p


def _rows(out: Path) -> dict[str, dict]:
    db = sqlite3.connect(out / "results.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["id"]: dict(r) for r in db.execute("SELECT * FROM lines")}
    finally:
        db.close()


def _lines(folder: Path, n: int, *, duration_s: float = 0.6) -> Path:
    for i in range(n):
        _wav(folder / f"a{i}.wav", duration_s, freq_hz=150.0 + 10 * i)
    return _manifest(folder, "id,audio,seed\n" + "".join(f"l{i:02d},a{i}.wav,{i}\n" for i in range(n)))


def test_manifest_bom_aliases_unknown_columns_and_duplicate_ids(tmp_path):
    m = _manifest(tmp_path, "Line ID,Audio Path,Text,Mood,seed\n"
                            "a1,x.wav,hello there,,1\n"
                            "\n"
                            "A1,y.wav,,,2\n"          # the same id but for case: the files would collide
                            "b/2,z.wav,,,\n"          # not a file name
                            ",z.wav,,,\n"
                            "c3,,,,\n"                # no audio: a failed line, not a rejected one
                            "d4,w.wav,,,5,extra\n"
                            "e5,v.wav,\"two\nlines, quoted\",,\n"
                            "a1,u.wav,,,\n", bom=True)
    man = read_manifest(m)
    assert [r.id for r in man.rows] == ["a1", "c3", "d4", "e5"]
    assert man.rows[3].transcript == "two\nlines, quoted" and man.rows[3].line == 9
    assert man.rows[0].audio == "x.wav" and man.rows[0].transcript == "hello there" and man.rows[0].seed == "1"
    assert man.rows[1].problem == "no audio path"
    assert "6 cells but the header has 5" in man.rows[2].problem
    assert [(r.line, r.id) for r in man.rejected] == [(4, "A1"), (5, "b/2"), (6, ""), (11, "a1")]
    assert "duplicate id 'A1' (first on line 2)" in man.rejected[0].reason
    assert "not usable as a file name" in man.rejected[1].reason
    assert len(man.warnings) == 1 and "Mood" in man.warnings[0]


@pytest.mark.parametrize("text, message", [
    ("audio,seed\nx.wav,1\n", "no 'id' column"),
    ("", "is empty"),
    ("id,audio,audio_path\nx,y,z\n", "more than once"),
])
def test_unusable_manifests_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        read_manifest(_manifest(tmp_path, text))
    (tmp_path / "latin1.csv").write_bytes(b"id,audio\n\xe9,x.wav\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_manifest(tmp_path / "latin1.csv")


def test_failing_rows_fail_alone_and_a_rerun_skips_what_is_done(tmp_path):
    _wav(tmp_path / "good.wav", 0.8)
    _wav(tmp_path / "other.wav", 0.5)
    (tmp_path / "bad.wav").write_bytes(b"RIFF but not audio")
    m = _manifest(tmp_path, "id,audio,emotion,seed,partner,notes\n"
                            "ok,good.wav,joy:0.5,3,other.wav,x\n"
                            "missing,nowhere.wav,,,,\n"
                            "garbage,bad.wav,,,,\n"
                            "badseed,good.wav,,three,,\n"
                            "sad,good.wav,\"sadness:0.3,joy:0.2\",,,\n"
                            "badmood,good.wav,grumpy,,,\n"
                            "lonely,good.wav,,,absent.wav,\n"
                            "ok,other.wav,,,,\n", bom=True)
    out = tmp_path / "out"
    s = run_batch(m, out, config=BatchConfig(mode="neutral", workers=0, bvh=True, livelink=True))
    assert (s.done, s.failed, s.rejected, s.skipped) == (2, 5, 1, 0)
    rows = _rows(out)
    assert {k: r["status"] for k, r in rows.items()} == {"ok": "done", "sad": "done", "missing": "failed",
                                                          "garbage": "failed", "badseed": "failed",
                                                          "badmood": "failed", "lonely": "failed"}
    assert "not found" in rows["missing"]["error"]
    assert "not an audio file" in rows["garbage"]["error"]
    assert "'three' is not a whole number" in rows["badseed"]["error"]
    assert "unknown emotion 'grumpy'" in rows["badmood"]["error"]
    assert "partner audio file" in rows["lonely"]["error"] and "not found" in rows["lonely"]["error"]
    assert rows["ok"]["partner"] == "other.wav"
    clip = load_clip(out / rows["ok"]["clip"])
    assert abs(clip.duration_s - 0.8) < 1.0 / 30 and clip.meta["seed"] == 3
    assert clip.meta["emotion"] == {"joy": 0.5}
    assert (out / "bvh" / "ok.bvh").read_text().startswith("HIERARCHY")
    assert (out / "livelink" / "sad.csv").read_text().startswith("Timecode")

    # a rerun skips the done lines (their rows are not rewritten) and tries the failed ones again
    stamp = rows["ok"]["updated_at"]
    s2 = run_batch(m, out, config=BatchConfig(mode="neutral", workers=0, bvh=True, livelink=True))
    assert (s2.done, s2.skipped, s2.failed) == (0, 2, 5)
    assert _rows(out)["ok"]["updated_at"] == stamp
    # other settings (no BVH now) or other audio bytes make a line run again
    _wav(tmp_path / "good.wav", 1.0)
    s3 = run_batch(m, out, config=BatchConfig(mode="neutral", workers=0, bvh=True, livelink=True))
    assert (s3.done, s3.skipped) == (2, 0)
    assert abs(load_clip(out / "clips" / "ok.npz").duration_s - 1.0) < 1.0 / 30
    s4 = run_batch(m, out, config=BatchConfig(mode="neutral", workers=0))
    assert (s4.done, s4.skipped) == (2, 0)
    # so does another partner recording (the line 'ok' listens to other.wav), and only that line
    _wav(tmp_path / "other.wav", 0.7)
    s5 = run_batch(m, out, config=BatchConfig(mode="neutral", workers=0))
    assert (s5.done, s5.skipped) == (1, 1)

    n, rejected = export_csv(out, tmp_path / "results.csv")
    text = (tmp_path / "results.csv").read_text()
    assert (n, rejected) == (7, 1) and text.startswith("id,line,audio")
    assert "duplicate id 'ok'" in text and ",rejected," in text


def _cli(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "engine", "batch", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_done(out: Path, at_least: int, proc: subprocess.Popen, timeout_s: float = 60.0) -> int:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if (out / "results.sqlite").exists():
            try:
                n = sum(r["status"] == "done" for r in _rows(out).values())
            except sqlite3.OperationalError:
                n = 0
            if n >= at_least:
                return n
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the batch made no progress")


def test_ctrl_c_and_kill_9_lose_nothing_and_the_rerun_finishes(tmp_path):
    n = 16
    m = _lines(tmp_path, n)
    out = tmp_path / "out"
    args = (m, "--out", out, "--mode", "neutral", "--workers", "1", "--livelink")
    # Ctrl-C: the driver stops its worker, exits 130 and keeps what is done
    p = _cli(*args)
    _wait_done(out, 2, p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "interrupted" in err
    done_after_int = {k for k, r in _rows(out).items() if r["status"] == "done"}
    assert 2 <= len(done_after_int) < n
    # kill -9 of the driver and its worker together, mid-batch
    p = _cli(*args, start_new_session=True)
    _wait_done(out, len(done_after_int) + 2, p)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    rows = _rows(out)
    done = {k for k, r in rows.items() if r["status"] == "done"}
    assert done_after_int < done and len(done) < n, "the kill came too late to test anything"
    for k in done:   # every line the table calls done has whole files
        assert load_clip(out / rows[k]["clip"]).num_frames == 18
        assert len((out / rows[k]["livelink"]).read_text().splitlines()) == 1 + 36
    p = _cli(*args)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert f"{n - len(done)} done, {len(done)} already done, 0 failed" in stdout
    rows = _rows(out)
    assert all(r["status"] == "done" for r in rows.values()) and len(rows) == n
    assert not [f for f in out.rglob(".*.tmp*")], "temp files left behind"
    db = sqlite3.connect(out / "results.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_worker_that_dies_is_replaced_and_its_line_retried_once(tmp_path):
    m = _lines(tmp_path, 3)
    (tmp_path / "a1.wav").rename(tmp_path / "die.wav")
    m.write_text(m.read_text().replace("a1.wav", "die.wav"))
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "once"
    s = run_batch(m, out, config=BatchConfig(mode="neutral", workers=1),
                  factory=DyingFactory(die_on="die", marker_dir=str(markers), times=1))
    rows = _rows(out)
    assert s.done == 3 and s.failed == 0
    assert rows["l01"]["attempts"] == 2 and rows["l00"]["attempts"] == 1
    assert len(list(markers.iterdir())) == 1

    out = tmp_path / "always"
    s = run_batch(m, out, config=BatchConfig(mode="neutral", workers=2),
                  factory=DyingFactory(die_on="die", marker_dir=str(markers), times=99))
    rows = _rows(out)
    assert (s.done, s.failed) == (2, 1)
    assert rows["l01"]["status"] == "failed" and rows["l01"]["attempts"] == 2
    assert "killed by SIGKILL" in rows["l01"]["error"] and "2 times" in rows["l01"]["error"]
    assert not (out / "clips" / "l01.npz").exists()


def test_a_full_disk_stops_the_batch_with_a_clear_error_and_keeps_what_is_done(tmp_path, monkeypatch):
    import rigs.core.files as files

    m = _lines(tmp_path, 4)
    out = tmp_path / "out"
    monkeypatch.setattr(files, "free_bytes", lambda folder: 1000)
    with pytest.raises(OutputError, match="1 kB free"):
        run_batch(m, out, config=NEUTRAL)
    calls = []

    def filling(folder):   # room for the start and the first two lines, then the output's disk is full
        if not str(folder).startswith(str(out)):
            return 10**9     # the worker's temp folder
        calls.append(folder)
        return 10**9 if len(calls) <= 3 else 0

    monkeypatch.setattr(files, "free_bytes", filling)
    with pytest.raises(OutputError, match="cannot write the files of line l02: 0 bytes free"):
        run_batch(m, out, config=NEUTRAL)
    rows = _rows(out)
    assert sorted(k for k, r in rows.items() if r["status"] == "done") == ["l00", "l01"]
    assert sorted(p.name for p in (out / "clips").iterdir()) == ["l00.npz", "l01.npz"]
    monkeypatch.setattr(files, "free_bytes", lambda folder: 10**9)
    s = run_batch(m, out, config=NEUTRAL)
    assert (s.done, s.skipped) == (2, 2)


def test_cli_exit_codes_lock_export_and_no_ray(tmp_path, monkeypatch):
    from engine.batch.job import _folder_lock
    from engine.cli import main

    m = _lines(tmp_path, 2)
    out = tmp_path / "out"
    assert main(["batch", str(m), "--out", str(out), "--mode", "neutral", "--workers", "0"]) == 0
    m.write_text(m.read_text() + "l09,nowhere.wav,1\n")
    assert main(["batch", str(m), "--out", str(out), "--mode", "neutral", "--workers", "0"]) == 1
    assert main(["batch", "export", str(out), "--csv", str(tmp_path / "r.csv")]) == 0
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1 + 3
    assert main(["batch", "export", str(out)]) == 2
    assert main(["batch", str(m)]) == 2
    with _folder_lock(out):
        with pytest.raises(ConfigError, match="another batch is running"):
            run_batch(m, out, config=NEUTRAL)
    import engine.batch.ray_pool as ray_pool

    monkeypatch.setattr(ray_pool, "ray_available", lambda: False)
    with pytest.raises(ConfigError, match=r"needs Ray: pip install"):
        run_batch(m, out, config=BatchConfig(mode="neutral", ray="auto"))


def test_a_phonetic_line_with_a_transcript(data_dir, tmp_path):
    sp = data_dir / "speech"
    m = _manifest(tmp_path, f"id,audio,transcript,partner\nsr,{sp / 'sr_english.wav'},one two three,{sp / 'jfk.flac'}\n")
    s = run_batch(m, tmp_path / "out", config=BatchConfig(workers=0, mode="phonetic"))
    assert s.done == 1
    clip = load_clip(tmp_path / "out" / "clips" / "sr.npz")
    assert clip.meta["mode"] == "phonetic" and clip.meta["transcript"] == "one two three"
    assert clip.meta["partner_audio"] == "jfk.flac" and clip.meta["partner_speech_found"]   # it listened
    jaw = clip.expression[:, clip.expression_names.index("jawOpen")]
    assert jaw.max() > 0.1 and clip.phonemes   # the mouth opens on the words and the phones are timed


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is not installed (pip install 'parley[scale]'): the Ray run is not tested")
def test_ray_gives_the_same_files_as_local_workers(data_dir, tmp_path):
    import ray

    from engine.batch.ray_pool import keep_signal_handlers

    speech = data_dir / "speech" / "sr_english.wav"
    _wav(tmp_path / "a1.wav", 0.6)
    # phonetic lines (aligned and recognised: lip vertices from the lip model, where BLAS threads would show),
    # a neutral one and a missing file
    m = _manifest(tmp_path, f"id,audio,transcript,mode,seed\nl00,{speech},one two three,phonetic,1\n"
                            f"l01,a1.wav,,neutral,2\nl02,{speech},,phonetic,3\nl03,nowhere.wav,,,4\n")
    cfg = dict(mode="neutral", bvh=True, livelink=True)
    local = run_batch(m, tmp_path / "local", config=BatchConfig(workers=1, **cfg))
    with keep_signal_handlers():      # Ray's SIGTERM handler must not outlive this test
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "PARLEY_DATA": str(data_dir)}})
    # and an actor that dies under a line is replaced and the line retried, as with local workers
    (tmp_path / "markers").mkdir()
    dying = DyingFactory(die_on="a1", marker_dir=str(tmp_path / "markers"), times=1)
    try:
        remote = run_batch(m, tmp_path / "ray", config=BatchConfig(workers=2, ray="auto", **cfg), factory=dying)
    finally:
        ray.shutdown()
    assert (local.done, local.failed) == (remote.done, remote.failed) == (3, 1)
    assert _rows(tmp_path / "ray")["l01"]["attempts"] == 2
    assert len(list((tmp_path / "markers").iterdir())) == 1
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.*")
                   if p.suffix in (".npz", ".bvh", ".csv"))
    assert len(files) == 9
    assert load_clip(tmp_path / "local" / "clips" / "l00.npz").lip_vertices.std(axis=0).max() > 1e-4
    for f in files:   # byte for byte: the clips' zip members carry no timestamps of the run
        assert (tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes(), f
    a, b = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    keys = ("status", "content_hash", "error", "clip", "bvh", "livelink")
    assert {k: [r[c] for c in keys] for k, r in a.items()} == {k: [r[c] for c in keys] for k, r in b.items()}
