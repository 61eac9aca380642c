"""``parley study make``: audio and systems in, a complete study folder out (see :mod:`engine.studies.layout`).

Steps: read the audio (lengths), get each system's clips (check them against the audio), design the trials
(:mod:`engine.studies.design`; attention checks on the systems that move), render every (system, utterance)
once on the same character, camera and light (:mod:`engine.studies.stimuli`), cut the blinded stimuli and
audio from those renders, write the survey site (:mod:`engine.studies.site`), the key and the manifest.

Everything is built in a temporary folder beside ``STUDY`` and renamed into place at the end: a failure or
Ctrl-C leaves no half-made study (and an existing non-empty folder is never touched).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.studies import layout
from engine.studies.design import DesignConfig, design_study
from engine.studies.site import DEFAULT_QUESTION, DEFAULT_TITLE, study_data, write_site
from engine.studies.stimuli import RenderConfig, audio_command, render_command, run_commands, stimulus_command
from engine.studies.systems import (SystemSpec, Utterance, check_length, find_audio, load_utterances, motion_amount,
                                    moving_systems, system_clips)
from rigs.core.errors import ConfigError, OutputError
from rigs.core.version import __version__

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
TRUTH = "truth"          # the system name of --truth clips
MAX_TEXT_CHARS = 300     # of the title and question shown to raters


@dataclass(frozen=True)
class MakeConfig:
    """Everything about a study besides its audio and systems."""

    design: DesignConfig = field(default_factory=DesignConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    fps: float = 30.0
    seed: int = 0                   # of the animators
    title: str = DEFAULT_TITLE
    question: str = DEFAULT_QUESTION
    post_url: str | None = None
    require_playback: bool = True


def check_out_folder(out: Path) -> None:
    """Refuse a study folder that exists and is not empty, or whose parent is missing (OutputError)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"study folder {out} exists and is not empty; give a new folder")
    if not out.parent.is_dir():
        raise OutputError(f"cannot make {out}: folder {out.parent} does not exist")


def make_study(audio_dir, systems: list[SystemSpec], out, *, truth=None, config: MakeConfig = MakeConfig(),
               progress: Progress | None = None) -> Path:
    """Make the study ``out`` comparing ``systems`` (and ``truth`` clips, as the system 'truth') on every
    audio file in ``audio_dir``. Returns the site's ``index.html``."""
    out = Path(out)
    report = progress or (lambda stage, fraction: None)
    check_out_folder(out)
    for text, what in ((config.title, "--title"), (config.question, "--question")):
        if not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise ConfigError(f"{what}: give 1 to {MAX_TEXT_CHARS} characters")
    specs = list(systems)
    if truth is not None:
        if not Path(truth).is_dir():
            raise ConfigError(f"--truth {truth}: clip folder not found")
        specs.append(SystemSpec(TRUTH, clips_dir=Path(truth)))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"two systems are named {dup!r}" + (" ('truth' is the name of --truth)" if dup == TRUTH else ""))
    if len(specs) < 2:
        raise ConfigError("a study compares at least two systems: give --system twice (or --system and --truth)")
    audio_files = find_audio(audio_dir)

    tmp = out.parent / f".{out.name}.making-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _make(tmp, audio_files, specs, config, report)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report("done", 1.0)
    return out / layout.SITE / "index.html"


