#!/usr/bin/env python3
"""Parley's one entry point: set up, test, run the demo, build the rig and the Blender extension.

    python3 build.py demo     # audio -> clip -> Blender render -> out/demo.mp4 and out/demo_strip.png
    python3 build.py test     # the checks (import layers, ruff, mypy) and the test suite
    python3 build.py rig      # the demo character as out/demo_rig.blend
    python3 build.py addon    # the Blender extension as dist/parley-<version>.zip
    python3 build.py bench    # the benchmarks (prints figures for README)
    python3 build.py check    # only the checks: import-linter contracts, ruff, mypy on rigs/core

Each command creates or reuses ``.venv`` (Python 3.11, as bpy 5.0.1 needs), installs the project with
its pinned dependencies (torch==2.13.0, bpy==5.0.1) and the Debian packages it uses (apt-get when
root; otherwise it prints the exact command and stops). Standard library only.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
OUT = ROOT / "out"
DEMO_AUDIO = ROOT / "engine" / "samples" / "demo.wav"
# chromium + chromium-driver: the perceptual study's browser tests (selenium drives the system browser)
APT_PACKAGES = ["espeak-ng", "libespeak-ng1", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts",
                "flite", "ffmpeg", "sox", "chromium", "chromium-driver"]
PIP_EXTRAS = "all"
# the demo's picture strip: frames of out/demo.mp4 at these times (s), each this wide (px), side by side
STRIP_TIMES_S = (1.45, 6.28, 6.95, 9.1)
STRIP_FRAME_WIDTH_PX = 480


def step(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def fail(msg: str, code: int = 1) -> None:
    print(f"build.py: error: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def run(cmd, **kw) -> None:
    t0 = time.time()
    r = subprocess.run([str(c) for c in cmd], **kw)
    if r.returncode != 0:
        fail(f"command failed ({r.returncode}) after {time.time() - t0:.0f} s: {' '.join(map(str, cmd))}",
             r.returncode)


def _missing_apt() -> list[str]:
    if shutil.which("dpkg-query") is None:
        return []
    missing = []
    for pkg in APT_PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def ensure_system_packages() -> None:
    missing = _missing_apt()
    if not missing:
        return
    cmd = "apt-get update && apt-get install -y " + " ".join(missing)
    if shutil.which("apt-get") is None:
        fail(f"missing system packages {', '.join(missing)} and no apt-get here; install them with your "
             "package manager")
    if os.geteuid() != 0:
        fail(f"missing system packages: {', '.join(missing)}. Run as root:\n    sudo sh -c '{cmd}'")
    step(f"installing system packages: {' '.join(missing)} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", *missing], env=env)


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    for name in ("python3.11",):
        p = shutil.which(name)
        if p:
            return p
    fail("Python 3.11 is required (bpy 5.0.1 is built for it); install python3.11 and rerun")
    return ""


def ensure_venv() -> None:
    if not PY.exists():
        step(f"creating virtual environment {VENV.relative_to(ROOT)}")
        run([_python311(), "-m", "venv", VENV])
    stamp = VENV / ".parley-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want:
        return
    step("installing Parley and its dependencies into .venv (first time: several minutes; torch==2.13.0 CPU, "
         "bpy==5.0.1)")
    run([PY, "-m", "pip", "install", "--progress-bar", "off", "-q", "-e", f".[{PIP_EXTRAS}]"], cwd=ROOT)
    stamp.write_text(want + "\n")


def setup() -> None:
    ensure_system_packages()
    ensure_venv()


def py(*args, **kw) -> None:
    """Run the venv's Python with ``args`` (or a venv console script when the first arg is its path)."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    shared = ROOT.parent / "shared" / "data"
    if "PARLEY_DATA" not in env and shared.is_dir():
        env["PARLEY_DATA"] = str(shared)
    cmd = list(args) if args and str(args[0]).startswith(str(VENV / "bin")) else [PY, *args]
    run(cmd, cwd=ROOT, env=env, **kw)


