"""Honest lip-sync benchmark of the phonetic animator: real speech judged against references that do not come
from the run under test, with and without the transcript, next to an RMS->jawOpen baseline; and closeness to
a real capture of the mouth (FACEGOOD) next to a still, neutral face.

References (:mod:`references`): the committed forced alignments of a fixed selection of the real speech corpus
(LJ Speech, VCTK p239, LibriSpeech test-other; made once by ``align_references.py``), the alignments shipped
with the LibriVox clips (PocketSphinx's test data), and the exact segment labels of Festival's synthetic
speech. Every clip is animated by the whole pipeline (:class:`engine.animators.phonetic.animator.PhoneticAnimator`,
body off) with its transcript and without it; scores are those of :mod:`engine.metrics.face` (closures on P/B/M,
open vowels visibly open, vowels shut throughout, stray tongue frames). Real-speech rows are per corpus and
speaker; ``held-out`` are the utterances and speakers never looked at while tuning.

FACEGOOD: the captured ARKit mouth and jaw weights and Parley's expression (no transcript: the speech is
Mandarin) both go through the same ICT FaceKit lip model; LVE (mm and mm^2), inner-lip-gap correlation and
MAE, ``jawOpen`` correlation, per clip (01-03 may be used for calibration, 04-05 are held out).

Run: ``.venv/bin/python bench/bench_lipsync.py [--only corpus,librivox,festival,facegood] [--split held-out]
[--json out.json]``. Speed is measured separately, on whole processes, by ``bench_speed.py``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import (DEV, HELD_OUT, Item, corpus_selection, facegood_captures, festival_items,  # noqa: E402
                        librivox_items, read_corpus_references, with_references)
from scoring import rms_expression  # noqa: E402

from engine.metrics.face import PhoneScores, capture_scores, phone_scores, pooled_capture_scores  # noqa: E402

FESTIVAL_SENTENCES = [
    "Peter Piper picked a peck of pickled peppers.",
    "Bob bought a big map for mom and papa.",
    "My mom made apple pie by the barn.",
    "Father saw a large hot dog on top of the car.",
    "the birch canoe slid on the smooth planks",
    "the box was thrown beside the parked truck",
    "my mother bought a pair of warm woven mittens",
    "we promised to fix the broken van by five",
]
MODES = ("transcript", "none", "rms")
MODE_TITLES = {"transcript": "with transcript", "none": "no transcript", "rms": "RMS->jawOpen"}
GROUPS = ("corpus", "librivox", "festival", "facegood")

log = logging.getLogger("bench_lipsync")


def _fmt_rate(num: int, den: int) -> str:
    return f"{num / den:.3f} ({num}/{den})" if den else "-"


def row_key(it: Item) -> tuple[str, str, str]:
    return it.corpus, it.speaker, it.split


class Runner:
    """Animates items in one process (one animator, one lip model) and keeps the scores."""

    def __init__(self, fps: float, phonetics: dict | None = None, modes: tuple[str, ...] = MODES):
        from engine.animators.lips import load_lip_model
        from engine.animators.phonetic.animator import PhoneticAnimator, PhoneticConfig
        from engine.phonetics import PhoneticsConfig
        from rigs.core.arkit import ARKIT_INDEX

        self.fps, self.modes = fps, modes
        self.lm = load_lip_model()
        self.an = PhoneticAnimator(PhoneticConfig(phonetics=PhoneticsConfig(**(phonetics or {}))))
        self.jaw, self.tongue = ARKIT_INDEX["jawOpen"], ARKIT_INDEX["tongueOut"]
        self.cpu_s: dict[str, float] = defaultdict(float)
        self.audio_s: dict[str, float] = defaultdict(float)

    def expression(self, audio, transcript: str | None, mode: str) -> np.ndarray:
        from engine.animators.base import AnimateRequest

        req = AnimateRequest(fps=self.fps, seed=0, transcript=transcript, body=False)
        c0 = time.process_time()
        clip = self.an.animate(audio, req)
        self.cpu_s[mode] += time.process_time() - c0
        self.audio_s[mode] += audio.duration_s
        return np.asarray(clip.expression, np.float64)

    def rms(self, audio) -> np.ndarray:
        from engine.audio.prosody import FeatureConfig, analyze

        return rms_expression(np.asarray(analyze(audio, fps=self.fps, config=FeatureConfig(use_silero=False)).rms),
                              self.jaw)

    def phone_scores(self, expr: np.ndarray, phones) -> PhoneScores:
        gap = self.lm.inner_lip_gap_m(self.lm.positions_m(expr))
        return phone_scores(gap, expr[:, self.tongue], phones, self.fps)


def run_items(runner: Runner, items: list[Item]) -> dict[tuple, dict[str, PhoneScores]]:
    from engine.audio.load import load_audio

    out: dict[tuple, dict[str, PhoneScores]] = defaultdict(lambda: {m: PhoneScores() for m in MODES})
    for k, it in enumerate(items):
        audio = load_audio(it.path)
        row = out[row_key(it)]
        for mode in runner.modes:
            expr = runner.rms(audio) if mode == "rms" else runner.expression(
                audio, it.text if mode == "transcript" else None, mode)
            row[mode] = row[mode] + runner.phone_scores(expr, it.reference)
        log.info("%d/%d %s", k + 1, len(items), it.utt_id)
    return out


def print_phone_table(title: str, rows: dict[tuple, dict[str, PhoneScores]], totals: dict[str, dict]) -> None:
    print(f"\n### {title}\n")
    print("| corpus | speaker | split | mode | closures (P/B/M lips meet) | open vowels visibly open | "
          "vowels shut throughout | false closures (lips meet inside other phones) | stray tongueOut frames |")
    print("|---|---|---|---|---|---|---|---|---|")

    def line(c, s, sp, sc):
        for mode in MODES:
            x = sc[mode]
            tongue = (f"{x.stray_tongue_rate:.3%}" if x.speech_frames else "-") if mode != "rms" else "-"
            print(f"| {c} | {s} | {sp} | {MODE_TITLES[mode]} | {_fmt_rate(x.closed, x.bilabials)} | "
                  f"{_fmt_rate(x.opened, x.open_vowels)} | {_fmt_rate(x.shut_vowels, x.vowels)} | "
                  f"{_fmt_rate(x.falsely_closed, x.judged_phones)} | {tongue} |")

    for (c, s, sp), sc in sorted(rows.items()):
        line(c, s, sp, sc)
    for name, sc in totals.items():
        line(f"**{name}**", "", "", sc)


def total(rows: dict[tuple, dict[str, PhoneScores]], pick) -> dict[str, PhoneScores]:
    out = {m: PhoneScores() for m in MODES}
    for key, sc in rows.items():
        if pick(key):
            for m in MODES:
                out[m] = out[m] + sc[m]
    return out


def run_facegood(runner: Runner, data: Path) -> list[dict]:
    from engine.audio.load import load_audio

    lm = runner.lm
    results = []
    print("\n### FACEGOOD real capture (Mandarin, 30 fps; ICT FaceKit lip model)\n")
    print("| clip | split | face | LVE mm | LVE^2 mm^2 | lip-gap corr | lip-gap MAE mm | jawOpen corr |")
    print("|---|---|---|---|---|---|---|---|")
    pooled: dict[tuple[str, str], list] = defaultdict(list)
    for cap in facegood_captures(data):
        audio = load_audio(cap.wav)
        ref_v = lm.positions_m(cap.expression)
        ref_gap = lm.inner_lip_gap_m(ref_v)
        faces = {"Parley (no transcript)": runner.expression(audio, None, "facegood"),
                 "still neutral face": np.zeros_like(cap.expression, np.float64),
                 "RMS->jawOpen": runner.rms(audio)}
        for face, expr in faces.items():
            v = lm.positions_m(expr)
            sc = capture_scores(v, ref_v, lm.inner_lip_gap_m(v), ref_gap, expr[:, runner.jaw],
                                cap.expression[:, runner.jaw])
            pooled[(cap.split, face)].append(sc)
            results.append({"clip": cap.name, "split": cap.split, "face": face, **sc.__dict__})
            print(f"| {cap.name} | {cap.split} | {face} | {sc.lve_mm:.2f} | {sc.lve_sq_mm2:.1f} | "
                  f"{sc.gap_corr:.3f} | {sc.gap_mae_mm:.2f} | {sc.jaw_corr:.3f} |")
    for (split, face), parts in sorted(pooled.items()):
        sc = pooled_capture_scores(parts)
        results.append({"clip": "all", "split": split, "face": face, **sc.__dict__})
        print(f"| **all {split}** | {split} | {face} | {sc.lve_mm:.2f} | {sc.lve_sq_mm2:.1f} | {sc.gap_corr:.3f} | "
              f"{sc.gap_mae_mm:.2f} | {sc.jaw_corr:.3f} |")
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}")
    ap.add_argument("--split", choices=("all", DEV, HELD_OUT), default="all", help="real-speech utterances to run")
    ap.add_argument("--limit", type=int, default=0, help="at most this many real-speech utterances (0: all)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--acoustic", choices=("auto", "neural", "sphinx"), default="auto",
                    help="phone timing: Parley's phone model, PocketSphinx, or the default (auto)")
    ap.add_argument("--phonetics", default="{}", help="JSON of further PhoneticsConfig fields (dev tuning)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    from rigs.core.files import data_root

    only = set(args.only.split(","))
    data = data_root()
    phonetics = {"acoustic": args.acoustic, **json.loads(args.phonetics)}
    runner = Runner(args.fps, phonetics, tuple(m for m in MODES if m in args.modes.split(",")))
    report: dict = {"date": time.strftime("%Y-%m-%d"), "loadavg": os.getloadavg(), "phonetics": phonetics}
    real: dict[tuple, dict[str, PhoneScores]] = {}
    if "corpus" in only:
        items = with_references(corpus_selection(data), read_corpus_references())
        if args.split != "all":
            items = [i for i in items if i.split == args.split]
        if args.limit:
            items = items[:: max(1, len(items) // args.limit)][: args.limit]
        real.update(run_items(runner, items))
    if "librivox" in only:
        real.update(run_items(runner, librivox_items(data)))
    if real:
        print_phone_table("Real speech against reference alignments", real, {
            "held-out speakers (LibriSpeech)": total(real, lambda k: k[0] == "librispeech" and k[2] == HELD_OUT),
            "held-out utterances, all real speech": total(real, lambda k: k[2] == HELD_OUT),
            "all real speech": total(real, lambda k: True)})
    synth: dict[tuple, dict[str, PhoneScores]] = {}
    if "festival" in only:
        with tempfile.TemporaryDirectory() as tmp:
            synth.update(run_items(runner, festival_items(FESTIVAL_SENTENCES, Path(tmp))))
        if synth:
            print_phone_table("Festival synthetic speech against its exact segment labels", synth,
                              {"all Festival": total(synth, lambda k: True)})
    report["phones"] = [{"corpus": c, "speaker": s, "split": sp, "mode": m, **sc[m].__dict__}
                        for (c, s, sp), sc in sorted({**real, **synth}.items()) for m in MODES]
    if "facegood" in only:
        report["facegood"] = run_facegood(runner, data)
    speed = {m: (runner.audio_s[m] / max(runner.cpu_s[m], 1e-9)) for m in runner.cpu_s}
    report["in_process_x_real_time"] = speed
    print("\nin-process CPU speed (animate, body off, one thread): " +
          ", ".join(f"{m} {v:.1f}x" for m, v in speed.items()) + f"; load average {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
