"""Emotion presets: named mixes of the seven emotions saved by the user, interpolation between mixes, and the
one way an ``--emotion`` spec is read (named emotions and presets alike).

A spec is the vocabulary's ``NAME[:INTENSITY][,NAME[:INTENSITY]...]`` (:func:`rigs.core.emotions.parse_emotion`)
where a NAME may also be a saved preset: its mix, scaled by the intensity (default 1), joins the rest, so
``wistful``, ``wistful:0.5`` and ``wistful:0.5,surprise:0.2`` all work and the seven names keep their meaning
(a preset may not take one of them). A resolved spec is an :class:`EmotionPreset` whose ``mix`` holds only the
seven emotions; its blended weights are :func:`rigs.core.emotions.blend_weights` of the mix (the one rule).

:func:`interpolate` mixes two specs' *blended* weights linearly, ``(1 - t) * w_a + t * w_b``: both sum to at
most 1, so the result does too and blending it again changes nothing; at ``t`` 0 and 1 it gives the two ends.

Presets are JSON files, one per preset, in ``presets_dir()`` (``$PARLEY_CONFIG/emotions``, else
``$XDG_CONFIG_HOME/parley/emotions``, else ``~/.config/parley/emotions``), written atomically
(:func:`rigs.core.files.atomic_write`)::

    {"format": "parley-emotion-preset", "version": 1, "name": "wistful",
     "mix": {"sadness": 0.6, "joy": 0.2}, "style": null}

``style`` is optional: a learned continuous style code (a list of floats, e.g. one per training clip of a
learned face model) stored with the mix so a preset can carry it; animators without style codes ignore it.
``style_weights`` (optional) names the weights the code was taken from (``neural-face-<sha256[:12]>``): a code
means something only to the model that learned it, so the neural animator warns when other weights get it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from rigs.core.emotions import EMOTION_INDEX, EMOTIONS, blend_weights, check_mix, parse_emotion
from rigs.core.errors import ConfigError
from rigs.core.files import atomic_write

log = logging.getLogger(__name__)

PRESET_FORMAT = "parley-emotion-preset"
PRESET_VERSION = 1
PRESET_SUFFIX = ".json"
MAX_PRESET_BYTES = 1 << 20         # a preset file larger than this is not one
MAX_STYLE_DIMS = 4096
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class EmotionPreset:
    """A mix of the seven emotions (``mix``: sorted (name, intensity >= 0) pairs), optionally a learned
    ``style`` code; ``name`` is the preset's name, or the spec it was resolved from."""

    name: str
    mix: tuple[tuple[str, float], ...]
    style: tuple[float, ...] | None = None
    style_weights: str | None = None      # the weights the style code came from (module docstring)

    def weights(self) -> dict[str, float]:
        """The blended weights of the non-neutral emotions (:func:`rigs.core.emotions.blend_weights`)."""
        return blend_weights(dict(self.mix))

    def neutral_weight(self) -> float:
        """What the blend leaves to neutral: 1 minus the other weights."""
        return max(0.0, 1.0 - sum(self.weights().values()))

    def request_fields(self) -> dict:
        """The :class:`engine.animators.base.AnimateRequest` fields this emotion sets: the (name, intensity) pairs
        (:func:`parse_emotion`'s result for named emotions, presets resolved) and the style code with its source."""
        return {"emotion": self.mix, "style": self.style, "style_weights": self.style_weights}

    def to_json(self) -> dict:
        out = {"format": PRESET_FORMAT, "version": PRESET_VERSION, "name": self.name,
               "mix": dict(self.mix), "style": None if self.style is None else list(self.style)}
        if self.style is not None and self.style_weights:
            out["style_weights"] = self.style_weights
        return out


def presets_dir() -> Path:
    """The folder of saved presets (not created here)."""
    env = os.environ.get("PARLEY_CONFIG")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "parley"
    return root / "emotions"


def check_name(name: str) -> str:
    """A preset name, lower-cased; ConfigError for one of the seven emotions or a name that is not
    letters, digits, ``-`` and ``_`` (starting with a letter, at most 64)."""
    key = str(name).strip().lower()
    if key in EMOTION_INDEX:
        raise ConfigError(f"preset name {name!r} is one of the named emotions ({', '.join(EMOTIONS)}); "
                          "choose another")
    if not NAME_PATTERN.fullmatch(key):
        raise ConfigError(f"preset name {name!r}: use a letter then letters, digits, - or _ (at most 64)")
    return key


def _check_style(style, where: str) -> tuple[float, ...] | None:
    if style is None:
        return None
    if not isinstance(style, (list, tuple)) or not 0 < len(style) <= MAX_STYLE_DIMS:
        raise ConfigError(f"{where}: style must be a list of 1 to {MAX_STYLE_DIMS} numbers")
    try:
        out = tuple(float(v) for v in style)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: style holds something that is not a number") from None
    if not all(math.isfinite(v) for v in out):
        raise ConfigError(f"{where}: style holds NaN or infinite numbers")
    return out


def _preset_path(name: str) -> Path:
    return presets_dir() / f"{check_name(name)}{PRESET_SUFFIX}"


