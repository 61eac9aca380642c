"""The add-on's engine runners and Generate's state machine (pure Python, no bpy): the subprocess command,
progress lines, errors, cancellation, the mode list asked of the engine, and the in-process path."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import ROOT

from addon import job, runner


def test_runner_command_and_progress_parsing():
    spec = runner.GenerateSpec(audio_path="a.wav", seed=3, samples=2, emotion=(("joy", 0.5), ("fear", 0.0)),
                               transcript=" hi ", body=False)
    cmd = runner.animate_command("py", spec, "out.npz")
    assert cmd[:6] == ["py", "-m", "engine", "animate", "a.wav", "-o"]
    assert cmd[cmd.index("--emotion") + 1] == "joy:0.500" and cmd[cmd.index("--transcript") + 1] == "hi"
    assert "--progress-json" in cmd and "--no-body" in cmd and cmd[cmd.index("--samples") + 1] == "2"
    assert runner.parse_progress('{"stage": "animate", "progress": 0.5}') == ("animate", 0.5)
    assert runner.parse_progress('{"stage": "x", "progress": 7}') == ("x", 1.0)
    assert runner.parse_progress("parley: error: bad") is None
    assert "not found" in runner.check_interpreter("/no/such/python")
    assert "--mode" not in cmd                       # no mode chosen: the engine's own default
    assert runner.animate_command("py", runner.GenerateSpec(audio_path="a", mode="neutral"), "o")[8:10] == [
        "--mode", "neutral"]


def test_mode_list_comes_from_the_engine_registry():
    """The add-on's mode menu is the engine's registry, asked in-process or of the engine interpreter."""
    from engine.animators.registry import ANIMATORS

    asked = runner.list_modes(sys.executable, str(ROOT))
    assert [m.name for m in asked] == list(ANIMATORS.names())
    assert [m.name for m in runner.modes_in_process()] == list(ANIMATORS.names())
    assert all(m.label and m.description and m.available for m in asked)
    with pytest.raises(runner.RunError):
        runner.list_modes("/no/such/python")


def test_subprocess_run_errors_and_cancel(tmp_path):
    bad = runner.SubprocessRun(sys.executable, runner.GenerateSpec(audio_path=str(tmp_path / "none.wav"),
                                                                   mode="neutral"), engine_root=str(ROOT))
    st = _wait(bad)
    bad.cleanup()
    assert st.error and "not found" in st.error and not st.paths
    # a slow fake engine: cancel kills it and reports "cancelled"
    fake = tmp_path / "fake"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "__init__.py").write_text("")
    (fake / "engine" / "__main__.py").write_text(
        "import sys, time, json\nsys.stderr.write(json.dumps({'stage': 'animate', 'progress': 0.25}) + '\\n')\n"
        "sys.stderr.flush()\ntime.sleep(60)\n")
    run = runner.SubprocessRun(sys.executable, runner.GenerateSpec(audio_path="x.wav"), engine_root=str(fake))
    for _ in range(100):
        if run.poll().stage == "animate":
            break
        import time
        time.sleep(0.05)
    assert run.poll().progress == 0.25
    run.cancel()
    assert run.poll().done and run.poll().error == "cancelled"
    assert run.proc.poll() is not None
    run.cleanup()
    assert not run.workdir.exists()


def _wait(run, timeout_s=120.0):
    import time

    t0 = time.time()
    while not (st := run.poll()).done:
        assert time.time() - t0 < timeout_s, "engine run timed out"
        time.sleep(0.05)
    return st


# ----------------------------------------------------------------------------- Generate's state machine (no bpy)

def _engine_job(audio, *, engine_root=ROOT, **spec_kw):
    spec = runner.GenerateSpec(audio_path=str(audio), **spec_kw)
    return job.GenerateJob(lambda: runner.SubprocessRun(sys.executable, spec, engine_root=str(engine_root)))


def _poll_until(j, pred, timeout_s=120.0):
    import time

    t0, seen = time.monotonic(), []
    while not pred(st := j.poll()):
        assert time.monotonic() - t0 < timeout_s, f"timed out in state {st}"
        seen.append(st.progress)
        time.sleep(0.02)
    return st, seen


def test_job_progress_from_the_real_engine(data_dir):
    j = _engine_job(data_dir / "speech" / "jfk.flac", mode="phonetic", samples=3, seed=2)
    assert j.poll().state == "idle" and not j.history
    assert j.start().state == "running"
    st, seen = _poll_until(j, lambda st: st.done)
    assert st.state == "finished" and st.error is None and st.percent == 100 and len(st.paths) == 3
    # every JSON line of `python -m engine animate --progress-json`, in order
    hist = j.history
    stages = [h[0] for h in hist]
    assert stages[0] == "load" and stages[-2:] == ["write", "done"]
    per_take = ["analyze", "phones", "face", "body", "lips", "compose", "animated"]
    # the animator's own stages, take by take (a long stage, phone timing, may report several times)
    runs = [s for k, s in enumerate(stages) if k == 0 or s != stages[k - 1]]
    assert runs[1:-2] == per_take * 3
    fracs = [p for _, p in hist]
    assert fracs == sorted(fracs) and fracs[0] == 0 and fracs[-1] == 1
    assert np.isclose(fracs[stages.index("animated")], 0.95 / 3, atol=1e-3)  # take 1 of 3 done
    assert seen == sorted(seen) and any(0 < p < 1 for p in seen)  # the bar moved while the engine ran
    from rigs.core.clip import load_clip

    assert [load_clip(p).meta["seed"] for p in st.paths] == [2, 3, 4]
    assert job.JobStatus(stage="animate", progress=1 / 3).status_text() == "Parley: animate 33%  (Esc to cancel)"
    j.cleanup()
    assert not j.run.workdir.exists()


def test_job_cancel_stops_the_real_engine_within_a_second(data_dir):
    import time

    j = _engine_job(data_dir / "speech" / "jfk.flac", mode="phonetic", samples=30)
    j.start()
    _poll_until(j, lambda st: st.stage == "phones")
    t0 = time.monotonic()
    st = j.cancel()
    assert time.monotonic() - t0 < 1.0 and j.run.proc.poll() is not None
    assert st.state == "cancelled" and st.cancelled and st.done and st.error == "cancelled" and not st.paths
    assert not list(j.run.workdir.glob("*.npz")) and j.poll() == st  # stays cancelled
    j.cleanup()


def test_job_cancel_drops_a_clip_already_written(tmp_path):
    """An engine that wrote its clip and then hangs: cancel kills it and deletes the clip."""
    import time

    fake = tmp_path / "fake"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "__init__.py").write_text("")
    (fake / "engine" / "__main__.py").write_text(
        "import sys, time, json, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\nopen(out, 'wb').write(b'clip')\n"
        "sys.stderr.write(json.dumps({'stage': 'write', 'progress': 0.9}) + '\\n')\nsys.stderr.flush()\n"
        "time.sleep(60)\n")
    j = _engine_job("x.wav", engine_root=fake)
    j.start()
    st, _ = _poll_until(j, lambda st: st.stage == "write", timeout_s=30)
    assert st.percent == 90 and j.run.out_path.is_file()
    t0 = time.monotonic()
    st = j.cancel()  # SIGINT is ignored: killed after the grace period
    assert time.monotonic() - t0 < 1.0
    assert st.cancelled and j.run.proc.poll() is not None and not j.run.out_path.exists()
    j.cleanup()


def test_job_errors_are_one_line(tmp_path, data_dir):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio" * 50)
    j = _engine_job(junk, mode="phonetic")
    j.start()
    st, _ = _poll_until(j, lambda st: st.done)
    assert st.state == "failed" and st.error and "\n" not in st.error and not st.paths
    assert not st.error.startswith(("parley:", "error:")) and "Traceback" not in st.error
    j.cleanup()

    from rigs.core.errors import AudioError

    def broken(audio, out, **kw):
        raise AudioError("cannot decode\n   the file:\n\tbad header " + "x" * 500)

    j = job.GenerateJob(lambda: runner.InProcessRun(runner.GenerateSpec(audio_path="a.wav"), animate_file=broken))
    j.start()
    st, _ = _poll_until(j, lambda st: st.done, timeout_s=10)
    assert st.state == "failed" and st.error.startswith("cannot decode the file: bad header x")
    assert "\n" not in st.error and len(st.error) == job.MAX_ERROR_CHARS
    j.cleanup()
    # an interpreter that cannot start: start() raises, nothing runs
    j = _engine_job("a.wav")
    j._make_run = lambda: runner.SubprocessRun(str(tmp_path / "nopython"), runner.GenerateSpec(audio_path="a"))
    with pytest.raises(runner.RunError, match="not found"):
        j.start()
    assert j.run is None and j.poll().state == "idle"


def test_in_process_runner(tmp_path, data_dir):
    """The in-process path: engine.runtime.animate_file in a thread, with progress and cancel."""
    from engine.runtime import animate_file

    run = runner.InProcessRun(runner.GenerateSpec(audio_path=str(data_dir / "speech" / "sr_english.wav"),
                                                  mode="neutral", samples=2, seed=4), animate_file=animate_file)
    st = _wait(run)
    assert st.error is None and len(st.paths) == 2 and st.progress == 1.0
    from rigs.core.clip import load_clip

    assert [load_clip(p).meta["seed"] for p in st.paths] == [4, 5]
    run.cleanup()

    def slow(audio, out, *, progress, **kw):
        import time
        for i in range(200):
            progress("animate", i / 200)
            time.sleep(0.01)
        raise AssertionError("not cancelled")

    run = runner.InProcessRun(runner.GenerateSpec(audio_path="x.wav"), animate_file=slow)
    run.cancel()
    assert run.poll().done and run.poll().error == "cancelled"
    run.cleanup()
