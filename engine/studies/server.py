"""``parley study serve``: a small web server for lab sessions. It serves the study's site (and nothing
outside it: never the key), hands out a ``config.js`` that points the page at itself, and receives the
page's POSTs into the SQLite store (:mod:`engine.studies.store`).

``POST /responses`` takes the page's submission (``{format, version, study_id, rater_id, session_id,
answers}``, at most :data:`MAX_POST_BYTES`), checks every answer against the key
(:func:`engine.studies.responses.parse_submission`) and stores them in one transaction: 200 with
``{"stored": N, "total": M}``; 400 for a malformed submission, 409 when the rater id belongs to another
session, 413 when too large. Media are served with byte ranges (video seeking). One thread per request
(``ThreadingHTTPServer``); the store makes concurrent raters safe.

References: Python documentation, ``http.server``; RFC 9110 sec. 14 (range requests).
"""
from __future__ import annotations

import json
import logging
import mimetypes
import signal
import sys
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine.studies import layout
from engine.studies.responses import parse_submission
from engine.studies.site import config_js
from engine.studies.store import RaterTaken, ResponseStore
from rigs.core.errors import ConfigError

log = logging.getLogger(__name__)

POST_PATH = "/responses"
MAX_POST_BYTES = 1024 * 1024
CHUNK_BYTES = 256 * 1024
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".mp4": "video/mp4", ".wav": "audio/wav", ".json": "application/json"}
NO_STORE = ("index.html", layout.STUDY_JS, layout.CONFIG_JS, "survey.js", "style.css")


class StudyServer(ThreadingHTTPServer):
    """The HTTP server of one study: ``site`` to serve, ``key`` to check answers, ``store`` to keep them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, *, site: Path, key: layout.Key, store: ResponseStore):
        self.site = site.resolve()
        self.key = key
        self.store = store
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: StudyServer
    server_version = "ParleyStudy"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # requests go to the debug log, not the terminal
        log.debug("%s %s", self.address_string(), fmt % args)

    # ---------------------------------------------------------------------------------------------- GET
    def do_GET(self):
        self._get(send_body=True)

    def do_HEAD(self):
        self._get(send_body=False)

    def _get(self, *, send_body: bool) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/" + layout.CONFIG_JS:
            body = config_js(POST_PATH.lstrip("/")).encode()
            return self._send(HTTPStatus.OK, body, TYPES[".js"], send_body=send_body, cache=False)
        target = self._site_file(path)
        if target is None:
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", send_body=send_body)
        self._send_file(target, send_body=send_body)

    def _site_file(self, url_path: str) -> Path | None:
        """The file under the site for ``url_path``, or None (missing, a folder, or outside the site)."""
        rel = urllib.parse.unquote(url_path).lstrip("/") or "index.html"
        parts = rel.split("/")
        if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
            return None
        target = (self.server.site / rel).resolve()
        if not target.is_relative_to(self.server.site) or not target.is_file():
            return None
        return target

    def _send_file(self, target: Path, *, send_body: bool) -> None:
        size = target.stat().st_size
        ctype = TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        start, end = 0, size - 1
        status = HTTPStatus.OK
        rng = self.headers.get("Range")
        if rng and size:
            parsed = _parse_range(rng, size)
            if parsed is None:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = parsed
            status = HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(max(0, end - start + 1)))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Cache-Control", "no-store" if target.name in NO_STORE else "max-age=3600")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not send_body:
            return
        with open(target, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(CHUNK_BYTES, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    # ---------------------------------------------------------------------------------------------- POST
    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != POST_PATH:
            self.close_connection = True   # its body is not read: the connection cannot carry another request
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"POST answers to {POST_PATH}"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            return self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
        if length < 0 or length > MAX_POST_BYTES:
            self.close_connection = True
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"at most {MAX_POST_BYTES} bytes"})
        body = self.rfile.read(length)
        try:
            d = json.loads(body.decode("utf-8"))
            rater, session, answers = parse_submission(d, self.server.key, "submission")
            ua = d.get("user_agent") if isinstance(d.get("user_agent"), str) else ""
            consent = d.get("consented_at") if isinstance(d.get("consented_at"), str) else ""
            stored, total = self.server.store.submit(rater, session, answers, consented_at=consent[:64],
                                                     user_agent=ua)
        except RaterTaken as exc:
            return self._json(HTTPStatus.CONFLICT, {"error": str(exc)})
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "the body must be JSON"})
        except ConfigError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        log.info("rater %s: %d answers stored (%d in all)", rater, stored, total)
        self._json(HTTPStatus.OK, {"ok": True, "stored": stored, "total": total})

    # ---------------------------------------------------------------------------------------------- helpers
    def _json(self, status: HTTPStatus, value: dict) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", send_body=True, cache=False)

    def _send(self, status, body: bytes, ctype: str, *, send_body: bool, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range within ``size``, or None when unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(0, size - n), size - 1) if n > 0 else None
        a = int(first)
        b = int(last) if last else size - 1
    except ValueError:
        return None
    if a < 0 or a >= size or b < a:
        return None
    return a, min(b, size - 1)


def make_server(study, *, host: str = "127.0.0.1", port: int = 8000, db=None) -> StudyServer:
    """The server of the study folder ``study`` (not started); ``db`` defaults to STUDY/responses.sqlite."""
    root = Path(study)
    key = layout.load_key(root)
    site = root / layout.SITE
    if not (site / "index.html").is_file():
        raise ConfigError(f"{root} has no survey site ({site}/index.html); make it with `parley study make`")
    store = ResponseStore(Path(db) if db else root / layout.DATABASE, key.study_id)
    if not 0 <= int(port) <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {port}")
    try:
        return StudyServer((host, int(port)), site=site, key=key, store=store)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(study, *, host: str = "127.0.0.1", port: int = 8000, db=None) -> int:
    """Run the server until Ctrl-C (exit 0) or another signal (re-raised); prints its address first."""
    server = make_server(study, host=host, port=port, db=db)
    print(f"serving {study} at {server.url} (answers into {server.store.path}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        if signum != signal.SIGINT:
            raise
    finally:
        server.server_close()
        sessions, answers = server.store.counts()
        sys.stderr.write(f"parley: stopped; {sessions} raters and {answers} answers in {server.store.path}\n")
    return 0


__all__ = ["POST_PATH", "StudyServer", "make_server", "serve"]
