"""The ``parley`` command line: animate audio to a clip, inspect, export and render clips; emotion presets
(``parley emotions``, :mod:`engine.emotions_cli`); perceptual studies (``parley study make | serve | analyze``,
:mod:`engine.studies`); training corpora and models (``parley corpus``, ``parley train``, :mod:`engine.training`);
streaming (``parley stream``, :mod:`engine.streaming`); batches of dialogue lines (``parley batch``,
:mod:`engine.batch`).

Every user error is one line ``parley: error: ...`` on stderr and exit code 2 (``ParleyError``, a bad
option, a file system error); Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129 (:mod:`rigs.core.signals`), and
none of them leaves a partial or temporary file or replaces an old output. Outputs are checked before the
work starts (:func:`rigs.core.files.check_output`: never an input, the right extension, writable).
Results go to stdout, one line each; long work shows progress bars on stderr (:mod:`engine.console`), or
JSON lines with ``--progress-json`` (the add-on reads them); Blender's own output during ``render`` is shown
only with ``-v`` or when the render fails.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from rigs.core.errors import ParleyError, one_line
from rigs.core.signals import exit_report, handle_signals

log = logging.getLogger("parley")

EXPORT_SUFFIXES = {"livelink": (".csv",), "bvh": (".bvh",), "json": (".json",)}
RENDER_STOP_S = 120.0  # how long `render` waits for Blender to finish its frame and clean up after a signal

ANIMATE_HELP = """\
Animate a voice recording: writes a clip (.npz) with 52 ARKit expression weights, lip vertices and
body joint angles. `parley modes` lists the animators; 'neural' (the default when its weights ship) hears the
face from the audio alone; 'phonetic' works on any voice with no training: forced alignment with
--transcript, phoneme recognition without."""


class _Parser(argparse.ArgumentParser):
    """argparse with Parley's one error line (``parley: error: ...``, exit 2) for every subcommand."""

    def error(self, message: str):
        self.exit(2, f"parley: error: {one_line(message)} (see `{self.prog} --help`)\n")