def _make(root: Path, audio_files: list[Path], specs: list[SystemSpec], config: MakeConfig, report: Progress) -> None:
    work, site = root / layout.WORK, root / layout.SITE
    media = site / layout.MEDIA
    for d in (work, media):
        d.mkdir(parents=True)
    report("audio", 0.0)
    utterances = load_utterances(audio_files)
    by_name = {u.name: u for u in utterances}

    clips: dict[str, dict[str, Path]] = {}
    for i, spec in enumerate(specs):
        def animated(done: int, total: int, i=i) -> None:
            report("animate", 0.25 * (i + done / max(1, total)) / len(specs))

        report("animate", 0.25 * i / len(specs))
        clips[spec.name] = system_clips(spec, utterances, work, fps=config.fps, seed=config.seed, progress=animated)
    amounts = {name: sum(motion_amount(check_length(name, by_name[u], p)) for u, p in per.items()) / len(per)
               for name, per in clips.items()}
    attention_systems = moving_systems(amounts)
    log.info("motion per system (face weights + joint radians per second): %s; attention checks use %s",
             ", ".join(f"{k}={v:.2f}" for k, v in amounts.items()), ", ".join(attention_systems) or "none")

    study_id = secrets.token_hex(6)
    key = design_study(study_id, [u.name for u in utterances], [s.name for s in specs],
                       attention_systems=attention_systems, config=config.design)

    renders: dict[tuple[str, str], Path] = {}
    for st in key.stimuli.values():
        renders.setdefault((st.system, st.motion_audio), work / "renders" / st.system / f"{st.motion_audio}.mp4")
    for p in renders.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(f"rendering system {system}'s clip for {audio}", render_command(clips[system][audio], p, config.render))
            for (system, audio), p in sorted(renders.items())]
    report("render", 0.25)
    run_commands(jobs, jobs=config.render.jobs,
                 progress=lambda done, total: report("render", 0.25 + 0.6 * done / total))

    audio_ids = _tokens([u.name for u in utterances], prefix="a", taken=set(key.stimuli))
    files: dict[str, str] = {}
    cuts = []
    for st in key.stimuli.values():
        name = f"{layout.MEDIA}/{st.id}.mp4"
        files[st.id] = name
        cuts.append((f"making stimulus {st.id} ({st.condition}, system {st.system})",
                     stimulus_command(renders[(st.system, st.motion_audio)], site / name, condition=st.condition,
                                      duration_s=by_name[st.audio].duration_s)))
    for u in utterances:
        name = f"{layout.MEDIA}/{audio_ids[u.name]}.wav"
        files[audio_ids[u.name]] = name
        cuts.append((f"copying audio {u.path.name}", audio_command(u.path, site / name)))
    report("stimuli", 0.85)
    run_commands(cuts, jobs=max(1, config.render.jobs),
                 progress=lambda done, total: report("stimuli", 0.85 + 0.14 * done / total))

    data = study_data(key, media=files, audio_ids=audio_ids, title=config.title, question=config.question,
                      require_playback=config.require_playback)
    write_site(site, data, post_url=config.post_url)
    _write_json(root / layout.KEY, key.to_json())
    _write_json(root / layout.MANIFEST, _manifest(key, specs, utterances, audio_ids, config, attention_systems))


def _tokens(names: list[str], *, prefix: str, taken: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in names:
        while True:
            t = f"{prefix}{secrets.token_hex(5)}"
            if t not in taken and t not in out.values():
                break
        out[n] = t
    return out


def _manifest(key, specs, utterances: list[Utterance], audio_ids, config: MakeConfig, attention_systems) -> dict:
    kinds = [t.kind for t in key.trials.values()]
    return {
        "format": layout.MANIFEST_FORMAT, "version": layout.SCHEMA_VERSION, "study_id": key.study_id,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parley_version": __version__, "title": config.title, "question": config.question,
        "systems": [{"name": s.name, "source": s.source} for s in specs],
        "attention_systems": list(attention_systems),
        "audio": [{"name": u.name, "file": str(u.path), "duration_s": round(u.duration_s, 4), "sha256": u.sha256,
                   "media": audio_ids[u.name]} for u in utterances],
        "render": {"engine": config.render.engine, "resolution": list(config.render.resolution),
                   "camera": config.render.camera, "material": config.render.material, "fps": config.fps},
        "trials": {k: kinds.count(k) for k in layout.TRIAL_KINDS},
        "design": {"attention": config.design.attention, "mismatched_per_system": config.design.mismatched,
                   "seed": config.design.seed, "animator_seed": config.seed},
        "require_playback": config.require_playback, "post_url": config.post_url,
        "files": {"site": f"{layout.SITE}/index.html", "key": layout.KEY, "database": layout.DATABASE},
    }


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
