"""Raters' answers: the one record (:class:`Answer`), how a submission is checked against a study's key, and
reading answers back from the page's exports (JSON, CSV) and ``serve``'s databases (SQLite), merged so that
nothing is counted twice.

Checks (ConfigError naming the file and the record): the study id (a file from another study), the trial
(a response to a trial the study does not have), the two stimuli (they must be that trial's), the answer
(an integer from -2 to +2), the ids (short printable strings). Merging: a file given twice (same bytes) is
read once; the same answer of one session to one trial found in several files (an export and a database)
counts once; a session that answered a trial differently in two files counts its latest answer; a session
id under two rater ids is an error; a rater id with answers from two sessions (two people sharing an id,
or one person taking the study twice) is an error unless ``duplicate_raters`` says to keep the first
session or drop the rater.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.studies.layout import ANSWERS, RESPONSES_FORMAT, SCHEMA_VERSION, Key
from rigs.core.errors import ConfigError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 64       # of a timestamp
CSV_COLUMNS = ("study_id", "rater_id", "session_id", "trial_id", "left", "right", "answer")
SQLITE_MAGIC = b"SQLite format 3\x00"
DUPLICATE_POLICIES = ("error", "first", "drop")


@dataclass(frozen=True)
class Answer:
    """One answer: ``rater_id`` (session ``session_id``) saw ``left`` and ``right`` in trial ``trial_id`` and
    answered ``answer`` (-2 strongly left ... +2 strongly right) at ``answered_at`` (ISO 8601)."""

    study_id: str
    rater_id: str
    session_id: str
    trial_id: str
    left: str
    right: str
    answer: int
    answered_at: str = ""
    plays: int | None = None
    time_ms: int | None = None
    source: str = ""


def _text(value, what: str, where: str, *, limit: int = MAX_ID_CHARS, empty: bool = False) -> str:
    if value is None and empty:
        return ""
    if not isinstance(value, str) or (not value and not empty) or len(value) > limit or not value.isprintable():
        raise ConfigError(f"{where}: {what} must be a printable text of 1 to {limit} characters, got {value!r:.80}")
    return value


def _int(value, what: str, where: str, *, optional: bool = False) -> int | None:
    if optional and value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {what} must be an integer, got {value!r:.80}")
    return value


def check_answer(a: Answer, key: Key, where: str) -> Answer:
    """``a`` if it is an answer to a trial of ``key``'s study with that trial's stimuli, else ConfigError."""
    if a.study_id != key.study_id:
        raise ConfigError(f"{where}: answers to study {a.study_id!r}, not to this study ({key.study_id!r}); "
                          "is it a file from another study?")
    trial = key.trials.get(a.trial_id)
    if trial is None:
        raise ConfigError(f"{where}: trial {a.trial_id!r} is not in this study (its trials are "
                          f"{min(key.trials)}..{max(key.trials)})")
    if {a.left, a.right} != {trial.left, trial.right} or a.left == a.right:
        raise ConfigError(f"{where}: trial {a.trial_id} showed {trial.left} and {trial.right}, but the answer names "
                          f"{a.left!r} and {a.right!r}")
    if a.answer not in ANSWERS:
        raise ConfigError(f"{where}: answer must be one of {', '.join(map(str, ANSWERS))} (strongly left .. "
                          f"strongly right), got {a.answer!r}")
    return a


def parse_submission(d, key: Key, where: str, *, source: str = "") -> tuple[str, str, list[Answer]]:
    """(rater id, session id, answers) of one submission: the page's export and POST body
    ``{format, version, study_id, rater_id, session_id, answers: [{trial_id, left, right, answer, ...}]}``."""
    if not isinstance(d, dict) or d.get("format") != RESPONSES_FORMAT:
        raise ConfigError(f"{where}: not a Parley study responses object (its 'format' should be {RESPONSES_FORMAT!r})")
    if d.get("version") != SCHEMA_VERSION:
        raise ConfigError(f"{where}: version {d.get('version')!r}; this Parley reads version {SCHEMA_VERSION}")
    study = _text(d.get("study_id"), "study_id", where)
    rater = _text(d.get("rater_id"), "rater_id", where)
    session = _text(d.get("session_id"), "session_id", where)
    items = d.get("answers")
    if not isinstance(items, list):
        raise ConfigError(f"{where}: 'answers' must be a list")
    out = []
    for i, item in enumerate(items, start=1):
        w = f"{where}, answer {i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{w}: must be an object")
        a = Answer(study, rater, session, _text(item.get("trial_id"), "trial_id", w), _text(item.get("left"), "left", w),
                   _text(item.get("right"), "right", w), _int(item.get("answer"), "answer", w),
                   _text(item.get("answered_at"), "answered_at", w, limit=MAX_TEXT_CHARS, empty=True),
                   _int(item.get("plays"), "plays", w, optional=True), _int(item.get("time_ms"), "time_ms", w, optional=True),
                   source)
        out.append(check_answer(a, key, w))
    return rater, session, out


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"responses file {path} is {size} bytes; at most {MAX_FILE_BYTES} are read")
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"responses file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"responses file {path} is a folder; give the files in it") from None
    except OSError as exc:
        raise ConfigError(f"cannot read responses file {path}: {exc.strerror or exc}") from None


def read_file(path, key: Key) -> list[Answer]:
    """Every answer in one responses file: a JSON export (one submission or a list of them), a CSV export,
    or a ``serve`` database (told by its first bytes)."""
    p = Path(path)
    data = _read_bytes(p)
    if data.startswith(SQLITE_MAGIC):
        return read_database(p, key)
    if not data.strip():
        raise ConfigError(f"responses file {p} is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"responses file {p} is not UTF-8 text, nor a responses database") from None
    if text.lstrip()[:1] in "[{":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"responses file {p} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg})") from None
        subs = value if isinstance(value, list) else [value]
        out: list[Answer] = []
        for i, d in enumerate(subs, start=1):
            out += parse_submission(d, key, f"{p}" + (f", submission {i}" if isinstance(value, list) else ""),
                                    source=str(p))[2]
        return out
    return _read_csv(p, text, key)


def _read_csv(p: Path, text: str, key: Key) -> list[Answer]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ConfigError(f"responses file {p} is not a valid CSV file ({exc})") from None
    header = [h.strip() for h in rows[0]]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ConfigError(f"responses file {p} is neither JSON nor a responses CSV: no column "
                          f"{', '.join(missing)} in its first line")
    col = {c: header.index(c) for c in header}
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        w = f"{p}, line {n}"
        if len(row) != len(header):
            raise ConfigError(f"{w}: {len(row)} fields where the header has {len(header)}")

        def get(c: str, row=row) -> str | None:
            return row[col[c]] if c in col else None

        a = Answer(_text(get("study_id"), "study_id", w), _text(get("rater_id"), "rater_id", w),
                   _text(get("session_id"), "session_id", w), _text(get("trial_id"), "trial_id", w),
                   _text(get("left"), "left", w), _text(get("right"), "right", w), _int(get("answer"), "answer", w),
                   _text(get("answered_at"), "answered_at", w, limit=MAX_TEXT_CHARS, empty=True),
                   _int(get("plays"), "plays", w, optional=True), _int(get("time_ms"), "time_ms", w, optional=True),
                   str(p))
        out.append(check_answer(a, key, w))
    return out


def read_database(path, key: Key) -> list[Answer]:
    """Every answer in a database written by ``parley study serve`` (opened read-only)."""
    from engine.studies.store import read_answers

    study, answers = read_answers(path)
    if study != key.study_id:
        raise ConfigError(f"{path}: answers to study {study!r}, not to this study ({key.study_id!r}); is it a "
                          "database from another study?")
    return [check_answer(replace(a, source=str(path)), key, f"{path}, session {a.session_id} trial {a.trial_id}")
            for a in answers]


@dataclass
class Collected:
    """The answers of every input, each (session, trial) once, and what merging them noticed."""

    answers: list[Answer]
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def collect(paths, key: Key, *, duplicate_raters: str = "error") -> Collected:
    """Read and merge ``paths`` (see the module docstring for the rules)."""
    if duplicate_raters not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicate_raters must be one of {', '.join(DUPLICATE_POLICIES)}")
    notes: list[str] = []
    seen_bytes: dict[str, str] = {}
    read: list[str] = []
    raw: list[Answer] = []
    for path in paths:
        p = Path(path)
        digest = hashlib.sha256(_read_bytes(p)).hexdigest()
        if digest in seen_bytes:
            notes.append(f"{p} is the same file as {seen_bytes[digest]}: read once")
            continue
        seen_bytes[digest] = str(p)
        raw += read_file(p, key)
        read.append(str(p))
    if not raw:
        raise ConfigError(f"no answers in {', '.join(map(str, paths))}")

    rater_of: dict[str, Answer] = {}
    for a in raw:
        first = rater_of.setdefault(a.session_id, a)
        if first.rater_id != a.rater_id:
            raise ConfigError(f"session {a.session_id} answers as rater {first.rater_id!r} in {first.source} and as "
                              f"{a.rater_id!r} in {a.source}: a file was edited by hand?")

    best: dict[tuple[str, str], Answer] = {}
    repeated = changed = 0
    for a in raw:
        k = (a.session_id, a.trial_id)
        old = best.get(k)
        if old is None:
            best[k] = a
        elif (old.answer, old.left, old.right) == (a.answer, a.left, a.right):
            repeated += 1
        else:
            changed += 1
            if a.answered_at > old.answered_at:
                best[k] = a
    if repeated:
        notes.append(f"{repeated} answers appeared in more than one file (the same session, trial and answer): "
                     "each counted once")
    if changed:
        notes.append(f"{changed} answers differ between files for the same session and trial: the latest counted")

    sessions: dict[str, dict[str, list[Answer]]] = {}
    for a in best.values():
        sessions.setdefault(a.rater_id, {}).setdefault(a.session_id, []).append(a)
    answers: list[Answer] = []
    for rater, by_session in sorted(sessions.items()):
        if len(by_session) > 1:
            where = "; ".join(f"session {s} ({len(v)} answers, in {', '.join(sorted({x.source for x in v}))})"
                              for s, v in sorted(by_session.items()))
            if duplicate_raters == "error":
                raise ConfigError(f"rater id {rater!r} has answers from {len(by_session)} sessions ({where}): two "
                                  "raters used one id, or one rater took the study twice. Give each rater their "
                                  "own id, or pass --duplicate-raters first (keep the session that started first) "
                                  "or drop (leave the rater out)")
            if duplicate_raters == "drop":
                notes.append(f"rater {rater} left out: answers from {len(by_session)} sessions ({where})")
                continue
            keep = min(by_session, key=lambda s: min(x.answered_at for x in by_session[s]))
            notes.append(f"rater {rater}: answers from {len(by_session)} sessions; only the first ({keep}) counted")
            by_session = {keep: by_session[keep]}
        for v in by_session.values():
            answers += sorted(v, key=lambda x: x.trial_id)
    return Collected(answers, notes, read)