def read_preset(path: Path) -> EmotionPreset:
    """The preset stored in ``path``; ConfigError naming the file when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            raise ConfigError(f"{path}: too large for an emotion preset")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a readable emotion preset ({e})") from None
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise ConfigError(f"{path}: not a Parley emotion preset")
    if not isinstance(data.get("version"), int) or data["version"] > PRESET_VERSION:
        raise ConfigError(f"{path}: preset version {data.get('version')!r} is newer than this Parley reads "
                          f"({PRESET_VERSION})")
    if not isinstance(data.get("mix"), dict):
        raise ConfigError(f"{path}: 'mix' must be an object of emotion intensities")
    try:
        mix = check_mix(data["mix"])
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    style = _check_style(data.get("style"), str(path))
    source = data.get("style_weights")
    if source is not None and not isinstance(source, str):
        raise ConfigError(f"{path}: 'style_weights' must be the name of the weights the style code came from")
    return EmotionPreset(check_name(path.stem), tuple(sorted(mix.items())), style, source if style is not None else None)


def load_preset(name: str) -> EmotionPreset:
    """The saved preset ``name``; ConfigError when there is none."""
    try:
        path = _preset_path(name)
    except ConfigError:
        path = None
    if path is None or not path.is_file():
        raise ConfigError(f"unknown emotion {name!r}: neither one of {', '.join(EMOTIONS)} nor a saved preset "
                          "(`parley emotions list` shows them)")
    return read_preset(path)


def list_presets() -> list[EmotionPreset]:
    """The saved presets by name; files that are not presets are skipped with a warning."""
    folder = presets_dir()
    out = []
    for path in sorted(folder.glob(f"*{PRESET_SUFFIX}")) if folder.is_dir() else ():
        try:
            out.append(read_preset(path))
        except ConfigError as e:
            log.warning("skipping %s", e)
    return out


def save_preset(preset: EmotionPreset, *, overwrite: bool = False) -> Path:
    """Store ``preset`` (atomically) under its name; ConfigError when one exists and not ``overwrite``."""
    name = check_name(preset.name)
    mix = check_mix(dict(preset.mix))
    style = _check_style(None if preset.style is None else list(preset.style), f"preset {name!r}")
    path = _preset_path(name)
    if path.exists() and not overwrite:
        raise ConfigError(f"a preset named {name!r} exists ({path}); add --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    record = EmotionPreset(name, tuple(sorted(mix.items())), style, preset.style_weights).to_json()
    atomic_write(path, lambda f: f.write(json.dumps(record, indent=1) + "\n"), text=True)
    return path


def resolve_emotion(spec: str | None) -> EmotionPreset:
    """The mix a spec means (module docstring): named emotions as :func:`parse_emotion` reads them, saved presets
    scaled by their intensity. A preset's style code comes along when exactly one part carries one."""
    if spec is None or not spec.strip():
        return EmotionPreset("", ())
    named: list[str] = []
    total: dict[str, float] = {}
    styles: list[EmotionPreset] = []
    for part in spec.split(","):
        name, _, val = part.strip().partition(":")
        key = name.strip().lower()
        if not key:
            continue
        if key in EMOTION_INDEX:
            named.append(part)
            continue
        preset = load_preset(key)
        try:
            scale = float(val) if val.strip() else 1.0
        except ValueError:
            raise ConfigError(f"preset {key!r}: intensity {val!r} is not a number") from None
        if not 0.0 <= scale <= 1.0:
            raise ConfigError(f"preset {key!r}: intensity must be in [0, 1], got {scale:g}")
        for emo, inten in preset.mix:
            total[emo] = total.get(emo, 0.0) + scale * inten
        if preset.style is not None:
            styles.append(preset)
    for emo, inten in parse_emotion(",".join(named)):
        total[emo] = total.get(emo, 0.0) + inten
    if len(styles) > 1:
        log.warning("%s: more than one preset carries a style code; none is used", spec)
    one = styles[0] if len(styles) == 1 else None
    return EmotionPreset(spec.strip(), tuple(sorted(total.items())), one.style if one else None,
                         one.style_weights if one else None)


def interpolate(a: EmotionPreset, b: EmotionPreset, t: float, *, name: str = "") -> EmotionPreset:
    """``(1 - t) * a + t * b`` of the two mixes' blended weights (and of their style codes when both have one of
    the same size; with only one, the style is dropped with a warning). ``t`` in [0, 1]."""
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ConfigError(f"--t must be in [0, 1], got {t:g}")
    wa, wb = a.weights(), b.weights()
    mix = {k: (1.0 - t) * wa.get(k, 0.0) + t * wb.get(k, 0.0) for k in sorted(set(wa) | set(wb))}
    style, source = None, None
    if a.style is not None and b.style is not None:
        if len(a.style) != len(b.style):
            raise ConfigError(f"style codes differ in size ({len(a.style)} vs {len(b.style)}): cannot interpolate")
        if a.style_weights != b.style_weights:
            log.warning("the style codes of %r and %r come from different weights (%s, %s); their mix means "
                        "nothing to either", a.name, b.name, a.style_weights, b.style_weights)
        style = tuple((1.0 - t) * x + t * y for x, y in zip(a.style, b.style))
        source = a.style_weights if a.style_weights == b.style_weights else None
    elif a.style is not None or b.style is not None:
        log.warning("only one of %r and %r has a style code; the interpolation has none", a.name, b.name)
    return EmotionPreset(name or f"{a.name}..{b.name}@{t:g}", tuple((k, v) for k, v in mix.items() if v > 0), style,
                         source)
