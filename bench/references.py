"""Reference phone timings for the benchmarks, and which frames a phone covers.

The LibriVox clips under ``$PARLEY_DATA/speech/pocketsphinx/librivox`` ship PocketSphinx's own phone
alignments next to each ``<stem>.wav`` as ``<stem>.phone.json``: JSON lines, each an utterance
``{"w": [word, ...]}`` whose words hold their phones as ``{"b": start_s, "d": duration_s, "t": label}``.
They are not hand labels (see ``bench_phone_timing.py``). Used by ``bench_lipsync.py`` and
``bench_phone_timing.py``; imported as a sibling module (the scripts' folder is on ``sys.path``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rigs.core.phones import Phone, normalize_label

LIBRIVOX_DIR = Path("speech", "pocketsphinx", "librivox")   # under the data root
PHONE_JSON_SUFFIX = ".phone.json"


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


def frames_in_phone(phone: Phone, n_frames: int, fps: float) -> np.ndarray:
    """Indices of the frames whose time lies in [start_s, end_s] of ``phone``; the frame nearest its
    centre when the phone is too short to hold one."""
    t = np.arange(n_frames) / fps
    i = np.nonzero((t >= phone.start_s) & (t <= phone.end_s))[0]
    if len(i):
        return i
    return np.array([int(np.clip(round(0.5 * (phone.start_s + phone.end_s) * fps), 0, n_frames - 1))])