def _build_parser() -> argparse.ArgumentParser:
    from engine.animators.registry import ANIMATORS, DEFAULT_MODE
    from rigs.core.emotions import EMOTIONS
    from rigs.core.version import __version__

    p = _Parser(prog="parley", description="Speech-driven character animation.")
    p.add_argument("--version", action="version", version=f"parley {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    a = sub.add_parser("animate", help="audio -> motion clip", description=ANIMATE_HELP)
    a.add_argument("audio", help="wav/flac/ogg/mp3/aiff, any rate and channel count")
    a.add_argument("-o", "--output", required=True, help="clip file to write (.npz)")
    t = a.add_mutually_exclusive_group()
    t.add_argument("--transcript", help="what is said (enables forced alignment)")
    t.add_argument("--transcript-file", help="a UTF-8 text file with what is said")
    a.add_argument("--emotion", help="NAME[:INTENSITY][,NAME:INTENSITY...], e.g. joy:0.7,surprise:0.3; "
                   f"names: {', '.join(EMOTIONS)} or a saved preset (`parley emotions list`)")
    a.add_argument("--seed", type=int, default=0, help="random seed (blinks, gestures, head motion)")
    a.add_argument("--samples", type=int, default=1, help="K seeded takes (seed, seed+1, ...) written as "
                   "OUT_take01.npz ... when K > 1")
    a.add_argument("--fps", type=float, default=30.0, help="clip frame rate (default 30)")
    a.add_argument("--no-body", action="store_true", help="leave the body at rest")
    d = a.add_mutually_exclusive_group()
    d.add_argument("--partner", metavar="THEM.wav", help="the conversation partner's recording: the character "
                   "listens (nods, smiles, looks at them) while the partner speaks")
    d.add_argument("--channels", metavar="ME,PARTNER", help="the character's and the partner's channels of a "
                   "multichannel AUDIO (left/right or numbers from 1), e.g. left,right")
    a.add_argument("--partner-direction", type=float, default=30.0, metavar="DEG",
                   help="where the partner is: yaw degrees, + toward the character's left (default 30)")
    a.add_argument("--mode", default=DEFAULT_MODE, choices=ANIMATORS.names(), help="the animator (see `parley modes`)")
    a.add_argument("--model", help="a named model of the animator (learned animators); phonetic: its phone timing, "
                   "neural (Parley's phone model throughout), sphinx (PocketSphinx alone) or words (the default "
                   "without the lip closures the phone model adds to PocketSphinx's words: fewer false closures, "
                   "more missed ones)")
    a.add_argument("--checkpoint", help="a weights file for the animator (learned animators; phonetic: a phone "
                   "model, .npz from `parley train phones`)")
    a.add_argument("--temperature", type=float, metavar="T", help="learned body: softmax temperature of the "
                   "sampled gesture plan (default: the model's, 1.0; lower is calmer and more typical)")
    a.add_argument("--top-p", type=float, metavar="P", help="learned body: nucleus sampling of the gesture plan, "
                   "the smallest set of plans whose probability reaches P (default: the model's, 0.9)")
    a.add_argument("--device", default="cpu", help="where learned animators run (default cpu)")
    a.add_argument("--progress-json", action="store_true", help="JSON-lines progress on stderr")

    m = sub.add_parser("modes", help="list the animators (--mode choices)")
    m.add_argument("--json", action="store_true", help="machine-readable output (for the Blender add-on)")

    i = sub.add_parser("info", help="describe a clip")
    i.add_argument("clip")
    i.add_argument("--json", action="store_true", help="machine-readable output")

    e = sub.add_parser("export", help="clip -> Live Link Face CSV, BVH or JSON")
    e.add_argument("clip")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--livelink", metavar="OUT.csv", help="Live Link Face CSV (61 blendshape/rotation columns)")
    g.add_argument("--bvh", metavar="OUT.bvh", help="BVH of the canonical skeleton")
    g.add_argument("--json", metavar="OUT.json", help="JSON with meta and per-frame arrays")
    e.add_argument("--bvh-skeleton", metavar="RIG.bvh", help="with --bvh: retarget onto this BVH file's skeleton "
                   "(its bone names, proportions and units)")
    e.add_argument("--bvh-map", metavar="MAP", help="retarget map of --bvh-skeleton (a shipped map name or a .json; "
                   "detected from the bone names by default)")

    r = sub.add_parser("render", help="clip -> MP4 through Blender (Workbench, Eevee or Cycles)",
                       add_help=False)
    r.add_argument("args", nargs=argparse.REMAINDER)
    _add_study_parser(sub)
    from engine.training.cli_train import add_parser as add_train_parser  # parser only: no torch until it runs

    add_train_parser(sub)
    from engine.emotions_cli import add_emotions_parser

    add_emotions_parser(sub)

    from engine.training.corpus.cli import add_parser as add_corpus_parser

    add_corpus_parser(sub)

    from engine.streaming.cli import add_stream_parser
    add_stream_parser(sub)

    from engine.batch.cli import add_parser as _add_batch_parser

    _add_batch_parser(sub)
    return p


STUDY_HELP = """\
Perceptual studies of motion: `make` renders each system on the same character and builds a blinded web
survey (pairs, attention checks, mismatched-audio trials) in STUDY/site/; `serve` runs it for a lab session
and stores the answers in STUDY/responses.sqlite; `analyze` unblinds the answers into a report."""


def _resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must look like 640x360, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"resolution must be positive, got {text!r}")
    return w, h