def cmd_check() -> None:
    """The architecture and code checks (docs/architecture.md): import layers, lint, types of the vocabulary."""
    step("checking the layers (import-linter contracts in pyproject.toml)")
    py(VENV / "bin" / "lint-imports")
    step("linting (ruff: pyflakes + bugbear)")
    py("-m", "ruff", "check", "--quiet", ".")
    step("type-checking the vocabulary layer (mypy rigs/core)")
    py("-m", "mypy")


def cmd_test(extra: list[str]) -> None:
    setup()
    cmd_check()
    step("running the test suite")
    py("-m", "pytest", "-ra", "--durations=15", *extra)


def strip(video: Path, out: Path, times_s=STRIP_TIMES_S, width_px: int = STRIP_FRAME_WIDTH_PX) -> Path:
    """Frames of ``video`` at ``times_s`` side by side in one PNG (ffmpeg), for README."""
    cmd: list = ["ffmpeg", "-y", "-v", "error"]
    for t in times_s:
        cmd += ["-ss", f"{t:.3f}", "-i", video]
    scaled = ";".join(f"[{k}:v]scale={width_px}:-2[f{k}]" for k in range(len(times_s)))
    joined = "".join(f"[f{k}]" for k in range(len(times_s)))
    cmd += ["-filter_complex", f"{scaled};{joined}hstack=inputs={len(times_s)}", "-frames:v", "1", out]
    run(cmd)
    return out


def cmd_demo(extra: list[str]) -> None:
    """The built-in sample animated and rendered; ``extra`` goes to ``parley render`` (-v also to animate)."""
    setup()
    OUT.mkdir(exist_ok=True)
    clip = OUT / "demo.npz"
    verbose = [a for a in extra if a in ("-v", "--verbose")]
    step(f"animating the built-in sample {DEMO_AUDIO.relative_to(ROOT)} -> {clip.relative_to(ROOT)}")
    # the default animator (the neural face when its weights ship: it hears the words, no transcript needed)
    py("-m", "engine", *verbose, "animate", DEMO_AUDIO, "-o", clip, "--emotion", "joy:0.4", "--seed", "1")
    py("-m", "engine", "info", clip)
    video = OUT / "demo.mp4"
    step(f"rendering {video.relative_to(ROOT)} through Blender (Workbench, upper body and face close-up; "
         "Blender's own output with -v)")
    py("-m", "engine", "render", clip, "--audio", DEMO_AUDIO, "-o", video, "--engine", "workbench",
       "--camera", "cuts", "--resolution", "960x540", *extra)
    picture = strip(video, OUT / "demo_strip.png")
    step(f"done: {video} (frames at {', '.join(f'{t:g}' for t in STRIP_TIMES_S)} s in {picture})")


def cmd_rig(extra: list[str]) -> None:
    setup()
    OUT.mkdir(exist_ok=True)
    out = OUT / "demo_rig.blend"
    step(f"building the demo character -> {out.relative_to(ROOT)}")
    py("-m", "addon.blender.cli", "rig", out, *extra)


def cmd_addon(extra: list[str]) -> None:
    setup()
    step("building the Blender extension zip")
    py("-c", "import sys; from pathlib import Path; from addon.packaging import build_extension_zip; "
             "print(build_extension_zip(Path('.'), Path('dist')))")


def cmd_bench(extra: list[str]) -> None:
    setup()
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        if extra and not any(e in script.name for e in extra):
            continue
        step(f"benchmark {script.name}")
        py(script)


COMMANDS = {"demo": cmd_demo, "test": cmd_test, "rig": cmd_rig, "addon": cmd_addon, "bench": cmd_bench,
            "check": lambda extra: (setup(), cmd_check()), "setup": lambda extra: setup()}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip().split("\n\n")[1])
        print("    python3 build.py setup    # only create .venv and install")
        raise SystemExit(2 if argv else 0)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
