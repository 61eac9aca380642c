"""Where the add-on gets Parley's numpy modules (clip format, errors, ARKit names, rig maps) from.

Inside a Parley checkout (or with Parley installed in Blender's Python) the real ``engine`` and
``rigs`` packages are imported. An installed extension has no checkout, so the build vendors those
modules under ``vendor/`` (see :mod:`addon.packaging`); on first use that folder is put on
``sys.path``. The vendored ``engine`` is a stub without animators: :func:`engine_in_process` says
whether the real engine (audio and animators) can run inside Blender.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"


def _ensure_path() -> None:
    try:
        importlib.import_module("engine.clip")
        importlib.import_module("rigs.arkit")
        return
    except ImportError:
        pass
    if VENDOR_DIR.is_dir() and str(VENDOR_DIR) not in sys.path:
        sys.path.insert(0, str(VENDOR_DIR))
        for name in [m for m in sys.modules if m in ("engine", "rigs")]:
            del sys.modules[name]  # a failed partial import must not shadow the vendored copy


def module(name: str):
    """Import ``engine.*`` or ``rigs.*`` from the checkout or the vendored copy."""
    _ensure_path()
    return importlib.import_module(name)


def optional(name: str):
    """Like :func:`module` but None when the module is not available (e.g. not landed or not vendored)."""
    try:
        return module(name)
    except ImportError:
        return None


def clip():
    return module("engine.clip")


def errors():
    return module("engine.errors")


def arkit():
    return module("rigs.arkit")


def is_vendored() -> bool:
    """True when ``engine`` comes from the add-on's vendored stub."""
    return bool(getattr(module("engine"), "PARLEY_VENDORED", False))


def engine_in_process() -> bool:
    """Whether the real engine (``engine.pipeline``, audio, animators) is importable here."""
    if is_vendored():
        return False
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("engine.pipeline", "engine.audio"))
    except ImportError:
        return False


def engine_root() -> Path | None:
    """The checkout folder holding the real ``engine`` package, if it is the one imported."""
    if is_vendored():
        return None
    f = getattr(module("engine"), "__file__", None)
    return Path(f).resolve().parent.parent if f else None
