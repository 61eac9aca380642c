"""The batch manifest: a CSV file (UTF-8, a byte-order mark allowed; tab-separated when named ``.tsv``) with
one dialogue line a row.

Columns (header names are matched without case, spaces or dashes; aliases in :data:`ALIASES`):
``id`` and ``audio`` are required; ``transcript``, ``emotion`` (``joy:0.7,surprise:0.3``), ``mode`` (the
animator, default ``--mode``), ``model`` (a named model of that animator), ``character`` (a label kept in
the results), ``seed`` and ``partner`` (the other speaker's audio: the character listens while the partner speaks) are
optional. Unknown columns are reported and ignored. An audio path is relative to the manifest's folder
unless absolute.

A row that cannot be keyed (no id, an id that is not a safe file name, an id already used above) is
*rejected*; a row that is keyed but unusable (no audio path, a bad seed or emotion) becomes a failed line
with its reason; neither stops the batch. Only a manifest that cannot be read at all raises ConfigError.

Reference: Python documentation, ``csv`` (``DictReader``, ``line_num``) and codecs (``utf-8-sig``).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from rigs.core.errors import ConfigError

COLUMNS = ("id", "audio", "transcript", "emotion", "mode", "model", "character", "seed", "partner")
REQUIRED = ("id", "audio")
ALIASES = {"line_id": "id", "name": "id", "audio_path": "audio", "path": "audio", "file": "audio", "wav": "audio",
           "text": "transcript", "emotions": "emotion", "animator": "mode", "partner_audio": "partner",
           "partner_path": "partner"}
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_ID_CHARS = 120
MAX_CELL_CHARS = 100_000          # a transcript of about 40 minutes; longer is not one dialogue line
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Row:
    """One manifest row as written (cells stripped; None where empty). ``line`` is its line in the file."""

    line: int
    id: str
    audio: str | None
    transcript: str | None = None
    emotion: str | None = None
    mode: str | None = None
    model: str | None = None
    character: str | None = None
    seed: str | None = None
    partner: str | None = None
    problem: str | None = None      # why the row cannot be animated (it is recorded as failed)


@dataclass(frozen=True)
class Rejected:
    """A row that cannot be keyed by an id: its file line, the id as written and why."""

    line: int
    id: str
    reason: str


@dataclass(frozen=True)
class Manifest:
    path: Path
    rows: tuple[Row, ...]
    rejected: tuple[Rejected, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def folder(self) -> Path:
        return self.path.parent

    def resolve(self, audio: str) -> Path:
        """An audio path of the manifest: relative ones are relative to the manifest's folder."""
        p = Path(audio).expanduser()
        return p if p.is_absolute() else self.folder / p


def _key(name: str | None) -> str:
    k = re.sub(r"[\s\-]+", "_", (name or "").strip().lower())
    return ALIASES.get(k, k)


def read_manifest(path) -> Manifest:
    """Read and check a manifest (module docstring). Raises ConfigError when the file itself is unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ConfigError(f"manifest {path} is not a file")
        if size > MAX_MANIFEST_BYTES:
            raise ConfigError(f"manifest {path} is {size} bytes; at most {MAX_MANIFEST_BYTES} are read "
                              "(split the batch)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"manifest {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"manifest {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8 CSV") from None
    if "\x00" in text:
        raise ConfigError(f"manifest {path} contains NUL bytes; is it a CSV file?")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)   # quoted cells may hold newlines
    try:
        header = next(reader)
    except StopIteration:
        raise ConfigError(f"manifest {path} is empty; it needs a header row with at least: "
                          f"{', '.join(REQUIRED)}") from None
    except csv.Error as exc:
        raise ConfigError(f"manifest {path}, line 1: {exc}") from None
    keys = [_key(h) for h in header]
    missing = [c for c in REQUIRED if c not in keys]
    if missing:
        raise ConfigError(f"manifest {path} has no {' or '.join(repr(c) for c in missing)} column (its header: "
                          f"{', '.join(h.strip() for h in header)}); columns: {', '.join(COLUMNS)}")
    warnings = []
    unknown = [h.strip() or f"column {i + 1}" for i, (h, k) in enumerate(zip(header, keys)) if k not in COLUMNS]
    if unknown:
        warnings.append(f"manifest {path.name}: ignoring unknown column(s) {', '.join(unknown)} "
                        f"(known: {', '.join(COLUMNS)})")
    dup_cols = sorted({k for k in keys if k in COLUMNS and keys.count(k) > 1})
    if dup_cols:
        raise ConfigError(f"manifest {path} has the column(s) {', '.join(dup_cols)} more than once")
    index = {k: i for i, k in enumerate(keys) if k in COLUMNS}

    rows: list[Row] = []
    rejected: list[Rejected] = []
    seen: dict[str, int] = {}
    end = reader.line_num
    try:
        for cells in reader:
            line, end = end + 1, reader.line_num     # where the row starts (a quoted cell may span lines)
            if not any(c.strip() for c in cells):
                continue
            if len(rows) + len(rejected) >= MAX_ROWS:
                raise ConfigError(f"manifest {path} has over {MAX_ROWS} rows; split the batch")
            values = {k: (cells[i].strip() or None) if i < len(cells) else None for k, i in index.items()}
            rid = values.pop("id") or ""
            reason = _id_problem(rid)
            if reason is None and rid.casefold() in seen:
                reason = f"duplicate id {rid!r} (first on line {seen[rid.casefold()]}); ids name the output files"
            if reason is not None:
                rejected.append(Rejected(line, rid, reason))
                continue
            seen[rid.casefold()] = line
            problem = None
            if len(cells) > len(header):
                problem = f"the row has {len(cells)} cells but the header has {len(header)} (an unquoted comma?)"
            elif values["audio"] is None:
                problem = "no audio path"
            else:
                long = [k for k, v in values.items() if v is not None and len(v) > MAX_CELL_CHARS]
                if long:
                    problem = f"the {long[0]} cell is over {MAX_CELL_CHARS} characters"
            rows.append(Row(line=line, id=rid, problem=problem, **values))
    except csv.Error as exc:
        raise ConfigError(f"manifest {path}, line {reader.line_num}: {exc}") from None
    return Manifest(path=path, rows=tuple(rows), rejected=tuple(rejected), warnings=tuple(warnings))


def _id_problem(rid: str) -> str | None:
    if not rid:
        return "no id"
    if len(rid) > MAX_ID_CHARS:
        return f"the id is {len(rid)} characters; at most {MAX_ID_CHARS}"
    if not ID_PATTERN.fullmatch(rid):
        return (f"id {rid!r} is not usable as a file name: use letters, digits, '.', '_' and '-', starting with a "
                "letter or digit")
    return None
