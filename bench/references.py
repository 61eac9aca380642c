"""Reference material for the benchmarks: phone timings that do not come from the run under test, and the
real capture of FACEGOOD.

- LibriVox clips under ``$PARLEY_DATA/speech/pocketsphinx/librivox`` ship PocketSphinx's own phone
  alignments next to each ``<stem>.wav`` as ``<stem>.phone.json``: JSON lines, each an utterance
  ``{"w": [word, ...]}`` whose words hold their phones as ``{"b": start_s, "d": duration_s, "t": label}``.
  Made by PocketSphinx's test suite, not by Parley; not hand labels.
- Festival (``kal_diphone`` and ``cmu_us_slt_arctic_hts`` voices) synthesises sentences and saves the exact
  segment times it generated (``utt.save.segs``): the only exact ground truth, for synthetic speech.
- The real speech corpus (``$PARLEY_DATA/speech_corpus``: LJ Speech, VCTK p239, LibriSpeech test-other)
  has word transcripts only. ``bench/align_references.py`` force-aligned a fixed selection of it once, with
  a reference configuration of its own (wide beams, one pass per utterance), and the phones are committed in
  :data:`CORPUS_REFERENCE_FILE`; the benchmark reads that file and never re-derives it from the run it judges.
  The selection is split into a *dev* half (the only clips looked at while tuning) and a *held-out* half:
  LibriSpeech by speaker (5 speakers each), LJ Speech and VCTK (one speaker each) by utterance.
- FACEGOOD (``$PARLEY_DATA/facegood``): real Mandarin speech with per-frame ARKit mouth and jaw weights
  captured at 30 fps (``arkit_mouth_csv``; the other channels of the capture are not valid and are left 0).
  Clips 01-03 may be used to calibrate articulation; 04-05 are held out.

Used by ``bench_lipsync.py``, ``bench_phone_timing.py`` and ``align_references.py``; imported as a sibling
module (the scripts' folder is on ``sys.path``).
"""

import csv
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigs.core.phones import SIL, Phone, normalize_label

LIBRIVOX_DIR = Path("speech", "pocketsphinx", "librivox")   # under the data root
PHONE_JSON_SUFFIX = ".phone.json"
CORPUS_DIR = Path("speech_corpus")
FACEGOOD_DIR = Path("facegood")
CORPUS_REFERENCE_FILE = Path(__file__).resolve().parent / "refs" / "speech_corpus_phones.tsv"
FACEGOOD_FPS = 30.0
FACEGOOD_FIT = ("1114_2_01", "1114_2_02", "1114_2_03")          # calibration may look at these
FACEGOOD_HELD_OUT = ("1114_2_04", "1114_2_05")                  # never used to fit anything
DEV, HELD_OUT = "dev", "held-out"

# the benchmark's fixed selection of the real speech corpus (see corpus_selection)
LJ_STEP = 16                 # every 16th LJ Speech clip
VCTK_STEP = 17               # every 17th VCTK p239 utterance
LIBRISPEECH_PER_SPEAKER = 4  # the first 4 test-other utterances of each of its 10 speakers
LIBRISPEECH_DEV_SPEAKERS = ("1688", "1998", "2033", "2414", "2609")   # the other 5 are held out

# Festival's "radio" phone names that differ from ARPAbet
RADIO = {"pau": SIL, "h#": SIL, "ax": "AH", "axr": "ER", "ix": "IH", "el": "L", "em": "M", "en": "N",
         "dx": "T", "hv": "HH", "ssil": SIL}
FESTIVAL_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts")
FESTIVAL_TIMEOUT_S = 120


# ----------------------------------------------------------------------------------------------
# LibriVox (pocketsphinx test data)


def librivox_dir(data_root: Path) -> Path:
    """The folder of the LibriVox clips and their reference alignments."""
    return Path(data_root) / LIBRIVOX_DIR


def read_phone_json(path: Path) -> list[Phone]:
    """Phones of a PocketSphinx ``.phone.json`` file, in file order, labels normalised (silence -> SIL)."""
    phones = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for word in json.loads(line).get("w", []):
            for p in word.get("w", []):
                start_s = float(p["b"])
                phones.append(Phone(start_s, start_s + float(p["d"]), normalize_label(p["t"])))
    return phones


def reference_phones(wav: Path) -> list[Phone] | None:
    """The reference alignment shipped next to ``wav`` (``<stem>.phone.json``), or None if there is none."""
    path = Path(wav).with_name(Path(wav).stem + PHONE_JSON_SUFFIX)
    return read_phone_json(path) if path.is_file() else None


def librivox_items(data_root: Path) -> list["Item"]:
    """The LibriVox clips that have a transcript and a shipped alignment."""
    d = librivox_dir(data_root)
    out = []
    for pj in sorted(d.glob(f"*{PHONE_JSON_SUFFIX}")):
        stem = pj.name[: -len(PHONE_JSON_SUFFIX)]
        wav, txt = d / f"{stem}.wav", d / f"{stem}.txt"
        if wav.exists() and txt.exists():
            out.append(Item("librivox", "librivox", stem[-4:], wav, txt.read_text().strip(), HELD_OUT,
                            read_phone_json(pj)))
    return out


# ----------------------------------------------------------------------------------------------
# the real speech corpus


@dataclass(frozen=True)
class Item:
    """One benchmark utterance: where it comes from, its audio and transcript, and its reference phones
    (None until attached from :data:`CORPUS_REFERENCE_FILE`)."""

    corpus: str
    speaker: str
    utt_id: str
    path: Path
    text: str
    split: str
    reference: list[Phone] | None = None


