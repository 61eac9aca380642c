"""The results of a batch: one SQLite file inside the output folder (``DIR/results.sqlite``), written by the
driver alone.

``lines`` has one row per dialogue line id: its status (``queued``, ``done``, ``failed``), the content hash
its outputs were made from, attempts, timings, warnings (a JSON list), the error of a failure and the output
paths (relative to DIR). ``rejected`` lists the manifest rows of the latest run that had no usable id
(duplicates among them). Each change is one transaction in WAL mode with ``synchronous=FULL``, so a crash or
``kill -9`` at any moment leaves the last committed state; a line becomes ``done`` only after its files are
in place. :func:`export_csv` writes both tables as one CSV.

References: SQLite documentation, "Write-Ahead Logging", "PRAGMA synchronous", "UPSERT".
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import sqlite3
from pathlib import Path

from rigs.core.errors import ConfigError, OutputError
from rigs.core.files import atomic_write

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
LINE_COLUMNS = ("id", "line", "audio", "transcript", "emotion", "mode", "model", "character", "seed", "partner",
                "status", "content_hash", "attempts", "audio_s", "wall_s", "cpu_s", "worker", "warnings", "error",
                "clip", "bvh", "livelink", "updated_at")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lines (
  id TEXT PRIMARY KEY, line INTEGER, audio TEXT, transcript TEXT, emotion TEXT, mode TEXT, model TEXT,
  character TEXT, seed INTEGER, partner TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'done', 'failed')),
  content_hash TEXT, attempts INTEGER NOT NULL DEFAULT 0, audio_s REAL, wall_s REAL, cpu_s REAL, worker TEXT,
  warnings TEXT NOT NULL DEFAULT '[]', error TEXT, clip TEXT, bvh TEXT, livelink TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (line INTEGER PRIMARY KEY, id TEXT, error TEXT NOT NULL);
INSERT OR IGNORE INTO info VALUES ('schema_version', '{SCHEMA_VERSION}');
"""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class ResultStore:
    """The results database at ``path`` (created on first use)."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            version = int(self.db.execute("SELECT value FROM info WHERE name='schema_version'").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise _db_error(exc, self.path) from None
        if version > SCHEMA_VERSION:
            raise ConfigError(f"{self.path} was written by a newer Parley (results schema {version}); "
                              "use a new --out folder or a newer Parley")
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self):
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise _db_error(exc, self.path) from None

    def get(self, line_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM lines WHERE id = ?", (line_id,)).fetchone()
        return None if row is None else dict(row)

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM lines ORDER BY line, id")]

    def rejected(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM rejected ORDER BY line")]

    def set_rejected(self, rejected) -> None:
        """Replace the rejected rows with this run's (``Rejected`` items)."""
        with self.transaction() as db:
            db.execute("DELETE FROM rejected")
            db.executemany("INSERT INTO rejected VALUES (?, ?, ?)", [(r.line, r.id, r.reason) for r in rejected])

    def put(self, rows: list[dict]) -> None:
        """Insert or replace line rows (each a dict of :data:`LINE_COLUMNS` less ``updated_at``), in one
        transaction."""
        if not rows:
            return
        now = _now()
        cols = LINE_COLUMNS
        sql = (f"INSERT INTO lines ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols[1:])}")
        with self.transaction() as db:
            db.executemany(sql, [tuple(now if c == "updated_at" else _cell(r.get(c)) for c in cols) for r in rows])


def _cell(v):
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return v


def _db_error(exc: sqlite3.DatabaseError, path: Path) -> Exception:
    text = str(exc)
    if "full" in text:
        return OutputError(f"cannot write {path}: the disk is full")
    if "readonly" in text or "read-only" in text:
        return OutputError(f"cannot write {path}: it is read-only")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return ConfigError(f"{path} is locked by another process (is another batch writing to this folder?)")
    return ConfigError(f"{path} is not a usable results database ({text}); use a new --out folder")


def open_results(out_dir) -> ResultStore:
    """The results of the batch folder ``out_dir`` for reading (ConfigError when it has none)."""
    path = Path(out_dir) / DB_NAME
    if not path.is_file():
        raise ConfigError(f"{out_dir} has no batch results ({DB_NAME}); give the --out folder of a batch")
    return ResultStore(path)


def export_csv(out_dir, csv_path) -> tuple[int, int]:
    """Write the batch's results (every line, then the rejected rows with status ``rejected``) to
    ``csv_path`` atomically; returns (lines, rejected)."""
    store = open_results(out_dir)
    try:
        rows, rejected = store.rows(), store.rejected()
    finally:
        store.close()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LINE_COLUMNS)
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in LINE_COLUMNS])
    for r in rejected:
        row = {"id": r["id"], "line": r["line"], "status": "rejected", "error": r["error"]}
        w.writerow(["" if row.get(c) is None else row[c] for c in LINE_COLUMNS])
    atomic_write(csv_path, lambda f: f.write(buf.getvalue()), text=True)
    return len(rows), len(rejected)
