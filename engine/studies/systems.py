"""The systems a study compares and their clips: ``NAME=CLIPS_DIR`` (clips already made, one per utterance,
named after the audio file: ``hello.wav`` -> ``CLIPS_DIR/hello.npz``) or ``NAME=mode:MODE`` (animated here
with the engine's registry, :func:`engine.runtime.create_animator`; ``mode:MODE,transcript`` also reads
the words of each utterance from ``STEM.txt`` beside its audio).

Every clip is checked before anything is rendered: it exists, reads as a clip, and lasts as long as its
audio (within :data:`MAX_LENGTH_DIFF_S`): systems that disagree on an utterance's length cannot be shown
side by side against one audio track.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigs.core.errors import ConfigError, ParleyError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MAX_LENGTH_DIFF_S = 0.1    # a clip may differ from its audio's length by this much (frame rounding)
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
MAX_NAME_CHARS = 40
MODE_PREFIX = "mode:"
TRANSCRIPT_OPTION = "transcript"
MOTION_SHARE = 0.25        # attention checks use systems moving at least this share of the liveliest one


@dataclass(frozen=True)
class SystemSpec:
    """One system: a folder of clips, or an animator mode (optionally with each utterance's transcript)."""

    name: str
    clips_dir: Path | None = None
    mode: str | None = None
    transcript: bool = False

    @property
    def source(self) -> str:
        if self.mode is not None:
            return MODE_PREFIX + self.mode + (f",{TRANSCRIPT_OPTION}" if self.transcript else "")
        return str(self.clips_dir)


@dataclass(frozen=True)
class Utterance:
    """One audio file of the study: its name (the file's stem), path and length."""

    name: str
    path: Path
    duration_s: float
    sha256: str


def check_name(name: str, what: str = "system") -> str:
    if not name or len(name) > MAX_NAME_CHARS or any(c not in NAME_CHARS for c in name) or name[0] in "-.":
        raise ConfigError(f"{what} name {name!r}: use 1 to {MAX_NAME_CHARS} letters, digits, '-', '_' or '.'")
    return name


def parse_system(text: str) -> SystemSpec:
    """``NAME=CLIPS_DIR``, ``NAME=mode:MODE`` or ``NAME=mode:MODE,transcript`` as a :class:`SystemSpec`."""
    name, sep, value = str(text).partition("=")
    if not sep or not value:
        raise ConfigError(f"--system {text!r}: give NAME=CLIPS_DIR or NAME=mode:MODE (e.g. A=mode:phonetic)")
    check_name(name)
    if value.startswith(MODE_PREFIX):
        from engine.animators.registry import ANIMATORS

        mode, *options = value[len(MODE_PREFIX):].split(",")
        if mode not in ANIMATORS.names():
            raise ConfigError(f"--system {text!r}: unknown mode {mode!r}; choose from {', '.join(ANIMATORS.names())}")
        bad = [o for o in options if o != TRANSCRIPT_OPTION]
        if bad:
            raise ConfigError(f"--system {text!r}: unknown option {bad[0]!r} (the one option is "
                              f"'{TRANSCRIPT_OPTION}': read STEM.txt beside each audio)")
        return SystemSpec(name, mode=mode, transcript=bool(options))
    folder = Path(value)
    if not folder.is_dir():
        raise ConfigError(f"--system {text!r}: clip folder {folder} not found (or give mode:MODE)")
    return SystemSpec(name, clips_dir=folder)


def find_audio(folder) -> list[Path]:
    """The audio files in ``folder`` (by suffix, sorted by name); ConfigError for none or clashing names."""
    d = Path(folder)
    if not d.is_dir():
        raise ConfigError(f"--audio {d}: folder not found")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"--audio {d}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in it")
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise ConfigError(f"--audio {d}: {seen[p.stem].name} and {p.name} have the same name; clips are "
                              "matched to audio by name, so keep one")
        check_name(p.stem, what=f"audio file {p.name}:")
        seen[p.stem] = p
    return files


