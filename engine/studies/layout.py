"""A study folder: where each file goes, the manifest, and the key that unblinds the answers.

    STUDY/manifest.json   what was made and how (systems, audio, render settings, counts)
    STUDY/key.json        which stimulus is which system and condition: raters never get this file
    STUDY/site/           the static survey: everything a rater's browser may load, and nothing else
    STUDY/work/           the clips and raw renders the stimuli came from (for checking, never served)
    STUDY/responses.sqlite  the answers ``parley study serve`` received

The answer scale is five points from "strongly left" (-2) to "strongly right" (+2); a trial's answer is
turned into a preference between systems with the stimuli the rater saw on each side.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rigs.core.errors import ConfigError

MANIFEST = "manifest.json"
KEY = "key.json"
SITE = "site"
MEDIA = "media"
WORK = "work"
DATABASE = "responses.sqlite"
STUDY_JS = "study.js"       # in site/: the trials as raters see them (blinded)
CONFIG_JS = "config.js"     # in site/: where answers are posted (``serve`` hands out its own)
KEY_FORMAT = "parley-study-key"
MANIFEST_FORMAT = "parley-study"
RESPONSES_FORMAT = "parley-study-responses"
SCHEMA_VERSION = 1
ANSWERS = (-2, -1, 0, 1, 2)
ANSWER_LABELS = {-2: "strongly left", -1: "slightly left", 0: "no preference", 1: "slightly right",
                 2: "strongly right"}
TRIAL_KINDS = ("pair", "attention", "mismatched")
CONDITIONS = ("intact", "shifted", "frozen", "mismatched")   # how a stimulus's video relates to its audio
MAX_KEY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Stimulus:
    """One blinded video: ``system``'s motion for the utterance ``motion_audio``, shown as ``condition`` with
    the utterance ``audio`` (another one for ``mismatched``, the same one otherwise)."""

    id: str
    system: str
    motion_audio: str
    condition: str
    audio: str


@dataclass(frozen=True)
class Trial:
    """One screen of the survey: ``audio`` heard with two stimuli side by side (before per-rater flips)."""

    id: str
    kind: str
    audio: str
    left: str
    right: str


@dataclass(frozen=True)
class Key:
    """What unblinds a study: its id, systems (in the order given to ``make``), stimuli and trials."""

    study_id: str
    systems: tuple[str, ...]
    stimuli: dict[str, Stimulus]
    trials: dict[str, Trial]

    def to_json(self) -> dict:
        return {"format": KEY_FORMAT, "version": SCHEMA_VERSION, "study_id": self.study_id,
                "systems": list(self.systems),
                "stimuli": {s.id: {"system": s.system, "motion_audio": s.motion_audio, "condition": s.condition,
                                   "audio": s.audio}
                            for s in self.stimuli.values()},
                "trials": [{"id": t.id, "kind": t.kind, "audio": t.audio, "left": t.left, "right": t.right}
                           for t in self.trials.values()]}


def load_key(study_dir) -> Key:
    """The key of the study in ``study_dir``, checked (ConfigError naming what is wrong)."""
    path = Path(study_dir) / KEY
    if not Path(study_dir).is_dir():
        raise ConfigError(f"study folder {study_dir} not found")
    d = read_json(path, what="study key", max_bytes=MAX_KEY_BYTES)
    where = f"study key {path}"
    if not isinstance(d, dict) or d.get("format") != KEY_FORMAT:
        raise ConfigError(f"{where} is not a Parley study key")
    if d.get("version") != SCHEMA_VERSION:
        raise ConfigError(f"{where} has version {d.get('version')!r}; this Parley reads version {SCHEMA_VERSION}")
    try:
        systems = tuple(str(s) for s in d["systems"])
        stimuli = {str(k): Stimulus(str(k), str(v["system"]), str(v["motion_audio"]), str(v["condition"]),
                                    str(v["audio"])) for k, v in d["stimuli"].items()}
        trials = {str(t["id"]): Trial(str(t["id"]), str(t["kind"]), str(t["audio"]), str(t["left"]),
                                      str(t["right"])) for t in d["trials"]}
        study_id = str(d["study_id"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{where} is damaged (missing or bad field {exc})") from None
    for s in stimuli.values():
        if s.condition not in CONDITIONS or s.system not in systems:
            raise ConfigError(f"{where} is damaged (stimulus {s.id})")
    for t in trials.values():
        if t.kind not in TRIAL_KINDS or t.left not in stimuli or t.right not in stimuli:
            raise ConfigError(f"{where} is damaged (trial {t.id})")
    return Key(study_id, systems, stimuli, trials)


def read_json(path, *, what: str, max_bytes: int):
    """A JSON file's value; ConfigError for a missing, oversized or malformed file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{what} {p} is {size} bytes; at most {max_bytes} are read")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {p} not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {p} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {p} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
