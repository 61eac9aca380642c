"""``parley emotions list | show | save | styles``: the seven named emotions, saved presets, their blended weights,
interpolation between two mixes, and the learned style codes of the neural face (one per training clip; a
preset can carry one, or a mix of them, with ``--style``). :mod:`engine.animators.emotion_presets` does the
preset work; this module is the command line's parser and handler, which returns the lines to print."""
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
--between A B --t T both interpolate two mixes' weights (and their style codes). `styles` lists the neural
face's learned style codes, one per training clip (Karras et al. 2017's emotion database); `--style
CLIP[:W][,CLIP[:W]...]` puts one, or a weighted sum of them, into a preset (the neural face's upper face, head
and eyes follow it; the mouth and the phonetic engine do not). Presets live in {folder}."""

STYLE_HELP = ("a learned style code: a training clip of the neural-face weights (`parley emotions styles`), or "
              "a weighted sum CLIP:W,CLIP:W (W default 1; 0.5 is half-way to the average manner)")


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
        p.add_argument("--style", metavar="CLIP[:W],...", help=STYLE_HELP)
        p.add_argument("--checkpoint", help="neural-face weights whose style codes --style names (default: "
                       "$PARLEY_NEURAL_CHECKPOINT, else the shipped ones)")
        if step == "show":
            p.add_argument("--json", action="store_true", help="machine-readable output")
    st = es.add_parser("styles", help="the neural face's learned style codes (one per training clip)")
    st.add_argument("--match", metavar="TEXT", help="only clips whose name holds TEXT")
    st.add_argument("--checkpoint", help="neural-face weights (default: $PARLEY_NEURAL_CHECKPOINT, else the shipped)")
    st.add_argument("--json", action="store_true", help="machine-readable output (names and codes)")


def _mix_of(ns) -> EmotionPreset:
    if ns.between and ns.mix:
        raise ConfigError("give a MIX or --between A B, not both")
    if ns.between:
        a, b = (resolve_emotion(s) for s in ns.between)
        preset = interpolate(a, b, ns.t)
    elif ns.mix:
        preset = resolve_emotion(ns.mix)
    elif ns.style:
        preset = EmotionPreset("", ())                    # a style code alone, on the neutral mix
    else:
        raise ConfigError("give a MIX (e.g. joy:0.7,surprise:0.3), --between A B --t T, or --style CLIP")
    if ns.style:
        if preset.style is not None:
            raise ConfigError(f"{preset.name or 'the mix'} already carries a style code; --style would replace it")
        weights, code = style_code(ns.style, ns.checkpoint)
        preset = EmotionPreset(preset.name, preset.mix, code, weights)
    return preset


def _style_table(checkpoint: str | None) -> tuple:
    """(weights id, clip names, (N, S) codes) of the neural-face weights; ConfigError without style codes."""
    from engine.animators.neural.animator import checkpoint_path
    from engine.learned.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint_path(checkpoint))
    names, codes = loaded.styles()
    if not names:
        raise ConfigError(f"the neural-face weights {loaded.path} have no style codes (weights made before them, "
                          "or a face diffusion trained without)")
    return loaded.id, names, codes


def style_code(spec: str, checkpoint: str | None) -> tuple[str, tuple[float, ...]]:
    """``CLIP[:W][,CLIP[:W]...]`` -> (the weights' id, the weighted sum of those clips' style codes in them)."""
    model_id, names, codes = _style_table(checkpoint)
    where = {n: i for i, n in enumerate(names)}
    total = None
    for part in spec.split(","):
        part = part.strip()
        name, sep, w = (part, "", "") if part in where or ":" not in part else part.rpartition(":")
        try:
            weight = float(w) if sep else 1.0
        except ValueError:
            raise ConfigError(f"--style {part!r}: the weight {w!r} is not a number") from None
        if name not in where:
            near = [n for n in names if name.lower() in n.lower()][:5]
            raise ConfigError(f"--style: no training clip {name!r} in these weights"
                              + (f"; clips with that text: {', '.join(near)}" if near else
                                 " (`parley emotions styles` lists them)"))
        v = weight * codes[where[name]].astype(float)
        total = v if total is None else total + v
    if total is None:
        raise ConfigError("--style: name at least one training clip")
    return model_id, tuple(round(float(x), 6) for x in total)


def _weights_row(p: EmotionPreset) -> dict[str, float]:
    w = p.weights()
    return {**{k: round(w[k], 4) for k in EMOTIONS if k in w}, "neutral": round(p.neutral_weight(), 4)}


def _summary(p: EmotionPreset) -> str:
    mix = ", ".join(f"{k}:{v:.3g}" for k, v in p.mix) or "neutral"
    return mix + (f"  (style code, {len(p.style)} numbers, of {p.style_weights or 'unrecorded weights'})"
                  if p.style is not None else "")


def run_emotions(ns: argparse.Namespace) -> list[str]:
    """Run ``parley emotions STEP``; returns the lines for stdout."""
    if ns.emotions_command == "styles":
        model_id, names, codes = _style_table(ns.checkpoint)
        keep = [i for i, n in enumerate(names) if not ns.match or ns.match.lower() in n.lower()]
        if ns.json:
            return [json.dumps({"weights": model_id, "dims": int(codes.shape[1]),
                                "styles": [{"clip": names[i], "code": [round(float(x), 6) for x in codes[i]]}
                                           for i in keep]})]
        lines = [f"{model_id}: {len(names)} style codes of {codes.shape[1]} numbers"
                 + (f", {len(keep)} matching {ns.match!r}" if ns.match else "")]
        lines += [f"{names[i]:<48} |code| {float((codes[i] ** 2).sum() ** 0.5):.3f}" for i in keep]
        return lines
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
                   "style": None if preset.style is None else list(preset.style),
                   "style_weights": preset.style_weights}
            return [json.dumps(out)]
        lines = [f"{k:<10} {v:.3f}" for k, v in row.items()]
        if preset.style is not None:
            lines.append(f"style code: {len(preset.style)} numbers, of {preset.style_weights or 'unrecorded weights'}")
        return lines
    saved = EmotionPreset(ns.name, preset.mix, preset.style, preset.style_weights)
    return [str(save_preset(saved, overwrite=ns.force))]
