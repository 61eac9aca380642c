"""FACEGOOD Audio2Face captures (``$PARLEY_DATA/facegood``) as :class:`CapturedTake`: the one home of the
FACEGOOD layout (the lip-sync benchmark reads its references through :func:`facegood_expression`).

The folder holds, per take ``<id>`` (``1114_2_01`` ... ``1114_2_05``, one Mandarin speaker, 16 kHz):

- ``<id>.wav``; ``bs_value_<id>.npy``: (T, 116) float64 weights at 30 fps of the capture rig's blendshapes,
  columns in the order of ``shirley_1015_bs_name.npy`` (116 names);
- ``Voice2Face_blendshape2ARkit.xlsx``: per ARKit channel, the rig shape it comes from (a name or
  ``max(a,b,...)``) and whether the channel is ``valid`` (only the 27 mouth and jaw channels are: FACEGOOD
  trained on mouth animation only; eyes, brows, cheeks, nose and tongue are not measured);
- ``arkit_mouth_csv/<id>_arkit_mouth_30fps.csv``: those 27 channels already mapped (``frame, time_s,
  <ARKit names>``, 5 decimals).

:func:`facegood_expression` reads the mapped CSV when it is there (what the benchmark has always scored
against) and otherwise maps the ``bs_value`` matrix through the spreadsheet itself (the two agree to the
CSV's rounding, 5e-6; a test checks it). Only the valid channels are marked valid. The spreadsheet is read
with the standard library (an .xlsx is a zip of XML), so no spreadsheet package is needed.

Splits (docs: corpus splits): takes 01-03 may train or calibrate, 04-05 are held out (:data:`HELD_OUT`).
References: FACEGOOD/FACEGOOD-Audio2Face (MIT), ``code/train`` data and its blendshape-to-ARKit table.
"""
from __future__ import annotations

import csv
import re
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np

from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS, canonical_name
from rigs.core.errors import ClipError, DataMissingError, ParleyError

from .take import TAKE_FPS, TAKE_SAMPLE_RATE, CapturedTake, ReadReport, load_take_audio, resample_take_arrays

FACEGOOD_FPS = 30.0
FACEGOOD_LICENCE = "MIT (FACEGOOD/FACEGOOD-Audio2Face)"
FACEGOOD_SPEAKER = "facegood"
TAKES = ("1114_2_01", "1114_2_02", "1114_2_03", "1114_2_04", "1114_2_05")
HELD_OUT = ("1114_2_04", "1114_2_05")       # never trained or calibrated on (docs: corpus splits)
NAMES_FILE = "shirley_1015_bs_name.npy"
MAPPING_FILE = "Voice2Face_blendshape2ARkit.xlsx"
MAPPED_DIR = "arkit_mouth_csv"
MAPPED_SUFFIX = "_arkit_mouth_30fps.csv"
MAX_XLSX_BYTES = 1 << 20                    # the table is 14 kB
_XLSX_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def values_path(folder: Path, take_id: str) -> Path:
    return Path(folder) / f"bs_value_{take_id}.npy"


def mapped_csv_path(folder: Path, take_id: str) -> Path:
    return Path(folder) / MAPPED_DIR / f"{take_id}{MAPPED_SUFFIX}"


def read_mapping(path) -> dict[str, tuple[tuple[str, ...], bool]]:
    """The spreadsheet as ``{ARKit channel: (rig shapes whose max drives it, valid)}`` (columns A, C, G of its
    first sheet; channels without a source shape map to ``()``). Raises ClipError naming the file."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            if sum(i.file_size for i in z.infolist()) > MAX_XLSX_BYTES:
                raise ClipError(f"{path}: larger than a blendshape mapping table")
            strings = [''.join(t.text or '' for t in si.iter(_XLSX_NS + "t"))
                       for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall(_XLSX_NS + "si")]
            sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    except (OSError, KeyError, zipfile.BadZipFile, ET.ParseError) as e:
        raise ClipError(f"{path}: not a readable .xlsx mapping table ({e.__class__.__name__})") from None
    rows: dict[int, dict[str, str]] = {}
    for c in sheet.iter(_XLSX_NS + "c"):
        v = c.find(_XLSX_NS + "v")
        m = re.match(r"([A-Z]+)(\d+)$", c.get("r", ""))
        if v is None or v.text is None or m is None:
            continue
        try:
            text = strings[int(v.text)] if c.get("t") == "s" else v.text
        except (ValueError, IndexError):
            raise ClipError(f"{path}: cell {c.get('r')} refers to a missing string") from None
        rows.setdefault(int(m.group(2)), {})[m.group(1)] = text.strip()
    out: dict[str, tuple[tuple[str, ...], bool]] = {}
    for r in sorted(rows):
        a = rows[r].get("A", "")
        name = canonical_name(a) if a and len(a) < 40 else None
        if name is None or name not in ARKIT_INDEX:
            continue                          # the title row, the note at the bottom
        formula = rows[r].get("C", "")
        shapes = tuple(re.findall(r"[A-Za-z0-9_]+", formula[4:-1])) if formula.startswith("max(") else \
            ((formula,) if formula else ())
        out[name] = (shapes, rows[r].get("G", "").lower() == "valid")
    if not out:
        raise ClipError(f"{path}: no ARKit channel rows (column A)")
    return out


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataMissingError(f"{path}: missing")
    try:
        with warnings.catch_warnings():       # the files were written by Python 2's numpy: a harmless warning
            warnings.simplefilter("ignore", UserWarning)
            return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ClipError(f"{path}: not a readable .npy array ({e})") from None


def map_values(values: np.ndarray, names, mapping: dict, *, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, 116) rig weights -> ((T, 52) ARKit weights, (52,) valid) through the spreadsheet's mapping; channels
    that are not valid stay 0."""
    names = [str(n) for n in names]
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ClipError(f"{source}: {values.shape} weights do not match the {len(names)} blendshape names")
    col = {n: i for i, n in enumerate(names)}
    expr = np.zeros((values.shape[0], NUM_CHANNELS), np.float64)
    valid = np.zeros(NUM_CHANNELS, bool)
    for ch, (shapes, ok) in mapping.items():
        if not ok or not shapes:
            continue
        missing = [s for s in shapes if s not in col]
        if missing:
            raise ClipError(f"{source}: mapping names blendshapes {missing} that are not in {NAMES_FILE}")
        expr[:, ARKIT_INDEX[ch]] = values[:, [col[s] for s in shapes]].max(axis=1)
        valid[ARKIT_INDEX[ch]] = True
    return expr, valid


