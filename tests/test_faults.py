"""Bad input and faults (issue 16, part 2): one regression test per case, data loss first.

Outputs that are inputs, takes written all or none, signals that clean up, write-protected files, read-only
folders, full disks and long names, transcript files that are FIFOs, devices, huge or UTF-16, the render
size cap, fake rigs and bad audio for ``render``, escape codes in ``info``, a wrong PARLEY_DATA, and the
one error prefix. Full disks and read-only folders are real (a small tmpfs) where the test may mount one
(root), and simulated (ENOSPC/EROFS from the system call) everywhere.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import requires_bpy

from engine.cli import main
from rigs.core import files, signals
from rigs.core.clip import load_clip, make_meta, neutral_clip, save_clip
from rigs.core.errors import OutputError

ROOT = Path(__file__).resolve().parent.parent


def _tone(path, *, sr=16000, dur=1.0):
    t = np.arange(int(sr * dur)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), sr)
    return path


def _clip_file(path, *, dur=1.0, **meta):
    c = neutral_clip(dur, fps=30.0)
    c.meta = make_meta(fps=30.0, duration_s=dur, mode="test", **meta)
    return save_clip(c, path)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parley: error: ") and "Traceback" not in err, lines
    return lines[0]


def _listing(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


@contextlib.contextmanager
def _tmpfs(path: Path, *, size: str, read_only: bool = False):
    """A real small file system at ``path`` (skips the test where mounting is not allowed)."""
    if shutil.which("mount") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    opts = f"size={size}" + (",ro" if read_only else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ------------------------------------------------------------------------------------------------------------
# 1. an output is never an input, and its extension matches its format

def test_animate_refuses_to_write_over_its_audio_directly_and_through_links(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    before = audio.read_bytes()
    os.link(audio, tmp_path / "hard.npz")
    os.symlink(audio, tmp_path / "soft.npz")
    for out in ("v.wav", "hard.npz", "soft.npz"):
        assert main(["animate", str(audio), "-o", str(tmp_path / out), "--mode", "neutral"]) == 2, out
        assert "is the input" in _one_error_line(capsys.readouterr().err)
    assert audio.read_bytes() == before
    assert _listing(tmp_path) == ["hard.npz", "soft.npz", "v.wav"]


def test_animate_refuses_to_write_over_its_transcript_file(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    tr = tmp_path / "words.npz"
    tr.write_text("hello", encoding="utf-8")
    assert main(["animate", str(audio), "-o", str(tr), "--transcript-file", str(tr), "--mode", "neutral"]) == 2
    assert "is the input" in _one_error_line(capsys.readouterr().err)
    assert tr.read_text() == "hello"


def test_export_refuses_to_write_over_its_clip(tmp_path, capsys):
    clip = _clip_file(tmp_path / "c.npz")
    before = clip.read_bytes()
    os.symlink(clip, tmp_path / "link.json")
    for argv in (["--json", str(clip)], ["--json", str(tmp_path / "link.json")], ["--bvh", str(clip)]):
        assert main(["export", str(clip), *argv]) == 2, argv
        assert "is the input" in _one_error_line(capsys.readouterr().err)
    assert clip.read_bytes() == before and load_clip(clip).num_frames == 30


@pytest.mark.parametrize("argv, expected", [
    (["animate", "{audio}", "-o", "{tmp}/out.wav", "--mode", "neutral"], ".npz"),
    (["export", "{clip}", "--json", "{tmp}/out.csv"], ".json"),
    (["export", "{clip}", "--livelink", "{tmp}/out.json"], ".csv"),
    (["export", "{clip}", "--bvh", "{tmp}/out.txt"], ".bvh"),
])
def test_output_extension_must_match_the_format(tmp_path, capsys, argv, expected):
    audio = _tone(tmp_path / "v.wav")
    clip = _clip_file(tmp_path / "c.npz")
    argv = [a.format(audio=audio, clip=clip, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    assert f"must end in {expected}" in _one_error_line(capsys.readouterr().err)
    assert _listing(tmp_path) == ["c.npz", "v.wav"]


@requires_bpy
def test_render_refuses_to_write_over_its_audio_or_clip_and_wants_mp4(tmp_path, capfd):
    audio = _tone(tmp_path / "voice.wav")
    clip = _clip_file(tmp_path / "c.npz")
    before = audio.read_bytes(), clip.read_bytes()
    for argv, msg in (([str(clip), "--audio", str(audio), "-o", str(audio)], "is the input"),
                      ([str(clip), "-o", str(clip)], "is the input"),
                      ([str(clip), "-o", str(tmp_path / "c.avi")], "must end in .mp4")):
        assert main(["render", *argv]) == 2, argv
        assert msg in capfd.readouterr().err.strip().splitlines()[-1]
    assert (audio.read_bytes(), clip.read_bytes()) == before
    assert _listing(tmp_path) == ["c.npz", "voice.wav"]


# ------------------------------------------------------------------------------------------------------------
# 2. --samples K: all takes or none; every old take survives a failure or Ctrl-C

def _old_takes(tmp_path, k=3):
    paths = [tmp_path / f"t_take{i:02d}.npz" for i in range(1, k + 1)]
    for p in paths:
        p.write_bytes(b"old " + p.name.encode())
    return paths


@pytest.mark.parametrize("fault", [OSError(errno.EIO, "I/O error"), KeyboardInterrupt()])
def test_a_failing_second_take_keeps_every_old_take(tmp_path, monkeypatch, fault):
    import engine.runtime as runtime
    audio = _tone(tmp_path / "v.wav")
    takes = _old_takes(tmp_path)
    calls = []

    def save(clip, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise fault
        return save_clip(clip, path, **kw)

    monkeypatch.setattr(runtime, "save_clip", save)
    with pytest.raises(type(fault)):
        runtime.animate_file(audio, tmp_path / "t.npz", mode="neutral", samples=3)
    assert [p.read_bytes() for p in takes] == [b"old " + p.name.encode() for p in takes]
    assert _listing(tmp_path) == sorted(["v.wav", *(p.name for p in takes)])


def test_a_failing_rename_puts_the_replaced_takes_back(tmp_path, monkeypatch):
    targets = _old_takes(tmp_path)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(OutputError, match="No space left"):
        with files.atomic_paths(targets) as tmps:
            for t in tmps:
                t.write_bytes(b"new")
    assert [p.read_bytes() for p in targets] == [b"old " + p.name.encode() for p in targets]
    assert _listing(tmp_path) == [p.name for p in targets]


def test_ctrl_c_during_the_renames_is_held_until_the_set_is_complete(tmp_path, monkeypatch):
    targets = _old_takes(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if dst == targets[0]:
            os.kill(os.getpid(), signal.SIGINT)
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    # Python's own Ctrl-C handler, whatever a library of an earlier test (Ray, Blender) left installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with files.atomic_paths(targets) as tmps:
                for t in tmps:
                    t.write_bytes(b"new")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p.read_bytes() for p in targets] == [b"new"] * 3
    assert _listing(tmp_path) == [p.name for p in targets]


def test_takes_replace_old_ones_together_on_success(tmp_path):
    import engine.runtime as runtime
    audio = _tone(tmp_path / "v.wav")
    takes = _old_takes(tmp_path, 2)
    out = runtime.animate_file(audio, tmp_path / "t.npz", mode="neutral", samples=2, request=runtime.AnimateRequest(seed=4))
    assert out == takes and [load_clip(p).meta["seed"] for p in takes] == [4, 5]
    assert _listing(tmp_path) == sorted(["v.wav", *(p.name for p in takes)])


# ------------------------------------------------------------------------------------------------------------
# 3. signals: exit 128 + N, old outputs kept, no temp file or folder left

def test_sigterm_in_a_write_removes_the_temp_file_and_exits_143(tmp_path):
    target = tmp_path / "out.npz"
    target.write_bytes(b"old")
    with pytest.raises(signals.Interrupted) as ex:
        with signals.handle_signals():
            with files.atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler raises before this ends
    assert ex.value.exit_code == 143 and "SIGTERM" in ex.value.message()
    assert target.read_bytes() == b"old" and _listing(tmp_path) == ["out.npz"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the previous handler is back


def _wait_for(predicate, timeout_s: float, what: str):
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_phone_recognition_leaves_no_temp_folder(tmp_path, data_dir, sig, code):
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    out = tmp_path / "out" / "jfk.npz"
    out.parent.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    said = ("And so my fellow Americans, ask not what your country can do for you, ask what you can do for "
            "your country.")   # PocketSphinx's alignment keeps its dictionary folder for the whole decode
    p = subprocess.Popen([sys.executable, "-m", "engine", "animate", str(data_dir / "speech" / "jfk.flac"), "-o",
                          str(out), "--mode", "phonetic", "--model", "sphinx", "--transcript", said], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(x.name.startswith("parley-ps-") for x in temp.iterdir()) or p.poll() is not None,
                  120, "the phonetics temp folder")
        assert p.poll() is None, "finished before the signal: " + p.stderr.read()
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err
    assert err.strip().splitlines()[-1] == f"parley: terminated by {signal.Signals(sig).name}"
    assert list(temp.iterdir()) == [] and list(out.parent.iterdir()) == []


def _render_and_signal(tmp_path, sig, *, group: bool):
    """Start `parley render` over an existing MP4, send ``sig`` once frames are being written, return
    (exit code, stderr, the old bytes, the folder's files)."""
    audio = _tone(tmp_path / "v.wav", dur=8.0)
    clip = tmp_path / "c.npz"
    assert main(["animate", str(audio), "-o", str(clip), "--mode", "neutral"]) == 0
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the old video")
    p = subprocess.Popen([sys.executable, "-m", "engine", "render", str(clip), "--audio", str(audio), "-o", str(out),
                          "--resolution", "160x120", "--progress-json"], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = []
    try:
        for line in p.stderr:
            lines.append(line)
            if '"frame"' in line:   # --progress-json: frames are being written
                break
        assert p.poll() is None, "".join(lines)
        if group:
            os.killpg(p.pid, sig)   # what a terminal's Ctrl-C does: the whole foreground group
        else:
            p.send_signal(sig)      # the `parley` process alone; it passes the signal on
        _, rest = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    return p.returncode, "".join(lines) + rest, out.read_bytes(), _listing(tmp_path)


@requires_bpy
def test_ctrl_c_stops_render_keeps_the_old_mp4_and_no_partial_file(tmp_path):
    code, err, old, listing = _render_and_signal(tmp_path, signal.SIGINT, group=True)
    assert code == 130, err
    assert old == b"the old video" and listing == ["c.npz", "out.mp4", "v.wav"]
    assert err.strip().splitlines()[-1] == "parley: interrupted"


@requires_bpy
def test_sigterm_to_parley_render_reaches_blender_and_cleans_up(tmp_path):
    code, err, old, listing = _render_and_signal(tmp_path, signal.SIGTERM, group=False)
    assert code == 143, err
    assert old == b"the old video" and listing == ["c.npz", "out.mp4", "v.wav"]


# ------------------------------------------------------------------------------------------------------------
# 4. write-protected outputs; read-only folders, full disks and long names before the work and at write time

def test_write_protected_outputs_are_respected(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    clip = _clip_file(tmp_path / "c.npz")
    for out, argv in ((tmp_path / "p.npz", ["animate", str(audio), "--mode", "neutral", "-o"]),
                      (tmp_path / "p.json", ["export", str(clip), "--json"])):
        out.write_bytes(b"keep me")
        out.chmod(0o444)
        assert main([*argv, str(out)]) == 2
        assert "write-protected" in _one_error_line(capsys.readouterr().err)
        assert out.read_bytes() == b"keep me"
    with pytest.raises(OutputError, match="write-protected"):  # the library writer respects it too
        save_clip(load_clip(clip), tmp_path / "p.npz")


def test_devices_are_never_replaced(tmp_path, capsys):
    clip = _clip_file(tmp_path / "c.npz")
    link = tmp_path / "null.json"
    os.symlink(os.devnull, link)
    assert main(["export", str(clip), "--json", str(link)]) == 2
    assert "not a regular file" in _one_error_line(capsys.readouterr().err)
    assert Path(os.devnull).is_char_device()


def test_problems_of_the_output_folder_are_found_before_the_work(tmp_path, capsys, monkeypatch):
    import engine.runtime as runtime
    audio = _tone(tmp_path / "v.wav")

    def no_work(*a, **k):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(runtime, "create_animator", no_work)
    real_mkstemp = files.tempfile.mkstemp

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".x.tmp"))

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz")]) == 2
    assert "Read-only file system" in _one_error_line(capsys.readouterr().err)
    monkeypatch.setattr(files.tempfile, "mkstemp", real_mkstemp)
    monkeypatch.setattr(files, "free_bytes", lambda folder: 1000)
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz")]) == 2
    assert "1 kB free" in _one_error_line(capsys.readouterr().err)
    assert _listing(tmp_path) == ["v.wav"]


def test_a_long_name_is_fine_while_it_fits_and_refused_before_the_work_when_not(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    fits = "y" * 250 + ".npz"      # the temp file's name is longer than any name allowed here: kept short
    assert main(["animate", str(audio), "-o", str(tmp_path / fits), "--mode", "neutral"]) == 0
    assert load_clip(tmp_path / fits).num_frames == 30
    capsys.readouterr()
    assert main(["animate", str(audio), "-o", str(tmp_path / ("z" * 300 + ".npz")), "--mode", "neutral"]) == 2
    assert "file name is 304 bytes long" in _one_error_line(capsys.readouterr().err)


def test_a_full_disk_at_write_time_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import rigs.core.clip as clip_mod
    audio = _tone(tmp_path / "v.wav")
    old = _clip_file(tmp_path / "a.npz")
    before = old.read_bytes()

    def full(f, arrays):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(clip_mod, "write_npz", full)
    assert main(["animate", str(audio), "-o", str(old), "--mode", "neutral"]) == 2
    assert "No space left on device" in _one_error_line(capsys.readouterr().err)
    assert old.read_bytes() == before and _listing(tmp_path) == ["a.npz", "v.wav"]


def test_a_real_full_disk_before_and_during_the_write(tmp_path, capsys, monkeypatch):
    import engine.runtime as runtime
    audio = _tone(tmp_path / "v.wav", dur=5.0)
    with _tmpfs(tmp_path / "fs", size="64k") as fs:
        assert main(["animate", str(audio), "-o", str(fs / "a.npz"), "--mode", "neutral"]) == 2
        assert "free in" in _one_error_line(capsys.readouterr().err)   # found before the work
        monkeypatch.setattr(runtime, "check_free_space", lambda *a, **k: None)
        assert main(["animate", str(audio), "-o", str(fs / "a.npz"), "--mode", "neutral"]) == 2
        assert "No space left on device" in _one_error_line(capsys.readouterr().err)
        assert list(fs.iterdir()) == []


def test_a_real_read_only_folder(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    with _tmpfs(tmp_path / "ro", size="64k", read_only=True) as ro:
        assert main(["animate", str(audio), "-o", str(ro / "a.npz"), "--mode", "neutral"]) == 2
        assert "Read-only file system" in _one_error_line(capsys.readouterr().err)


@requires_bpy
def test_render_on_a_full_disk_is_an_error_not_a_truncated_video(tmp_path, capfd):
    clip = _clip_file(tmp_path / "c.npz")
    with _tmpfs(tmp_path / "fs", size="4k") as fs:
        assert main(["render", str(clip), "-o", str(fs / "x.mp4"), "--resolution", "320x240"]) == 2
        assert "is the disk full" in capfd.readouterr().err.strip().splitlines()[-1]
        assert list(fs.iterdir()) == []


# ------------------------------------------------------------------------------------------------------------
# 5. transcript files: no FIFO or device, a size cap, a deadline

def test_transcript_fifo_and_device_are_refused_at_once(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for src in (fifo, Path("/dev/zero")):
        t0 = time.monotonic()
        assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz"), "--transcript-file", str(src)]) == 2
        assert "not a regular file" in _one_error_line(capsys.readouterr().err)
        assert time.monotonic() - t0 < 5
    assert not (tmp_path / "a.npz").exists()


def test_transcript_size_is_capped_and_says_so(tmp_path, capsys):
    import engine.runtime as runtime
    audio = _tone(tmp_path / "v.wav")
    big = tmp_path / "big.txt"
    big.write_text("word " * (runtime.MAX_TRANSCRIPT_BYTES // 5 + 1), encoding="utf-8")
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz"), "--transcript-file", str(big)]) == 2
    assert f"at most {runtime.MAX_TRANSCRIPT_BYTES} are read" in _one_error_line(capsys.readouterr().err)
    # 1 s of audio cannot hold 2000 characters (a 2.2 MB transcript on 11 s once took 139 s and 6 GB)
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz"), "--transcript", "word " * 400]) == 2
    assert "the transcript has 1999 characters for 1.0 s of audio" in _one_error_line(capsys.readouterr().err)


def test_transcript_reading_has_a_deadline(tmp_path, monkeypatch):
    import engine.runtime as runtime
    from rigs.core.errors import ConfigError
    p = tmp_path / "t.txt"
    p.write_text("hello " * 100, encoding="utf-8")
    real_read = os.read

    def slow(fd, n):
        time.sleep(0.05)
        return real_read(fd, 1)

    monkeypatch.setattr(runtime.os, "read", slow)
    with pytest.raises(ConfigError, match="took over 0.2 s"):
        runtime.read_transcript_file(p, timeout_s=0.2)


# ------------------------------------------------------------------------------------------------------------
# 8 and 11. render: a size cap, fake rigs, bad side-by-side clips

def test_render_resolution_cap():
    from addon.blender.encode import MAX_SIDE_PX, check_resolution
    from rigs.core.errors import RenderError
    assert check_resolution(MAX_SIDE_PX, 2160) == (MAX_SIDE_PX, 2160)
    for size in ((8192, 8192), (20000, 20000), (MAX_SIDE_PX + 2, 720)):
        with pytest.raises(RenderError, match=f"limit of {MAX_SIDE_PX}"):
            check_resolution(*size)


@requires_bpy
def test_render_bad_rigs_sizes_and_side_by_side_clips_are_one_line(tmp_path, capfd):
    clip = _clip_file(tmp_path / "c.npz")
    (tmp_path / "fake.blend").write_text("not a blend file")
    (tmp_path / "cut.npz").write_bytes(clip.read_bytes()[:200])
    cases = (([str(clip), "--rig", str(tmp_path / "fake.blend")], "is not a Blender file"),
             ([str(clip), "--resolution", "20000x20000"], "limit of 4096"),
             ([str(clip), "--side-by-side", str(tmp_path / "cut.npz")], "side-by-side clip"),
             ([str(clip), "--side-by-side", str(tmp_path / "none.npz")], "no such clip file"))
    for argv, msg in cases:
        assert main(["render", *argv, "-o", str(tmp_path / "o.mp4")]) == 2, argv
        err = capfd.readouterr().err.strip().splitlines()
        assert err[-1].startswith("parley: error: ") and msg in err[-1], err
        assert not any("Traceback" in e for e in err)
    assert _listing(tmp_path) == ["c.npz", "cut.npz", "fake.blend"]


# ------------------------------------------------------------------------------------------------------------
# 12. render --audio that is missing or not audio is an error, not a silent video

@requires_bpy
def test_render_audio_typo_or_text_file_is_an_error(tmp_path, capfd):
    clip = _clip_file(tmp_path / "c.npz")
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    for audio, msg in (("voice.wvа", "not found"), ("notes.wav", "not audio")):
        assert main(["render", str(clip), "--audio", str(tmp_path / audio), "-o", str(tmp_path / "o.mp4")]) == 2
        assert msg in capfd.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "o.mp4").exists()


# ------------------------------------------------------------------------------------------------------------
# 13. `parley info` shows meta text escaped

def test_info_escapes_terminal_control_characters(tmp_path, capsys):
    evil = "\x1b[2J\x1b[Hgotcha\nsecond line\u202e.wav"
    clip = _clip_file(tmp_path / "c.npz", source_audio=evil)
    assert main(["info", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "gotcha\n" not in out
    line = next(s for s in out.splitlines() if s.startswith("source_audio"))
    assert line.endswith(r"\x1b[2J\x1b[Hgotcha\nsecond line\u202e.wav")
    assert main(["info", str(clip), "--json"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_error_lines_escape_control_characters_from_file_names(tmp_path, capsys):
    name = tmp_path / "a\nb\x1b[2J.wav"
    assert main(["animate", str(name), "-o", str(tmp_path / "o.npz")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert r"a\nb\x1b[2J.wav" in line


# ------------------------------------------------------------------------------------------------------------
# 17. a wrong PARLEY_DATA is an error, not a clip without lip vertices

def test_wrong_parley_data_is_an_error(tmp_path, capsys, monkeypatch):
    audio = _tone(tmp_path / "v.wav")
    monkeypatch.setenv("PARLEY_DATA", str(tmp_path / "no-such-data"))
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz")]) == 2
    assert "PARLEY_DATA=" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "a.npz").exists()


# ------------------------------------------------------------------------------------------------------------
# 18. messages: UTF-16 transcripts, exact fps, the one error prefix, fsync before rename

def test_utf16_transcripts_are_read_and_other_encodings_named(tmp_path, capsys):
    import engine.runtime as runtime
    from rigs.core.errors import ConfigError
    p = tmp_path / "t.txt"
    p.write_bytes("héllo wörld".encode("utf-16"))       # with a byte-order mark: read
    assert runtime.read_transcript_file(p) == "héllo wörld"
    p.write_bytes("\ufeffhello".encode("utf-8"))         # UTF-8 with a byte-order mark: read, mark dropped
    assert runtime.read_transcript_file(p) == "hello"
    p.write_bytes("hello world".encode("utf-16-le"))     # no mark
    with pytest.raises(ConfigError, match="looks like UTF-16 without a byte-order mark"):
        runtime.read_transcript_file(p)
    p.write_bytes("héllo".encode("latin-1"))
    audio = _tone(tmp_path / "v.wav")
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz"), "--transcript-file", str(p)]) == 2
    assert "is not UTF-8 text (byte 0xe9 at offset 1); save it as UTF-8" in _one_error_line(capsys.readouterr().err)


def test_fps_message_shows_the_exact_value(tmp_path, capsys):
    audio = _tone(tmp_path / "v.wav")
    assert main(["animate", str(audio), "-o", str(tmp_path / "a.npz"), "--fps", "240.0001"]) == 2
    assert "got 240.0001" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["animate"], ["animate", "a.wav", "-o", "a.npz", "--fps", "fast"], ["info"],
                                  ["export", "c.npz"], ["modes", "--bogus"], ["frobnicate"]])
def test_every_subcommand_reports_bad_options_with_the_one_prefix(capsys, argv):
    with pytest.raises(SystemExit) as ex:
        main(argv)
    assert ex.value.code == 2
    _one_error_line(capsys.readouterr().err)


def test_writes_are_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    _clip_file(tmp_path / "c.npz")
    renames = [i for i, (e, _) in enumerate(events) if e == "replace"]
    assert renames
    for i in renames:
        assert ("fsync", events[i][1]) in events[:i], events       # the file's data first
    assert ("fsync", str(tmp_path)) in events[renames[-1]:], events  # then the rename itself
