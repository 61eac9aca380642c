"""Files: where Parley finds its data assets and caches, hashing, and atomic writes (the one way every layer
writes a file it produces, so an interrupted write never leaves a broken file).

``PARLEY_DATA`` points at the data folder (ICT FaceKit head, speech samples, BVH files); a checkout
without it looks for ``../shared/data`` beside the repository. ``PARLEY_CACHE`` (default
``~/.cache/parley``) holds derived files such as the lip model and the built demo rig.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ClipError, DataMissingError

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """The data folder: ``$PARLEY_DATA``, else ``<repo>/../shared/data``. Raises DataMissingError."""
    env = os.environ.get("PARLEY_DATA")
    root = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        where = f"PARLEY_DATA={env}" if env else f"{root} (set PARLEY_DATA to override)"
        raise DataMissingError(f"data folder not found: {where}")
    return root.resolve()


def cache_dir() -> Path:
    """A writable cache folder: ``$PARLEY_CACHE``, else ``~/.cache/parley`` (created on demand)."""
    env = os.environ.get("PARLEY_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "parley"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: str | Path, *, block_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(block_bytes)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def atomic_write(path, write, *, text: bool = False) -> Path:
    """Write a file atomically: ``write(f)`` fills a temp file in the same folder, which is flushed to disk and
    then replaces ``path``; on any failure (Ctrl-C included) the temp file is removed and ``path`` is untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ClipError(f"cannot write {path}: folder {folder} does not exist")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") if text else open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return path


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temp file name beside ``path`` for writers that need a name (Blender, numpy, downloads): when the
    ``with`` block ends without error the temp file replaces ``path`` (with the permissions a plain open()
    would give it); on any failure, Ctrl-C included, it is removed and ``path`` is untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _file_mode(path: Path) -> int:
    """The existing file's permissions, else 0666 less the process umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
