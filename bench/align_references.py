"""Make the reference phone alignments of the benchmark's real-speech selection, once.

Each utterance of :func:`references.corpus_selection` is force-aligned to its transcript with PocketSphinx 5
(en-us acoustic model, CMUdict; espeak-ng letter-to-sound for words CMUdict lacks) in a configuration of its
own, separate from the engine's: one pass over the whole utterance, wide beams (1e-80), optional silence
between words, then the phone-level second pass. The phones go to :data:`references.CORPUS_REFERENCE_FILE`,
which is committed: the lip-sync benchmark judges the engine against this file and never against phones
from the run it judges.

Limits, said plainly: these are machine alignments with the same acoustic model the engine uses, not hand
labels. They are independent of the engine's *recognition* (the no-transcript run is judged against the
true words), but a with-transcript run shares their acoustic model, so its timing errors are only partly
visible here; Festival's exact segment labels (synthetic speech) are the fully independent check.

Run: ``.venv/bin/python bench/align_references.py`` (about a minute of CPU per 5 minutes of audio).
"""
from __future__ import annotations

import argparse
import datetime
import logging
import platform
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import CORPUS_REFERENCE_FILE, corpus_selection, write_corpus_references  # noqa: E402
from rigs.core.phones import SIL, Phone, normalize_label  # noqa: E402

FRAME_S = 0.01
REFERENCE_BEAMS = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80}

log = logging.getLogger("align_references")


def reference_alignment(path: Path, text: str, tmp: Path) -> list[Phone]:
    """Phones of ``text`` force-aligned to the recording at ``path`` (see the module docstring)."""
    import numpy as np
    import pocketsphinx as ps

    from engine.audio.load import load_audio
    from engine.phonetics.lexicon import normalize_transcript, pronunciations

    audio = load_audio(path)
    y = audio.samples
    if audio.sr != 16000:
        import soxr
        y = soxr.resample(y, audio.sr, 16000)
    pcm = (np.clip(y, -1, 1) * 32767).round().astype("<i2")
    words = normalize_transcript(text)
    prons = pronunciations(words)
    dic = tmp / "ref.dict"
    dic.write_text("".join(f"{w if k == 0 else f'{w}({k + 1})'} {' '.join(p)}\n"
                           for w in sorted(set(words)) for k, (p, _) in enumerate(prons[w])), encoding="utf-8")
    dec = ps.Decoder(ps.Config(loglevel="FATAL", dict=str(dic), lm=None, bestpath=False, **REFERENCE_BEAMS))
    dec.set_align_text(" ".join(words))
    for second in (False, True):
        if second:
            dec.set_alignment()
        dec.start_utt()
        dec.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        dec.end_utt()
    phones = []
    for w in dec.get_alignment():
        base = re.sub(r"\(\d+\)$", "", w.name)
        silent = base in ("<sil>", "<s>", "</s>") or base.startswith("+")
        for p in w:
            lab = SIL if silent else normalize_label(p.name)
            phones.append(Phone(p.start * FRAME_S, (p.start + p.duration) * FRAME_S, lab, None,
                                None if silent else base.upper()))
    return phones


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=CORPUS_REFERENCE_FILE)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from rigs.core.files import data_root

    items = corpus_selection(data_root())
    out: dict[str, list[Phone]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for it in items:
            try:
                out[it.utt_id] = reference_alignment(it.path, it.text, Path(tmp))
            except Exception as e:  # a failed reference is left out, and said so
                log.warning("%s: no reference alignment (%s)", it.utt_id, e)
    header = (f"reference phone alignments of the lip-sync benchmark's real-speech selection\n"
              f"made by bench/align_references.py on {datetime.date.today()} ({platform.machine()}); "
              f"PocketSphinx en-us, CMUdict, beams {REFERENCE_BEAMS}\n"
              f"columns: utt_id start_s end_s label word; {len(out)} of {len(items)} utterances")
    write_corpus_references(args.out, out, header)
    print(f"{len(out)} of {len(items)} utterances aligned -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
