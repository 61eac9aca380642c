"""``parley emotions list | show | save``: the seven named emotions, saved presets, their blended weights and
interpolation between two mixes (:mod:`engine.animators.emotion_presets` does the work; this module is the
command line's parser and handler, which returns the lines to print)."""
from __future__ import annotations

import argparse
import json

from engine.animators.emotion_presets import (EmotionPreset, interpolate, list_presets, presets_dir,
                                              resolve_emotion, save_preset)
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError

EMOTIONS_HELP = """\
The seven named emotions ({names}) and your saved presets. A MIX is
NAME[:INTENSITY][,NAME[:INTENSITY]...] where NAME is an emotion or a saved preset, e.g. joy:0.7,surprise:0.3;
`show` prints the weights the face and body blend with (intensities summing above 1 are scaled to sum to 1,
neutral takes the rest); `save` stores a mix as a preset usable as `parley animate --emotion NAME`; with
--between A B --t T both interpolate two mixes' weights. Presets live in {folder}."""


def add_emotions_parser(sub) -> None:
    """Add ``emotions`` and its steps to the ``parley`` subcommands."""
    e = sub.add_parser("emotions", help="list, show, mix, interpolate and save emotion presets",
                       description=EMOTIONS_HELP.format(names=", ".join(EMOTIONS), folder=presets_dir()))
    es = e.add_subparsers(dest="emotions_command", metavar="STEP")
    es.required = True
    ls = es.add_parser("list", help="the named emotions and saved presets")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    for step, what in (("show", "print a mix's blended weights"), ("save", "store a mix as a named preset")):
        p = es.add_parser(step, help=what)
        if step == "save":
            p.add_argument("name", metavar="NAME", help="the preset's name (letters, digits, - and _)")
            p.add_argument("--force", action="store_true", help="replace a preset of that name")
        p.add_argument("mix", metavar="MIX", nargs="?", help="an emotion, a preset, or a mix such as joy:0.7,surprise:0.3")
        p.add_argument("--between", nargs=2, metavar=("A", "B"), help="interpolate between two mixes instead")
        p.add_argument("--t", type=float, default=0.5, help="where between A (0) and B (1); default 0.5")
        if step == "show":
            p.add_argument("--json", action="store_true", help="machine-readable output")


def _mix_of(ns) -> EmotionPreset:
    if ns.between and ns.mix:
        raise ConfigError("give a MIX or --between A B, not both")
    if ns.between:
        a, b = (resolve_emotion(s) for s in ns.between)
        return interpolate(a, b, ns.t)
    if not ns.mix:
        raise ConfigError("give a MIX (e.g. joy:0.7,surprise:0.3) or --between A B --t T")
    return resolve_emotion(ns.mix)


def _weights_row(p: EmotionPreset) -> dict[str, float]:
    w = p.weights()
    return {**{k: round(w[k], 4) for k in EMOTIONS if k in w}, "neutral": round(p.neutral_weight(), 4)}


def _summary(p: EmotionPreset) -> str:
    mix = ", ".join(f"{k}:{v:.3g}" for k, v in p.mix) or "neutral"
    return mix + (f"  (style code, {len(p.style)} numbers)" if p.style is not None else "")


def run_emotions(ns: argparse.Namespace) -> list[str]:
    """Run ``parley emotions STEP``; returns the lines for stdout."""
    if ns.emotions_command == "list":
        presets = list_presets()
        if ns.json:
            return [json.dumps({"emotions": list(EMOTIONS), "presets": [p.to_json() for p in presets]})]
        lines = [f"{k:<12} named emotion" for k in EMOTIONS]
        lines += [f"{p.name:<12} preset: {_summary(p)}" for p in presets]
        return lines
    preset = _mix_of(ns)
    if ns.emotions_command == "show":
        row = _weights_row(preset)
        if ns.json:
            out = {"mix": preset.name, "weights": row,
                   "style": None if preset.style is None else list(preset.style)}
            return [json.dumps(out)]
        lines = [f"{k:<10} {v:.3f}" for k, v in row.items()]
        if preset.style is not None:
            lines.append(f"style code: {len(preset.style)} numbers")
        return lines
    saved = EmotionPreset(ns.name, preset.mix, preset.style)
    return [str(save_preset(saved, overwrite=ns.force))]