def _add_study_parser(sub) -> None:
    from engine.studies.stimuli import CAMERAS, MATERIALS, RENDER_ENGINES

    s = sub.add_parser("study", help="perceptual studies: make a blinded survey, serve it, analyse the answers",
                       description=STUDY_HELP)
    ss = s.add_subparsers(dest="study_command", metavar="STEP")
    ss.required = True
    mk = ss.add_parser("make", help="render stimuli and write the survey site, key and manifest",
                       description="Render every audio file with every system on the same character, camera and "
                       "light, and write a blinded survey into STUDY/site/ (the key stays in STUDY/key.json).")
    mk.add_argument("--audio", required=True, metavar="DIR", help="folder of audio files (one trial per file and pair)")
    mk.add_argument("--system", action="append", required=True, metavar="NAME=SOURCE",
                    help="NAME=CLIPS_DIR (clips named after the audio files), NAME=mode:MODE (animate here), or "
                    "NAME=mode:MODE,transcript (with STEM.txt beside each audio); give two or more")
    mk.add_argument("--truth", metavar="CLIPS_DIR", help="reference clips (e.g. motion capture), as the system 'truth'")
    mk.add_argument("-o", "--out", required=True, metavar="STUDY", help="new study folder")
    mk.add_argument("--attention", type=int, default=2, help="attention checks (default 2: shifted, frozen)")
    mk.add_argument("--mismatched", type=int, default=0,
                    help="mismatched-audio trials per system (appropriateness; default 0)")
    mk.add_argument("--engine", choices=RENDER_ENGINES, default="workbench", help="Blender render engine")
    mk.add_argument("--resolution", type=_resolution, default=(640, 360), help="WIDTHxHEIGHT (default 640x360)")
    mk.add_argument("--camera", choices=CAMERAS, default="face", help="framing (default face)")
    mk.add_argument("--material", choices=MATERIALS, default="grey", help="the character's material")
    mk.add_argument("--fps", type=float, default=30.0, help="frame rate of animated clips (default 30)")
    mk.add_argument("--seed", type=int, default=0, help="seed of the design (order, sides, ids) and animators")
    mk.add_argument("--jobs", type=int, default=1, help="renders at once (default 1)")
    mk.add_argument("--title", help="the page's title")
    mk.add_argument("--question", help="the question raters answer")
    mk.add_argument("--post-url", help="also POST answers to this URL (hosted studies; `serve` sets its own)")
    mk.add_argument("--no-require-playback", dest="require_playback", action="store_false",
                    help="let raters answer before the clip has played to the end")

    sv = ss.add_parser("serve", help="serve the survey and store the answers in SQLite (lab sessions)",
                       description="Serve STUDY/site/ and receive the answers into a SQLite database "
                       "(STUDY/responses.sqlite). Ctrl-C stops it.")
    sv.add_argument("study", metavar="STUDY")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    sv.add_argument("--db", help="the database (default STUDY/responses.sqlite)")

    an = ss.add_parser("analyze", aliases=["analyse"], help="unblind the answers and write the report",
                       description="Unblind the answers, drop raters failing attention checks, and write a "
                       "Markdown and HTML report with a chart (default into STUDY/analysis/).")
    an.add_argument("study", metavar="STUDY")
    an.add_argument("responses", nargs="+", metavar="RESPONSES",
                    help="exported answers (.json, .csv) and/or databases (.sqlite) from `serve`")
    an.add_argument("-o", "--out", metavar="DIR", help="report folder (default STUDY/analysis)")
    an.add_argument("--max-failed-checks", type=int, default=0,
                    help="drop raters failing more attention checks than this (default 0)")
    an.add_argument("--duplicate-raters", choices=("error", "first", "drop"), default="error",
                    help="a rater id with answers from two sessions: stop (default), keep its first session, "
                    "or drop it")




class StageTimer:
    """Wall and CPU seconds of each stage an ``animate`` run reports (``progress(stage, fraction)``), logged
    at INFO (``-v``) when the run ends; the interpreter's start-up and imports are the CPU time the process
    had used before the run began. Wraps another progress callback (or none)."""

    def __init__(self, inner=None):
        import time

        self.inner, self.clock = inner, time
        self.stages: list[list] = []     # [name, wall_s, cpu_s]
        self.startup_cpu_s = time.process_time()
        self.t0 = self.t = time.perf_counter()
        self.c = time.process_time()

    def __call__(self, stage: str, frac: float) -> None:
        if not self.stages or self.stages[-1][0] != stage:
            self._close()
            self.stages.append([stage, 0.0, 0.0])
        if self.inner is not None:
            self.inner(stage, frac)

    def _close(self) -> None:
        t, c = self.clock.perf_counter(), self.clock.process_time()
        if self.stages:
            self.stages[-1][1] += t - self.t
            self.stages[-1][2] += c - self.c
        self.t, self.c = t, c

    def log(self) -> None:
        self._close()
        merged: dict[str, list[float]] = {}
        for name, wall, cpu in self.stages:
            m = merged.setdefault(name, [0.0, 0.0])
            m[0] += wall
            m[1] += cpu
        log.info("startup (interpreter and imports): %.2f s CPU", self.startup_cpu_s)
        for name, (wall, cpu) in merged.items():
            if name != "done":
                log.info("stage %-8s %6.2f s wall %6.2f s CPU", name, wall, cpu)
        log.info("run total: %.2f s wall, %.2f s CPU since start-up", self.clock.perf_counter() - self.t0,
                 self.clock.process_time())


