"""How far the synthesisers' own phone times are from a forced alignment of the same audio.

For each voice, a few generated sentences are synthesised (:mod:`.synth`) and force-aligned with their text
(:func:`engine.phonetics.align`, the runtime's aligner). The two phone sequences (silences dropped) are
matched label by label (longest matching blocks, :class:`difflib.SequenceMatcher`); for every matched phone
the difference of its start times is one disagreement. Reported per voice: the matched share of the
synthesiser's phones, and the mean and 95th percentile of the absolute disagreement in ms.

The synthesiser's times are exact for its audio; the alignment is what the corpus uses for real speech, so
these figures bound how far real-speech labels may sit from the truth (an aligner with a 10 ms frame and
3-frame minimum phones cannot do better than about 10-20 ms).
"""
from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

import numpy as np

from rigs.core.errors import ParleyError
from rigs.core.phones import SIL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceTiming:
    voice: str
    sentences: int
    phones: int            # synthesiser phones (no silence)
    matched: int
    mean_ms: float
    p95_ms: float


def compare(synth_phones, aligned_phones) -> np.ndarray:
    """Absolute start-time differences (s) of the phones matched between two sequences (silence dropped)."""
    a = [p for p in synth_phones if p.label != SIL]
    b = [p for p in aligned_phones if p.label != SIL]
    sm = difflib.SequenceMatcher(a=[p.label for p in a], b=[p.label for p in b], autojunk=False)
    d = [abs(a[blk.a + k].start_s - b[blk.b + k].start_s) for blk in sm.get_matching_blocks() for k in range(blk.size)]
    return np.asarray(d, np.float64)


def timing_disagreement(*, per_voice: int = 5, seed: int = 0, voices=None) -> list[VoiceTiming]:
    """Per-voice disagreement between synthesiser timings and forced alignment (module docstring)."""
    from engine.phonetics import align
    from engine.training.corpus.synth import available_voices, synthesize, synthetic_items

    out = []
    for voice in voices or available_voices():
        items = synthetic_items(per_voice * 4.0, seed=seed, voices=[voice])[:per_voice]
        diffs, n_ph, n_ok = [], 0, 0
        for item in items:
            try:
                audio, phones = synthesize(item)
                aligned = align(audio, item.text)
            except ParleyError as e:
                log.warning("%s: %s: %s", voice.name, item.text, e)
                continue
            d = compare(phones, aligned)
            diffs.append(d)
            n_ph += sum(p.label != SIL for p in phones)
            n_ok += 1
        d = np.concatenate(diffs) if diffs else np.zeros(0)
        out.append(VoiceTiming(voice.name, n_ok, n_ph, int(d.size), float(1000 * d.mean()) if d.size else float("nan"),
                               float(1000 * np.percentile(d, 95)) if d.size else float("nan")))
    return out


def markdown(rows: list[VoiceTiming]) -> str:
    lines = ["| voice | sentences | phones | matched | mean (ms) | p95 (ms) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.voice} | {r.sentences} | {r.phones} | {r.matched / max(r.phones, 1):.0%} | {r.mean_ms:.1f} | "
              f"{r.p95_ms:.1f} |" for r in rows]
    return "\n".join(lines)
