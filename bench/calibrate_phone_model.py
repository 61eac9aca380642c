"""Calibrate the phone model's transcript-fit threshold on the lip-sync benchmark's *dev* utterances.

Each dev utterance is force-aligned with its own transcript and with another utterance's (a wrong one); the
score gap to the free phone loop per frame of speech (:func:`engine.phonetics.neural.fit_gap`) separates them.
Prints both distributions and the threshold halfway between the largest right gap and the smallest wrong one,
which ``parley train phones --init CKPT --card '{"max_mismatch": X}'`` stores in the weights file.

Run: ``PARLEY_PHONE_NET=model.npz .venv/bin/python bench/calibrate_phone_model.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from references import DEV, corpus_selection, read_corpus_references, with_references  # noqa: E402


def main() -> int:
    from engine.audio.load import load_audio
    from engine.phonetics import PhoneticsConfig
    from engine.phonetics import neural
    from engine.phonetics.config import AlignmentMismatch
    from engine.phonetics.lexicon import normalize_transcript, pronunciations
    from rigs.core.files import data_root

    cfg = PhoneticsConfig(acoustic="neural")
    net = neural.load_net()
    items = [i for i in with_references(corpus_selection(data_root()), read_corpus_references()) if i.split == DEV]

    def gap(audio, text: str) -> float:
        emit = neural.emission_scores(neural.log_posteriors(audio, net), net, cfg)
        words = normalize_transcript(text)
        labels, optional, _ = neural.transcript_phones(words, pronunciations(words))
        try:
            _, score = neural.viterbi_chain(emit, neural.chain(labels, optional, min_frames=cfg.neural_min_frames))
        except AlignmentMismatch:
            return float("inf")
        return neural.fit_gap(score, emit, net, audio, cfg)[0]

    right, wrong = [], []
    for k, it in enumerate(items):
        audio = load_audio(it.path)
        right.append(gap(audio, it.text))
        wrong.append(gap(audio, items[(k + 7) % len(items)].text))
    r, w = np.array(right), np.array(wrong)
    print(f"{net.info.get('id')}: {len(items)} dev utterances")
    print("right transcript, gap percentiles 50/90/99/100:", np.percentile(r, [50, 90, 99, 100]).round(3))
    print("wrong transcript, gap percentiles 0/1/10/50:  ", np.percentile(w[np.isfinite(w)], [0, 1, 10, 50]).round(3),
          f"({int(np.sum(~np.isfinite(w)))} found no path)")
    print(f"threshold (halfway): {0.5 * (r.max() + w[np.isfinite(w)].min()):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