def load_utterances(paths) -> list[Utterance]:
    """Each audio file read once for its length (AudioError names a missing or broken file)."""
    from engine.audio.load import load_audio

    out = []
    for p in paths:
        a = load_audio(p)
        out.append(Utterance(Path(p).stem, Path(p), float(a.duration_s), a.source_sha256))
    return out


def motion_amount(clip) -> float:
    """How much a clip moves: the mean speed of its expression weights (sum over channels, per second) plus
    that of its joint angles (radians per second, summed over joints). Zero for a clip at rest."""
    if clip.num_frames < 2:
        return 0.0
    face = np.abs(np.diff(clip.expression, axis=0)).sum(axis=1).mean()
    body = np.abs(np.diff(clip.joint_angles, axis=0)).sum(axis=(1, 2)).mean() if clip.joint_angles.size else 0.0
    return float((face + body) * clip.fps)


def moving_systems(amounts: dict[str, float]) -> list[str]:
    """The systems that visibly move (at least :data:`MOTION_SHARE` of the liveliest), in the given order."""
    top = max(amounts.values(), default=0.0)
    return [s for s, a in amounts.items() if top > 0 and a >= MOTION_SHARE * top]


def system_clips(spec: SystemSpec, utterances: list[Utterance], work_dir: Path, *, fps: float = 30.0,
                 seed: int = 0, progress=None) -> dict[str, Path]:
    """{utterance name: clip path} for one system; every clip checked against its audio's length.

    ``mode`` systems are animated into ``work_dir/clips/NAME/``; ``progress(done, total)`` after each."""
    clips: dict[str, Path] = {}
    if spec.clips_dir is not None:
        for u in utterances:
            p = spec.clips_dir / f"{u.name}.npz"
            if not p.is_file():
                raise ConfigError(f"system {spec.name}: no clip for the audio {u.path.name} (expected {p})")
            clips[u.name] = p
        extra = sorted({p.stem for p in spec.clips_dir.glob("*.npz")} - set(clips))
        if extra:
            log.info("system %s: %d clips with no audio of that name are not used (%s)", spec.name, len(extra),
                     ", ".join(extra[:5]))
    else:
        from engine.runtime import AnimateRequest, animate_file, create_animator, read_transcript_file

        out_dir = work_dir / "clips" / spec.name
        out_dir.mkdir(parents=True, exist_ok=True)
        request = AnimateRequest(fps=fps, seed=seed)
        animator = create_animator(spec.mode or "", request)
        for i, u in enumerate(utterances):
            transcript = None
            if spec.transcript:
                txt = u.path.with_suffix(".txt")
                if not txt.is_file():
                    raise ConfigError(f"system {spec.name} reads transcripts, but {txt} is missing")
                transcript = read_transcript_file(txt).strip() or None
            req = AnimateRequest(fps=fps, seed=seed, transcript=transcript)
            (clips[u.name],) = animate_file(u.path, out_dir / f"{u.name}.npz", request=req, animator=animator)
            if progress is not None:
                progress(i + 1, len(utterances))
    for u in utterances:
        check_length(spec.name, u, clips[u.name])
    return clips


def check_length(system: str, utterance: Utterance, clip_path: Path):
    """The clip at ``clip_path``, read and checked to last as long as ``utterance`` (ConfigError otherwise)."""
    from rigs.core.clip import load_clip

    try:
        clip = load_clip(clip_path)
    except ParleyError as exc:
        raise ConfigError(f"system {system}: clip {clip_path} for {utterance.path.name}: {exc}") from None
    diff = clip.duration_s - utterance.duration_s
    if abs(diff) > MAX_LENGTH_DIFF_S:
        raise ConfigError(f"system {system}: clip {clip_path} lasts {clip.duration_s:.2f} s but its audio "
                          f"{utterance.path.name} lasts {utterance.duration_s:.2f} s ({abs(diff):.2f} s apart, at most "
                          f"{MAX_LENGTH_DIFF_S:g}): every system must animate the same audio")
    return clip
