"""Phone timing benchmark: boundary error of engine.phonetics against reference segmentations, and speed.

References
- Festival (kal_diphone and cmu_us_slt_arctic_hts voices): synthetic speech whose segment timings are
  known exactly (``utt.save.segs``). This is the only ground truth we have; synthetic speech is easier
  than real speech, so treat these figures as an optimistic bound.
- PocketSphinx's own LibriVox phone alignments ($PARLEY_DATA/speech/pocketsphinx/librivox/*.phone.json):
  not hand labels; agreement with them only checks that our pipeline (loading, resampling, dictionary,
  second-pass alignment) reproduces PocketSphinx's reference run.

Metric: reference and hypothesis label sequences are matched (difflib, labels ignoring SIL), and for
each matched phone the absolute difference of start times is taken (phone onset error). "matched"
is the share of reference phones paired. Reported: mean / median abs error (ms), % within 20 / 50 ms,
for aligned (with transcript) and recognised (no transcript: through words, and the phone loop alone)
modes. Speed: CPU seconds per second of audio for load_audio + analyze + phone_timing on jfk.flac (cold =
first call in the process); analyze runs as the phonetic animator runs it (energy VAD; Silero off, see
engine.animators.phonetic.animator).

Run: ``.venv/bin/python bench/bench_phone_timing.py``
"""
from __future__ import annotations

import difflib
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import festival_items, librivox_items  # noqa: E402
from rigs.core.phones import SIL  # noqa: E402
from engine.audio.load import load_audio  # noqa: E402
from rigs.core.files import data_root  # noqa: E402
from engine.audio.prosody import FeatureConfig, analyze  # noqa: E402
from engine.phonetics import Phone, PhoneticsConfig, align, phone_timing, recognize, recognize_words  # noqa: E402

SENTENCES = [
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "it is easy to tell the depth of a well",
    "these days a chicken leg is a rare dish",
    "rice is often served in round bowls",
    "the juice of lemons makes fine punch",
    "the box was thrown beside the parked truck",
    "four hours of steady work faced us",
    "a large size in stockings is hard to sell",
    "the boy was there when the sun rose",
    "my mother bought a pair of warm woven mittens",
    "we promised to fix the broken van by five",
]


def onset_errors(ref: list[Phone], hyp: list[Phone]) -> tuple[list[float], int]:
    r = [p for p in ref if p.label != SIL]
    h = [p for p in hyp if p.label != SIL]
    sm = difflib.SequenceMatcher(a=[p.label for p in r], b=[p.label for p in h], autojunk=False)
    errs = []
    for blk in sm.get_matching_blocks():
        for k in range(blk.size):
            errs.append(abs(r[blk.a + k].start_s - h[blk.b + k].start_s))
    return errs, len(r)


# PocketSphinx's three (aligned, its words, its phone loop), then Parley's phone model aligned and as a phone loop
MODES = ("aligned", "words", "phone loop", "model aligned", "model loop")


def festival_refs(tmp: Path) -> list[tuple[Path, str, list[Phone], str]]:
    return [(it.path, f"festival/{it.speaker}", it.reference, it.text) for it in festival_items(SENTENCES, tmp)]


def librivox_refs(root: Path) -> list:
    return [(it.path, "pocketsphinx-librivox", it.reference, it.text) for it in librivox_items(root)]


def summarise(errs: list[float]) -> str:
    if not errs:
        return "   n/a"
    e = np.asarray(errs) * 1000
    return (f"{e.mean():7.1f} {np.median(e):7.1f} {np.mean(e <= 20) * 100:6.1f}% {np.mean(e <= 50) * 100:6.1f}%")


def main() -> None:
    from engine.phonetics.neural import align_neural, recognize_neural

    logging.basicConfig(level=logging.ERROR)
    root = data_root()
    with tempfile.TemporaryDirectory() as tmpd:
        cases = festival_refs(Path(tmpd)) + librivox_refs(root)
        groups: dict[tuple[str, str], list] = {}
        for wav, src, ref, text in cases:
            a = load_audio(wav)
            for mode in MODES:
                try:
                    hyp = (align(a, text) if mode == "aligned" else recognize_words(a) if mode == "words"
                           else recognize(a) if mode == "phone loop"
                           else align_neural(a, text) if mode == "model aligned" else recognize_neural(a))
                except Exception as e:  # a failed alignment counts as no matches
                    print(f"  {src} {wav.name} {mode}: {e}")
                    hyp = []
                errs, n = onset_errors(ref, hyp)
                g = groups.setdefault((src, mode), [[], 0, 0])
                g[0].extend(errs)
                g[1] += n
                g[2] += 1
        print(f"{'reference':34s} {'mode':13s} {'files':>5s} {'matched':>8s} {'mean ms':>7s} {'med ms':>7s} "
              f"{'<=20ms':>7s} {'<=50ms':>7s}")
        for (src, mode), (errs, n, files) in groups.items():
            print(f"{src:34s} {mode:13s} {files:5d} {len(errs) / max(1, n) * 100:7.1f}% {summarise(errs)}")
    # speed
    jfk = root / "speech" / "jfk.flac"
    tr = ("And so my fellow Americans, ask not what your country can do for you, ask what you can do for "
          "your country.")
    print()
    print(f"{'speed on jfk.flac (11.0 s)':40s} {'CPU s':>7s} {'CPU s / audio s':>16s}")
    for label, transcript, cfg in (("cold, with transcript", tr, PhoneticsConfig()),
                                   ("warm, with transcript", tr, PhoneticsConfig()),
                                   ("warm, recognition through words", None, PhoneticsConfig()),
                                   ("warm, phone loop", None, PhoneticsConfig(recognizer="phones"))):
        t0 = time.process_time()
        a = load_audio(jfk)
        t1 = time.process_time()
        analyze(a, fps=30, config=FeatureConfig(use_silero=False))
        t2 = time.process_time()
        phone_timing(a, transcript=transcript, config=cfg)
        t3 = time.process_time()
        print(f"{label:40s} {t3 - t0:7.3f} {(t3 - t0) / a.duration_s:16.4f}   "
              f"(load {t1 - t0:.3f}, analyze {t2 - t1:.3f}, phones {t3 - t2:.3f})")


if __name__ == "__main__":
    main()
