"""What a corpus is built from: the source items (one utterance each) and the split each belongs to.

Real speech (``$PARLEY_DATA/speech_corpus``, transcribed folders only) is split by the binding rule of
``docs/corpus.md``: the benchmark's fixed selection (:mod:`.selection`) is never trained on (its dev
half is "val", its held-out half "test"); LibriSpeech test-other is "val" for the benchmark's dev speakers
and "test" for the others (never "train"); every other LJ Speech and VCTK p239 utterance is "train".
LibriSpeech train-clean-100 has no transcripts: with the "pseudo" source (:func:`untranscribed_items`, opt-in)
its 251 speakers are labelled by recognition, what ``parley animate`` does without a transcript, and are
"train" (LibriSpeech's training speakers are not its test speakers, so none is a benchmark speaker).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.training.corpus.selection import (CORPUS_DIR, DEV, LIBRISPEECH_DEV_SPEAKERS, corpus_selection,
                                              read_manifest_tsv, text_key)
from rigs.core.errors import DataMissingError

REAL_FOLDERS = ("ljspeech_part", "vctk_p239", "librispeech")
UNTRANSCRIBED = ("librispeech", "train-clean-100/")      # (folder, path prefix) of the pseudo-labelled speech
LICENCES = {"ljspeech_part": "public domain (LJ Speech 1.1)",
            "vctk_p239": "ODC-By-1.0 (CSTR VCTK 0.80; attribution required)",
            "librispeech": "CC-BY-4.0 (LibriSpeech, Panayotov et al.)"}


@dataclass(frozen=True)
class SourceItem:
    """One utterance to label. ``path`` is relative to the data root (real speech; "" for synthetic);
    ``seconds`` its expected duration (the real corpus' manifest; an estimate for synthetic text);
    ``synth`` the synthesiser settings of a synthetic item."""

    id: str
    source: str          # "real" | "synthetic" | "pseudo" (real speech labelled by recognition)
    corpus: str          # real: the speech_corpus folder; synthetic: the synthesiser
    voice: str           # speaker id or synthetic voice name
    text: str
    split: str
    seconds: float
    licence: str
    path: str = ""
    synth: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _corpus_root(data_root: Path) -> Path:
    root = Path(data_root) / CORPUS_DIR
    if not root.is_dir():
        raise DataMissingError(f"real speech not found: {root} (set PARLEY_DATA to the data folder)")
    return root


def untranscribed_items(data_root: Path) -> list[SourceItem]:
    """Every LibriSpeech train-clean-100 utterance (one per speaker) as a "pseudo" item of the train split,
    sorted by id; its text is left empty even where the manifest has one, so every item is labelled alike."""
    folder, prefix = UNTRANSCRIBED
    root = _corpus_root(data_root)
    out = [SourceItem(id=f"{folder}/{Path(r['path']).stem}", source="pseudo", corpus=folder, voice=r["speaker"],
                      text="", split="train", seconds=float(r["seconds"]), licence=LICENCES[folder],
                      path=str(CORPUS_DIR / folder / r["path"]))
           for r in read_manifest_tsv(root / folder) if r["path"].startswith(prefix)]
    return sorted(out, key=lambda i: i.id)


def real_items(data_root: Path) -> list[SourceItem]:
    """Every transcribed utterance of ``speech_corpus`` with its split, sorted by id."""
    root = _corpus_root(data_root)
    bench = {(i.corpus, i.utt_id): i.split for i in corpus_selection(data_root)}
    out = []
    for folder in REAL_FOLDERS:
        rows = read_manifest_tsv(root / folder)
        key = text_key(rows)
        for r in rows:
            text = (r.get(key) or "").strip()
            if not text:
                continue                     # untranscribed (train-clean-100): not labelled
            utt = Path(r["path"]).stem
            if folder == "librispeech":
                if not r["path"].startswith("test-other/"):
                    continue
                split = "val" if r["speaker"] in LIBRISPEECH_DEV_SPEAKERS else "test"
            elif (folder, utt) in bench:
                split = "val" if bench[(folder, utt)] == DEV else "test"
            else:
                split = "train"
            out.append(SourceItem(id=f"{folder}/{utt}", source="real", corpus=folder, voice=r["speaker"], text=text,
                                  split=split, seconds=float(r["seconds"]), licence=LICENCES[folder],
                                  path=str(CORPUS_DIR / folder / r["path"])))
    return sorted(out, key=lambda i: i.id)