def _manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus_selection(data_root: Path) -> list[Item]:
    """The benchmark's fixed selection of ``speech_corpus`` (references not attached; see
    :func:`with_references`): LJ Speech every ``LJ_STEP``-th clip and VCTK every ``VCTK_STEP``-th, split
    by alternating position; LibriSpeech test-other ``LIBRISPEECH_PER_SPEAKER`` utterances per speaker,
    split by speaker. Plus ``jfk.flac`` and ``sr_english.wav`` (held out)."""
    root = Path(data_root) / CORPUS_DIR
    items: list[Item] = []
    for corpus, step in (("ljspeech_part", LJ_STEP), ("vctk_p239", VCTK_STEP)):
        rows = _manifest(root / corpus)
        text_key = "text_normalized" if "text_normalized" in rows[0] else "text"
        for k, r in enumerate(rows[::step]):
            items.append(Item(corpus, r["speaker"], Path(r["path"]).stem, root / corpus / r["path"],
                              r[text_key], DEV if k % 2 == 0 else HELD_OUT))
    rows = [r for r in _manifest(root / "librispeech") if r["path"].startswith("test-other/") and r["text"]]
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


def write_corpus_references(path: Path, phones_by_utt: dict[str, list[Phone]], header: str) -> None:
    """Write reference phones as TSV: ``utt_id  start_s  end_s  label  word`` after ``#`` header lines."""
    lines = [f"# {h}" for h in header.splitlines()]
    for utt, phones in phones_by_utt.items():
        for p in phones:
            lines.append(f"{utt}\t{p.start_s:.3f}\t{p.end_s:.3f}\t{p.label}\t{p.word or ''}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_corpus_references(path: Path = CORPUS_REFERENCE_FILE) -> dict[str, list[Phone]]:
    """{utt_id: phones} from a file written by :func:`write_corpus_references` ({} when it is missing)."""
    out: dict[str, list[Phone]] = {}
    if not Path(path).is_file():
        return out
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        utt, s, e, lab, word = (line.split("\t") + [""])[:5]
        out.setdefault(utt, []).append(Phone(float(s), float(e), lab, None, word or None))
    return out


def with_references(items: list[Item], refs: dict[str, list[Phone]]) -> list[Item]:
    """``items`` that have reference phones in ``refs``, with them attached."""
    return [Item(i.corpus, i.speaker, i.utt_id, i.path, i.text, i.split, refs[i.utt_id])
            for i in items if i.utt_id in refs]


# ----------------------------------------------------------------------------------------------
# Festival: synthetic speech with exact segment times


def festival_items(sentences: list[str], tmp: Path, voices=FESTIVAL_VOICES) -> list[Item]:
    """Synthesise ``sentences`` with each Festival voice; the reference is the segment list Festival
    generated (``utt.save.segs``). [] when Festival is missing."""
    out = []
    for voice in voices:
        for i, s in enumerate(sentences):
            wav, segs = Path(tmp) / f"{voice}_{i}.wav", Path(tmp) / f"{voice}_{i}.segs"
            scm = Path(tmp) / "s.scm"
            scm.write_text(f'(voice_{voice})\n(set! u (Utterance Text "{s}"))\n(utt.synth u)\n'
                           f'(utt.save.wave u "{wav}" \'riff)\n(utt.save.segs u "{segs}")\n')
            try:
                subprocess.run(["festival", "-b", str(scm)], capture_output=True, timeout=FESTIVAL_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                return out
            if not segs.exists():
                break
            out.append(Item("festival", voice, f"{voice}_{i}", wav, s, HELD_OUT, read_festival_segs(segs)))
    return out


def read_festival_segs(path: Path) -> list[Phone]:
    """Phones of a Festival ``utt.save.segs`` file (lines ``end_s  125  label`` after a ``#`` line)."""
    phones, t = [], 0.0
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] == "#":
            continue
        end, lab = float(parts[0]), parts[2]
        phones.append(Phone(t, end, RADIO.get(lab, None) or normalize_label(lab)))
        t = end
    return phones


# ----------------------------------------------------------------------------------------------
# FACEGOOD: real capture of the mouth


@dataclass(frozen=True)
class Capture:
    """One FACEGOOD clip: the audio and the captured ``expression`` (T, 52) ARKit weights at ``fps``
    (channels the capture does not hold are 0)."""

    name: str
    wav: Path
    expression: np.ndarray
    fps: float
    split: str


def facegood_captures(data_root: Path) -> list[Capture]:
    """The FACEGOOD clips with their captured mouth channels, fit clips first. The layout is read by the
    training readers' FACEGOOD module (its one home): the mapped ``arkit_mouth_csv`` weights, channels it
    lacks 0."""
    from engine.training.readers.facegood import facegood_expression, mapped_csv_path

    d = Path(data_root) / FACEGOOD_DIR
    out = []
    for name in FACEGOOD_FIT + FACEGOOD_HELD_OUT:
        wav = d / f"{name}.wav"
        if wav.is_file() and mapped_csv_path(d, name).is_file():
            expression, _valid = facegood_expression(d, name)
            out.append(Capture(name, wav, expression, FACEGOOD_FPS, DEV if name in FACEGOOD_FIT else HELD_OUT))
    return out


def frames_in_phone(phone: Phone, n_frames: int, fps: float) -> np.ndarray:
    """Indices of the frames whose time lies in [start_s, end_s] of ``phone``; the frame nearest its
    centre when the phone is too short to hold one."""
    t = np.arange(n_frames) / fps
    i = np.nonzero((t >= phone.start_s) & (t <= phone.end_s))[0]
    if len(i):
        return i
    return np.array([int(np.clip(round(0.5 * (phone.start_s + phone.end_s) * fps), 0, n_frames - 1))])
