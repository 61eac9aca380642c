"""The answers ``parley study serve`` receives, in SQLite (the embedded default: one file, no server).

One row per session (``sessions``: a rater id belongs to one session only, so two people cannot answer
under one id) and one per (session, trial) (``answers``): a repeated POST of the same answer changes
nothing, a newer answer to the same trial replaces the older one, so retries and concurrent raters never
lose or double a response. Every write is one ``BEGIN IMMEDIATE`` transaction on its own connection
(SQLite serialises writers; WAL lets readers run alongside); ``busy_timeout`` makes writers wait their turn.

References: SQLite documentation, "Isolation In SQLite", "Write-Ahead Logging", "UPSERT".
"""
from __future__ import annotations

import contextlib
import datetime
import sqlite3
from pathlib import Path

from engine.studies.layout import SCHEMA_VERSION
from rigs.core.errors import ConfigError

BUSY_TIMEOUT_S = 30.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  rater_id TEXT NOT NULL UNIQUE,
  consented_at TEXT,
  user_agent TEXT,
  first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
  session_id TEXT NOT NULL REFERENCES sessions(session_id),
  trial_id TEXT NOT NULL,
  left_id TEXT NOT NULL,
  right_id TEXT NOT NULL,
  answer INTEGER NOT NULL CHECK (answer BETWEEN -2 AND 2),
  answered_at TEXT NOT NULL,
  plays INTEGER,
  time_ms INTEGER,
  received_at TEXT NOT NULL,
  revisions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (session_id, trial_id)
);
"""
MAX_USER_AGENT_CHARS = 300


class RaterTaken(ConfigError):
    """A rater id that another session already answers under."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class ResponseStore:
    """The database at ``path`` for study ``study_id`` (created on first use; another study's is refused)."""

    def __init__(self, path, study_id: str):
        self.path = Path(path)
        self.study_id = study_id
        if not self.path.parent.is_dir():
            raise ConfigError(f"cannot create {self.path}: folder {self.path.parent} does not exist")
        try:
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT OR IGNORE INTO meta VALUES ('study_id', ?), ('version', ?)",
                           (study_id, str(SCHEMA_VERSION)))
                stored = dict(db.execute("SELECT name, value FROM meta").fetchall())
                db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} cannot be used as a responses database: {exc}") from None
        if stored.get("study_id") != study_id:
            raise ConfigError(f"{self.path} holds answers to study {stored.get('study_id')!r}, not to this study "
                              f"({study_id!r}); give another --db")

    @contextlib.contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            yield db
        finally:
            db.close()

    def submit(self, rater_id: str, session_id: str, answers, *, consented_at: str = "",
               user_agent: str = "") -> tuple[int, int]:
        """Store ``answers`` (checked :class:`~engine.studies.responses.Answer`) of one session in one
        transaction; returns (rows added or changed, the session's answers in all). RaterTaken when
        ``rater_id`` belongs to another session."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT session_id FROM sessions WHERE rater_id = ?", (rater_id,)).fetchone()
                if row is not None and row[0] != session_id:
                    raise RaterTaken(f"rater id {rater_id} is already in use by another session on this server; "
                                     "ask the experimenter for a new id")
                mine = db.execute("SELECT rater_id FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
                if mine is not None and mine[0] != rater_id:
                    raise ConfigError(f"session {session_id} belongs to rater {mine[0]}, not {rater_id}")
                if mine is None:
                    db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                               (session_id, rater_id, consented_at, user_agent[:MAX_USER_AGENT_CHARS], _now()))
                changed = 0
                for a in answers:
                    cur = db.execute(
                        "INSERT INTO answers (session_id, trial_id, left_id, right_id, answer, answered_at, plays, "
                        "time_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (session_id, trial_id) DO UPDATE SET left_id = excluded.left_id, "
                        "right_id = excluded.right_id, answer = excluded.answer, answered_at = excluded.answered_at, "
                        "plays = excluded.plays, time_ms = excluded.time_ms, received_at = excluded.received_at, "
                        "revisions = answers.revisions + 1 WHERE excluded.answered_at > answers.answered_at",
                        (session_id, a.trial_id, a.left, a.right, a.answer, a.answered_at, a.plays, a.time_ms, _now()))
                    changed += cur.rowcount
                total = db.execute("SELECT COUNT(*) FROM answers WHERE session_id = ?", (session_id,)).fetchone()[0]
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return changed, int(total)

    def counts(self) -> tuple[int, int]:
        """(sessions, answers) stored."""
        with self._connect() as db:
            return (db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def read_answers(path) -> tuple[str, list]:
    """(the study id, every answer) of the database at ``path``, opened read-only (ConfigError if it is not
    one of ours)."""
    from engine.studies.responses import Answer

    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open responses database {path}: {exc}") from None
    try:
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        rows = db.execute("SELECT a.session_id, s.rater_id, a.trial_id, a.left_id, a.right_id, a.answer, "
                          "a.answered_at, a.plays, a.time_ms FROM answers a JOIN sessions s USING (session_id) "
                          "ORDER BY a.session_id, a.trial_id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is an SQLite file but not a Parley responses database ({exc})") from None
    finally:
        db.close()
    study = meta.get("study_id", "")
    return study, [Answer(study, rater, session, trial, left, right, int(answer), answered_at or "", plays, time_ms)
            for session, rater, trial, left, right, answer, answered_at, plays, time_ms in rows]
