"""Where Parley finds its data assets and caches.

``PARLEY_DATA`` points at the data folder (ICT FaceKit head, speech samples, BVH files); a checkout
without it looks for ``../shared/data`` beside the repository. ``PARLEY_CACHE`` (default
``~/.cache/parley``) holds derived files such as the lip model and the built demo rig.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from engine.errors import DataMissingError

REPO_ROOT = Path(__file__).resolve().parent.parent


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