def _cmd_animate(ns) -> int:
    from engine.animators.emotion_presets import resolve_emotion
    from engine.runtime import AnimateRequest, animate_file, read_transcript_file

    timer = StageTimer()

    transcript = ns.transcript
    if ns.transcript_file:
        transcript = read_transcript_file(ns.transcript_file)
    if transcript is not None and not transcript.strip():
        transcript = None
    req = AnimateRequest(fps=float(ns.fps), seed=int(ns.seed), **resolve_emotion(ns.emotion).request_fields(),
                         transcript=transcript, body=not ns.no_body, model=ns.model, checkpoint=ns.checkpoint,
                         device=ns.device, partner_direction_deg=float(ns.partner_direction),
                         temperature=ns.temperature, top_p=ns.top_p)
    from engine import console

    inputs = (ns.transcript_file,) if ns.transcript_file else ()
    if ns.progress_json:
        timer.inner = console.json_progress()
        paths = animate_file(ns.audio, ns.output, mode=ns.mode, request=req, samples=ns.samples,
                             progress=timer, other_inputs=inputs, partner=ns.partner, channels=ns.channels)
    else:
        with console.StageBars() as bars:
            timer.inner = bars
            paths = animate_file(ns.audio, ns.output, mode=ns.mode, request=req, samples=ns.samples,
                                 progress=timer, other_inputs=inputs, partner=ns.partner, channels=ns.channels)
    timer.log()
    for p in paths:
        print(p)
    return 0


def _cmd_study(ns) -> int:
    return {"make": _study_make, "serve": _study_serve, "analyze": _study_analyze,
            "analyse": _study_analyze}[ns.study_command](ns)


def _study_make(ns) -> int:
    from engine import console
    from engine.studies.design import DesignConfig
    from engine.studies.make import MakeConfig, make_study
    from engine.studies.site import DEFAULT_QUESTION, DEFAULT_TITLE
    from engine.studies.stimuli import RenderConfig
    from engine.studies.systems import parse_system

    if ns.jobs < 1:
        raise ParleyError(f"--jobs must be 1 or more, got {ns.jobs}")
    systems = [parse_system(s) for s in ns.system]
    config = MakeConfig(design=DesignConfig(attention=ns.attention, mismatched=ns.mismatched, seed=ns.seed),
                        render=RenderConfig(engine=ns.engine, resolution=ns.resolution, camera=ns.camera,
                                            material=ns.material, jobs=ns.jobs),
                        fps=float(ns.fps), seed=ns.seed, title=ns.title or DEFAULT_TITLE,
                        question=ns.question or DEFAULT_QUESTION, post_url=ns.post_url,
                        require_playback=ns.require_playback)
    with console.StageBars() as bars:
        page = make_study(ns.audio, systems, ns.out, truth=ns.truth, config=config, progress=bars)
    print(page)
    return 0


def _study_serve(ns) -> int:
    from engine.studies.server import serve

    return serve(ns.study, host=ns.host, port=ns.port, db=ns.db)


def _study_analyze(ns) -> int:
    from engine.studies.analyze import run_analysis

    for line in run_analysis(ns.study, ns.responses, out=ns.out, max_failed_checks=ns.max_failed_checks,
                             duplicate_raters=ns.duplicate_raters):
        print(line)
    return 0


def _cmd_emotions(ns) -> int:
    from engine.emotions_cli import run_emotions

    for line in run_emotions(ns):
        print(line)
    return 0

def _cmd_corpus(ns) -> int:
    from engine.training.corpus.cli import run

    return run(ns)


def _cmd_batch(ns) -> int:
    from engine.batch.cli import run

    return run(ns)