def read_mapped_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """((T, 52) float32 ARKit weights, (52,) valid) of an ``arkit_mouth_csv`` file (``frame, time_s`` and ARKit
    channel names; channels it lacks are 0 and not valid). Unknown channel names and NaN are ClipErrors."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ClipError(f"{path}: cannot read CSV ({e.__class__.__name__})") from None
    if len(rows) < 2:
        raise ClipError(f"{path}: no frames")
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h not in ("frame", "time_s") and h not in ARKIT_INDEX]
    if unknown:
        raise ClipError(f"{path}: unknown channel names {unknown[:10]} (expected ARKit names such as jawOpen)")
    try:
        values = np.asarray(rows[1:], np.float64)
    except ValueError:
        raise ClipError(f"{path}: rows of different lengths or values that are not numbers") from None
    if values.ndim != 2 or values.shape[1] != len(header):
        raise ClipError(f"{path}: rows do not match the {len(header)} header columns")
    if not np.all(np.isfinite(values)):
        raise ClipError(f"{path}: NaN or infinite values (first at line "
                        f"{int(np.argwhere(~np.isfinite(values).all(axis=1))[0, 0]) + 2})")
    out = np.zeros((values.shape[0], NUM_CHANNELS), np.float32)
    valid = np.zeros(NUM_CHANNELS, bool)
    for k, name in enumerate(header):
        if name in ARKIT_INDEX:
            out[:, ARKIT_INDEX[name]] = values[:, k]
            valid[ARKIT_INDEX[name]] = True
    return out, valid


def facegood_expression(folder, take_id: str, *, prefer_mapped_csv: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """((T, 52) float32 ARKit weights at 30 fps, (52,) valid) of one FACEGOOD take: the mapped CSV when present
    (and ``prefer_mapped_csv``), else ``bs_value_<id>.npy`` mapped through the spreadsheet."""
    folder = Path(folder)
    mapped = mapped_csv_path(folder, take_id)
    if prefer_mapped_csv and mapped.is_file():
        return read_mapped_csv(mapped)
    values = _load_npy(values_path(folder, take_id))
    names = _load_npy(folder / NAMES_FILE)
    if not np.issubdtype(values.dtype, np.number):
        raise ClipError(f"{values_path(folder, take_id)}: weights are {values.dtype}, not numbers")
    if not np.all(np.isfinite(values)):
        raise ClipError(f"{values_path(folder, take_id)}: NaN or infinite weights")
    expr, valid = map_values(values.astype(np.float64), names, read_mapping(folder / MAPPING_FILE),
                             source=values_path(folder, take_id))
    return expr.astype(np.float32), valid


def read_facegood(folder, take_id: str, *, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE,
                  prefer_mapped_csv: bool = True) -> CapturedTake:
    """One FACEGOOD take (audio ``<id>.wav`` and its mouth/jaw weights) at ``fps``."""
    folder = Path(folder)
    wav = folder / f"{take_id}.wav"
    source = mapped_csv_path(folder, take_id) if prefer_mapped_csv and mapped_csv_path(folder, take_id).is_file() \
        else values_path(folder, take_id)
    expr, valid = facegood_expression(folder, take_id, prefer_mapped_csv=prefer_mapped_csv)
    expr = resample_take_arrays(FACEGOOD_FPS, fps, expr.shape[0], linear={"e": expr}, rotations={})["e"]
    return CapturedTake(take_id=take_id, source=source, audio=load_take_audio(wav, sample_rate=sample_rate),
                        sample_rate=sample_rate, fps=float(fps), speaker=FACEGOOD_SPEAKER, licence=FACEGOOD_LICENCE,
                        expression=expr, expression_valid=valid, audio_source=wav,
                        meta={"format": "facegood", "held_out": take_id in HELD_OUT})


def facegood_take_ids(folder) -> list[str]:
    """The take ids in a FACEGOOD folder (each ``<id>.wav`` with a ``bs_value_<id>.npy`` or mapped CSV)."""
    folder = Path(folder)
    return sorted(p.stem for p in folder.glob("*.wav")
                  if values_path(folder, p.stem).is_file() or mapped_csv_path(folder, p.stem).is_file())


def read_facegood_folder(folder, *, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE) -> ReadReport:
    """Every FACEGOOD take in ``folder``; unusable ones skipped with a warning and listed."""
    report = ReadReport()
    for take_id in facegood_take_ids(folder):
        try:
            report.takes.append(read_facegood(folder, take_id, fps=fps, sample_rate=sample_rate))
        except ParleyError as e:
            report.skip(Path(folder) / f"{take_id}.wav", e)
    return report
