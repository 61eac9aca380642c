"""The lip-sync benchmark's fixed selection of the real speech corpus, in one home.

``$PARLEY_DATA/speech_corpus`` (LJ Speech part, VCTK p239, LibriSpeech test-other) has word transcripts
only. The benchmark (``bench/bench_lipsync.py``, ``bench/references.py``) force-aligned a fixed selection
of it once and judges on it; the corpus builder must keep that selection out of training
(see ``docs/corpus.md``): the selection's *dev* half may be looked at
(split "val"), its *held-out* half never (split "test"). Both read the selection from here, so the two
cannot drift apart.

The selection: LJ Speech every ``LJ_STEP``-th clip and VCTK every ``VCTK_STEP``-th, dev / held-out by
alternating position; LibriSpeech test-other ``LIBRISPEECH_PER_SPEAKER`` utterances per speaker, dev /
held-out by speaker (:data:`LIBRISPEECH_DEV_SPEAKERS`); plus ``jfk.flac`` and ``sr_english.wav`` (held out).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from rigs.core.phones import Phone

CORPUS_DIR = Path("speech_corpus")    # under the data root
DEV, HELD_OUT = "dev", "held-out"
LJ_STEP = 16                 # every 16th LJ Speech clip
VCTK_STEP = 17               # every 17th VCTK p239 utterance
LIBRISPEECH_PER_SPEAKER = 4  # the first 4 test-other utterances of each of its 10 speakers
LIBRISPEECH_DEV_SPEAKERS = ("1688", "1998", "2033", "2414", "2609")   # the other 5 are held out


@dataclass(frozen=True)
class Item:
    """One benchmark utterance: where it comes from, its audio and transcript, and its reference phones
    (None until attached from the benchmark's reference file)."""

    corpus: str
    speaker: str
    utt_id: str
    path: Path
    text: str
    split: str
    reference: list[Phone] | None = None


def read_manifest_tsv(folder: Path) -> list[dict[str, str]]:
    """Rows of ``folder/manifest.tsv`` (columns path, speaker, seconds, text or text_normalized)."""
    with open(Path(folder) / "manifest.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def text_key(rows: list[dict[str, str]]) -> str:
    """The transcript column of a manifest: ``text_normalized`` where there is one, else ``text``."""
    return "text_normalized" if rows and "text_normalized" in rows[0] else "text"


def corpus_selection(data_root: Path) -> list[Item]:
    """The benchmark's fixed selection of ``speech_corpus`` (module docstring); references not attached."""
    root = Path(data_root) / CORPUS_DIR
    items: list[Item] = []
    for corpus, step in (("ljspeech_part", LJ_STEP), ("vctk_p239", VCTK_STEP)):
        rows = read_manifest_tsv(root / corpus)
        key = text_key(rows)
        for k, r in enumerate(rows[::step]):
            items.append(Item(corpus, r["speaker"], Path(r["path"]).stem, root / corpus / r["path"],
                              r[key], DEV if k % 2 == 0 else HELD_OUT))
    rows = [r for r in read_manifest_tsv(root / "librispeech") if r["path"].startswith("test-other/") and r["text"]]
    per: dict[str, int] = {}
    for r in sorted(rows, key=lambda r: r["path"]):
        n = per.get(r["speaker"], 0)
        if n >= LIBRISPEECH_PER_SPEAKER:
            continue
        per[r["speaker"]] = n + 1
        items.append(Item("librispeech", r["speaker"], Path(r["path"]).stem, root / "librispeech" / r["path"],
                          r["text"], DEV if r["speaker"] in LIBRISPEECH_DEV_SPEAKERS else HELD_OUT))
    sp = Path(data_root) / "speech"
    items.append(Item("jfk", "jfk", "jfk", sp / "jfk.flac", "And so my fellow Americans, ask not what your "
                      "country can do for you, ask what you can do for your country.", HELD_OUT))
    items.append(Item("sr_english", "sr_english", "sr_english", sp / "sr_english.wav", "one two three", HELD_OUT))
    return items