def _cmd_modes(ns) -> int:
    from engine.animators.registry import ANIMATORS

    rows = ANIMATORS.describe()
    if ns.json:
        print(json.dumps(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        note = "" if r["available"] else f"  (not available: {r['why']})"
        print(f"{r['name']:<{width}}  {r['description']}{note}")
    return 0


def describe(clip) -> dict:
    """A summary of a clip for ``parley info``."""
    import numpy as np

    expr = clip.expression
    active = np.argsort(-expr.max(axis=0))[:8]
    return {
        "schema_version": clip.meta.get("schema_version"),
        "engine_version": clip.meta.get("engine_version"),
        "mode": clip.meta.get("mode"),
        "model_ids": clip.meta.get("model_ids"),
        "duration_s": round(clip.duration_s, 4),
        "fps": clip.fps,
        "frames": clip.num_frames,
        "seed": clip.meta.get("seed"),
        "emotion": clip.meta.get("emotion"),
        "style_code": (f"{len(clip.meta['style'])} numbers" if isinstance(clip.meta.get("style"), list) else None),
        "source_audio": clip.meta.get("source_audio"),
        "source_sha256": clip.meta.get("source_sha256"),
        "sample_rate": clip.meta.get("sample_rate"),
        "expression_channels": len(clip.expression_names),
        "most_active": {clip.expression_names[i]: round(float(expr[:, i].max()), 3) for i in active
                        if expr[:, i].max() > 0},
        "joints": len(clip.joint_names),
        "max_joint_angle_deg": round(float(np.degrees(np.linalg.norm(clip.joint_angles, axis=-1).max())), 2),
        "lip_vertices": int(clip.lip_vertex_ids.shape[0]),
        "template_id": clip.meta.get("template_id"),
        "phonemes": None if clip.phonemes is None else len(clip.phonemes),
    }


def _cmd_info(ns) -> int:
    from rigs.core.clip import load_clip

    info = describe(load_clip(ns.clip))
    if ns.json:
        print(json.dumps(info, indent=1))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():  # meta is the file's text: control characters are shown escaped
            if isinstance(v, dict):
                v = ", ".join(f"{a}={b}" for a, b in v.items()) or "-"
            print(one_line(f"{k:<{width}}  {v if v is not None else '-'}"))
    return 0


def _cmd_export(ns) -> int:
    from rigs.formats import bvh, livelink, motion_json
    from rigs.core.clip import load_clip
    from rigs.core.files import check_output

    fmt = next(f for f in EXPORT_SUFFIXES if getattr(ns, f))
    check_output(getattr(ns, fmt), suffixes=EXPORT_SUFFIXES[fmt], inputs=(ns.clip,))
    if (ns.bvh_skeleton and not ns.bvh) or (ns.bvh_map and not ns.bvh_skeleton):
        raise ParleyError("--bvh-skeleton goes with --bvh, and --bvh-map with --bvh-skeleton")
    clip = load_clip(ns.clip)
    if ns.livelink:
        out = livelink.export_livelink_csv(clip, ns.livelink)
    elif ns.bvh and ns.bvh_skeleton:
        out = _export_retargeted_bvh(clip, ns.bvh, ns.bvh_skeleton, ns.bvh_map)
    elif ns.bvh:
        out = bvh.export_bvh(clip, ns.bvh)
    else:
        out = motion_json.export_json(clip, ns.json)
    print(out)
    return 0


def _export_retargeted_bvh(clip, out, skeleton, map_name):
    """The clip's body retargeted onto a BVH file's skeleton (:func:`rigs.formats.bvh.export_retargeted_bvh`)."""
    from rigs.core.errors import ConfigError
    from rigs.formats.bvh import export_retargeted_bvh, read_bvh
    from rigs.retarget import bvh_rest, detect_rig, retarget_clip

    rest = bvh_rest(read_bvh(skeleton))
    name = map_name or detect_rig(rest.names)
    if name is None:
        raise ConfigError(f"--bvh-skeleton {skeleton}: no retarget map matches its joint names; name one with "
                          "--bvh-map (parley's maps: rigs/retarget/maps)")
    res = retarget_clip(clip.joint_angles, clip.root_translation, rest, name)
    return export_retargeted_bvh(rest, res.world_rotations, res.world_positions, out, fps=clip.fps, length_scale=1.0)


# the render's own options that this front end acts on (the Blender layer's parser accepts and documents them)
RENDER_FRONT_FLAGS = {"-v": "verbose", "--verbose": "verbose", "--progress-json": "progress_json"}


def _split_render_args(args: list[str]) -> tuple[list[str], int, bool]:
    """(the arguments for the Blender layer, -v count, --progress-json) from ``parley render ARGS``."""
    rest, verbose, as_json = [], 0, False
    for a in args:
        if a in RENDER_FRONT_FLAGS:
            verbose += RENDER_FRONT_FLAGS[a] == "verbose"
            as_json |= RENDER_FRONT_FLAGS[a] == "progress_json"
        elif a.startswith("-v") and set(a[1:]) == {"v"}:
            verbose += len(a) - 1
        else:
            rest.append(a)
    return rest, verbose, as_json


def _cmd_render(ns) -> int:
    """Hand ``render`` to the Blender layer's own command line in a child process (engine never imports bpy).

    The child reports progress as JSON lines, shown here as a bar of frames (or passed on with
    ``--progress-json``); its result is printed as one JSON line on stdout; Blender's own output is kept
    back unless ``-v``, and shown (its last lines) before the error when the render fails. A signal here
    is passed on to it, which removes its temp video and exits (it keeps the old MP4)."""
    import importlib.util
    import subprocess

    from engine import console

    if importlib.util.find_spec("bpy") is None:
        raise ParleyError("rendering needs Blender as a Python module (pip install bpy==5.0.1)")
    args, verbose, as_json = _split_render_args(ns.args)
    verbose += ns.verbose
    if "-h" in args or "--help" in args:
        return subprocess.call([sys.executable, "-m", "addon.blender.cli", "render", *args])
    if as_json:
        emit = console.json_progress()

        def on_progress(d: dict) -> None:
            emit(str(d.pop("stage")), float(d.pop("progress", 0.0)), **d)
    else:
        stages, frames = console.StageBars(), console.FrameBar()

        def on_progress(d: dict) -> None:
            if d.get("stage") == "render" and "of" in d:
                stages.close()
                frames(int(d.get("frame", 0)), int(d["of"]))
            else:  # setting the scene up (building the demo character on first use) tells no fraction
                stages(str(d.get("stage")), None)

        def on_tick() -> None:
            stages.tick()
            frames.tick()
    try:
        run = console.run_child([sys.executable, "-m", "addon.blender.cli", "render", *args],
                                on_progress=on_progress, on_tick=None if as_json else on_tick,
                                verbose=verbose > 0, stop_timeout_s=RENDER_STOP_S)
    finally:
        if not as_json:
            stages.close()
            frames.close()
    for w in run.warnings:
        console.message(f"parley: warning: {w}")
    if run.returncode != 0:
        if run.log and not verbose:
            console.message(f"parley: the renderer's own output (last {len(run.log)} lines):")
            for line in run.log:
                console.message(f"  {line}")
        for line in run.errors or [f"parley: error: the renderer exited with code {run.returncode}"]:
            console.message(line)
        return run.returncode
    if run.result is not None:
        print(json.dumps(run.result))
    return 0


def _cmd_stream(ns) -> int:
    from engine.streaming.cli import run_stream
    return run_stream(ns)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if argv[:1] == ["render"]:  # everything after 'render' belongs to the renderer's own parser
        ns = argparse.Namespace(command="render", args=argv[1:], verbose=0)
    else:
        ns = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(ns.verbose, 2)
    logging.basicConfig(level=level, format="parley: %(levelname)s: %(message)s", stream=sys.stderr)
    handlers = {"animate": _cmd_animate, "modes": _cmd_modes, "info": _cmd_info, "export": _cmd_export,
                "render": _cmd_render, "study": _cmd_study, "emotions": _cmd_emotions, "corpus": _cmd_corpus,
                "stream": _cmd_stream, "batch": _cmd_batch, "train": lambda ns: ns.handler(ns)}
    try:
        with handle_signals():
            return handlers[ns.command](ns)
    except BrokenPipeError:  # e.g. `parley info clip.npz | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except MemoryError:
        sys.stderr.write("parley: error: out of memory\n")
        return 2
    except (ParleyError, KeyboardInterrupt, OSError) as exc:  # Interrupted is a KeyboardInterrupt
        line, code = exit_report(exc)
        sys.stderr.write(line + "\n")
        return code

if __name__ == "__main__":
    raise SystemExit(main())
