"""Lip-sync benchmark of the phonetic animator against an RMS->jawOpen baseline, plus speed.

Every clip is animated by the full pipeline (:class:`engine.animators.phonetic.animator.PhoneticAnimator`) and the
expression is pushed through the ICT FaceKit lip model; the metric is the inner-lip gap at the mouth
centre (:meth:`engine.animators.lips.LipModel.inner_lip_gap_m`):

- closure rate: share of P/B/M phones where the gap falls below 1 mm on some frame inside the phone
  (the frame nearest its centre when the phone holds no frame);
- open rate: share of open vowels (AA AE AH AO AW AY) whose peak gap exceeds 5 mm. 5 mm is half the
  ~1 cm height of a lip and about a third of a typical open-vowel opening (10-20 mm): a dark gap that
  is plainly visible at normal viewing distance, while the ICT neutral mouth rests at 0.8 mm.

Phones judged come from the reference pocketsphinx alignments shipped with the LibriVox clips when
present (``*.phone.json``), else from the clip's own phones. The baseline is ``jawOpen = RMS / p98(RMS)``
clipped to [0, 1] with every other channel 0. Speed: CPU seconds (process + children) per audio second
of the whole ``animate`` with ``torch.set_num_threads(1)``; real-time factor = audio s / CPU s.

Run: ``.venv/bin/python bench/bench_lipsync.py [--no-synth]``.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    # "one core": pin every math library to one thread before numpy loads (OpenBLAS's idle worker threads
    # otherwise spin and are billed as CPU time, ~1.7x here); only when run, never on import
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import frames_in_phone, librivox_dir, reference_phones  # noqa: E402
from rigs.core.phones import PHONE_CLASSES, Phone, normalize_label  # noqa: E402

BILABIAL = PHONE_CLASSES["bilabial"]
OPEN = PHONE_CLASSES["visibly_open_vowel"]
CLOSED_M, OPEN_M = 0.001, 0.005
SENTENCES = [
    "Peter Piper picked a peck of pickled peppers.",
    "Bob bought a big map for mom and papa.",
    "My mom made apple pie by the barn.",
    "Father saw a large hot dog on top of the car.",
    "Maybe Bobby may bob a bubble, but Pam might pop both.",
    "I am happy, but my dad was mad about the bad cab.",
]


def clips(data: Path, synth: bool, tmp: Path) -> list[tuple[str, Path, str | None]]:
    sp = data / "speech"
    out = [("jfk", sp / "jfk.flac", "And so my fellow Americans, ask not what your country can do for you, "
                                      "ask what you can do for your country."),
           ("sr_english", sp / "sr_english.wav", "one two three")]
    for wav in sorted(librivox_dir(data).glob("*.wav")):
        txt = wav.with_suffix(".txt")
        out.append((wav.stem[-4:], wav, txt.read_text().strip() if txt.is_file() else None))
    if synth:
        for k, s in enumerate(SENTENCES):
            f = tmp / f"espeak{k}.wav"
            r = subprocess.run(["espeak-ng", "-s", "150", "-w", str(f), s], capture_output=True)
            if r.returncode == 0:
                out.append((f"espeak{k}", f, s))
            f = tmp / f"festival{k}.wav"
            r = subprocess.run(["text2wave", "-o", str(f)], input=s.encode(), capture_output=True)
            if r.returncode == 0 and f.is_file():
                out.append((f"festival{k}", f, s))
    return out


def score(gap_m: np.ndarray, phones, fps: float) -> tuple[int, int, int, int]:
    """(closed bilabials, bilabials, visibly open vowels, open vowels) for a lip gap (T,) in metres."""
    closed = opened = nb = no = 0
    for p in phones:
        lab = normalize_label(p.label)
        if lab not in BILABIAL and lab not in OPEN:
            continue
        i = frames_in_phone(p, len(gap_m), fps)
        if lab in BILABIAL:
            nb += 1
            closed += bool(gap_m[i].min() < CLOSED_M)
        else:
            no += 1
            opened += bool(gap_m[i].max() > OPEN_M)
    return closed, nb, opened, no


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(1)
    from engine.animators.base import AnimateRequest
    from engine.animators.phonetic.animator import PhoneticAnimator
    from engine.audio.load import load_audio
    from rigs.core.files import data_root
    from engine.animators.lips import load_lip_model
    from rigs.core.arkit import ARKIT_INDEX

    try:
        import engine.phonetics  # noqa: F401
        have_phonetics = True
    except ImportError:
        have_phonetics = False
        print("NOTE: engine.phonetics not available; only clips with reference alignments are animated, "
              "using those alignments as the phones")
    lm = load_lip_model()
    an = PhoneticAnimator()
    an.lip_model()
    tot = {"ours": np.zeros(4, int), "base": np.zeros(4, int)}
    cpu_total = audio_total = 0.0
    print(f"{'clip':<12}{'dur s':>7}{'xRT':>7} | {'ours closed':>12}{'ours open':>11} | {'base closed':>12}{'base open':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, text in clips(data_root(), not args.no_synth, Path(tmp)):
            audio = load_audio(path)
            ref = reference_phones(path)
            if not have_phonetics:
                if ref is None:
                    continue
                an.phones = lambda audio, req, _r=ref: _r
            req = AnimateRequest(fps=args.fps, seed=0, transcript=text, body=True)
            c0 = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
            clip = an.animate(audio, req)
            cpu = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - c0
            cpu_total += cpu
            audio_total += audio.duration_s
            phones = ref if ref is not None else [Phone(p.start_s, p.end_s, normalize_label(p.label)) for p in clip.phonemes]
            gap = lm.inner_lip_gap_m(clip.lip_vertices)
            ours = np.array(score(gap, phones, args.fps))
            from engine.audio.prosody import analyze

            rms = np.asarray(analyze(audio, fps=args.fps).rms, np.float64)
            base = np.zeros((len(rms), 52), np.float32)
            base[:, ARKIT_INDEX["jawOpen"]] = np.clip(rms / max(np.percentile(rms, 98), 1e-9), 0, 1)
            b = np.array(score(lm.inner_lip_gap_m(lm.positions_m(base)), phones, args.fps))
            tot["ours"] += ours
            tot["base"] += b
            f = lambda a, n: f"{a}/{n}" if n else "-"
            print(f"{name:<12}{audio.duration_s:>7.2f}{audio.duration_s / max(cpu, 1e-9):>7.1f} | "
                  f"{f(ours[0], ours[1]):>12}{f(ours[2], ours[3]):>11} | {f(b[0], b[1]):>12}{f(b[2], b[3]):>11}")
    for k in ("ours", "base"):
        c, nb, o, no = tot[k]
        print(f"{'phonetic-v1' if k == 'ours' else 'RMS->jawOpen':<14} closure rate {c / max(nb, 1):.3f} ({c}/{nb})"
              f"   open rate {o / max(no, 1):.3f} ({o}/{no})")
    print(f"speed: {cpu_total:.2f} CPU s for {audio_total:.1f} audio s = {audio_total / max(cpu_total, 1e-9):.1f}x "
          f"real time on one thread (includes first-call model loading)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
