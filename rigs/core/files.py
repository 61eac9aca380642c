"""Files: where Parley finds its data assets and caches, hashing, and atomic writes (the one way every layer
writes a file it produces, so an interrupted write never leaves a broken file).

``PARLEY_DATA`` points at the data folder (ICT FaceKit head, speech samples, BVH files); a checkout
without it looks for ``../shared/data`` beside the repository. ``PARLEY_CACHE`` (default
``~/.cache/parley``) holds derived files such as the lip model and the built demo rig.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import signals
from .errors import DataMissingError, OutputError

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """The data folder: ``$PARLEY_DATA``, else ``<repo>/../shared/data``. Raises DataMissingError."""
    env = os.environ.get("PARLEY_DATA")
    root = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        where = f"PARLEY_DATA={env}" if env else f"{root} (set PARLEY_DATA to override)"
        raise DataMissingError(f"data folder not found: {where}")
    return root.resolve()


def check_data_env() -> None:
    """Raise DataMissingError when ``PARLEY_DATA`` is set but is not a folder (a typo would otherwise give
    clips without lip vertices and only a warning)."""
    env = os.environ.get("PARLEY_DATA")
    if env and not Path(env).expanduser().is_dir():
        raise DataMissingError(f"PARLEY_DATA={env} is not a folder: point it at the data folder (the one with "
                               "ict_facekit/) or unset it")


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
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") if text else open(tmp, "wb") as f:
            write(f)
    return path


def write_npz(f, arrays: dict, *, compress: bool = False) -> None:
    """Write ``arrays`` to the open binary file ``f`` in numpy's ``.npz`` format (what ``np.savez`` or, with
    ``compress``, ``np.savez_compressed`` writes; no pickles). Unlike numpy's writer it closes its zip
    structures when a write fails (a full disk), so nothing fails again later with a stray traceback."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED,
                         allowZip64=True) as z:
        for key, value in arrays.items():
            with z.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temp file name beside ``path`` for writers that need a name (Blender, numpy, downloads): when the
    ``with`` block ends without error the temp file is flushed to disk and replaces ``path`` (with the
    permissions a plain open() would give it); on any failure, Ctrl-C included, it is removed and ``path`` is
    untouched. See :func:`atomic_paths` for what is refused and how errors read."""
    with atomic_paths([path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths) -> Iterator[tuple[Path, ...]]:
    """Temp file names beside each of ``paths``, all renamed into place when the ``with`` block ends without
    error, or none: on any failure, Ctrl-C included, every temp file is removed and every old file is kept.

    The renames run with signals held (:func:`rigs.core.signals.deferred`); if one of them fails the files
    already replaced get their old contents back (from a hard link, or a copy where links are not
    supported). A symlinked path is written through to its target. Refused with :class:`OutputError`: a
    path that is a folder, a device, FIFO or socket, or a write-protected file. Writing errors of the
    output itself (full disk, read-only folder, a name too long) become one-line :class:`OutputError`."""
    targets = [_write_target(Path(p)) for p in paths]
    if len(set(targets)) != len(targets):
        raise OutputError(f"the same file is given twice among the outputs: {', '.join(map(str, paths))}")
    for t in targets:
        folder = t.parent if str(t.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(f"cannot write {t}: folder {folder} does not exist")
        _check_replaceable(t)
    tmps: list[Path] = []
    try:
        for t in targets:
            tmps.append(_new_temp(t))
        yield tuple(tmps)
        for tmp in tmps:
            _fsync_file(tmp)
        with signals.deferred():
            _replace_all(tmps, targets)
    except BaseException as exc:
        for tmp in tmps:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise _as_output_error(exc, targets) from exc
        raise


def check_output(path, *, suffixes: tuple[str, ...] = (), inputs=(), need_bytes: int = 0,
                 what: str = "output") -> Path:
    """Check, before the work starts, that ``path`` may and can be written; returns it as a Path.

    Refused with a one-line :class:`OutputError`: a name without one of ``suffixes`` (lower case, with
    the dot); the same file as one of ``inputs`` (also through symlinks and hard links); a folder, device,
    FIFO or socket; a write-protected file; a missing or read-only folder; a name longer than the file
    system allows; a folder with less than ``need_bytes`` free (at least one byte). The folder is probed by
    creating and removing a temp file named as :func:`atomic_paths` names them."""
    p = Path(path)
    label = f"{what} {p}"
    if not p.name or p.name in (".", ".."):
        raise OutputError(f"{label}: give a file name")
    folder = p.parent if str(p.parent) else Path(".")
    name_max = _pathconf(folder, "PC_NAME_MAX", 255)
    if len(os.fsencode(p.name)) > name_max:
        raise OutputError(f"{label}: the file name is {len(os.fsencode(p.name))} bytes long; this folder "
                          f"allows at most {name_max}")
    target = _write_target(p)
    for inp in inputs:
        if inp is not None and _same_file(target, Path(inp)):
            raise OutputError(f"{label} is the input {inp}; refusing to overwrite it (choose another name)")
    if suffixes and p.suffix.lower() not in suffixes:
        raise OutputError(f"{label}: the file name must end in {' or '.join(suffixes)}")
    if target.is_dir():
        raise OutputError(f"{label} is a folder; give a file path")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {p}: folder {folder} does not exist")
    _check_replaceable(target, label=label)
    try:
        _new_temp(target).unlink()
    except OSError as exc:
        raise _as_output_error(exc, [target], always=True) from None
    check_free_space(folder, need_bytes, what=str(p))
    return p


def check_free_space(folder, need_bytes: int, *, what: str = "the output") -> None:
    """Raise OutputError unless ``folder``'s file system has ``need_bytes`` (at least one byte) free."""
    free = free_bytes(folder)
    if free >= max(1, int(need_bytes)):
        return
    if need_bytes <= 1:
        raise OutputError(f"cannot write {what}: the disk is full ({_size(free)} free in {folder})")
    raise OutputError(f"cannot write {what}: {_size(free)} free in {folder}, about {_size(need_bytes)} needed")


def free_bytes(folder) -> int:
    """Bytes this process may still write in ``folder``'s file system (root may use the reserved blocks)."""
    st = os.statvfs(folder)
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return int(blocks) * int(st.f_frsize)


# errors of writing the output itself (never of a network or an input): reported as OutputError
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.ENAMETOOLONG, errno.EFBIG, getattr(errno, "EDQUOT", -1)}
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}
TEMP_NAME_CHARS = 64   # of the target's name kept in a temp file's name, so temp names stay short


def _write_target(path: Path) -> Path:
    """Where writing ``path`` lands: the target of a symlink (so the link survives), else the path."""
    try:
        return Path(os.path.realpath(path)) if path.is_symlink() else path
    except OSError:
        return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _check_replaceable(target: Path, *, label: str | None = None) -> None:
    """Refuse to replace something that is not a regular file, or a write-protected file."""
    label = label or f"output {target}"
    try:
        st = target.stat()
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{label} is a folder; give a file path")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{label} is not a regular file (a device, FIFO or socket); refusing to replace it")
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise OutputError(f"{label} is write-protected; make it writable or choose another name")


def _new_temp(target: Path) -> Path:
    """A new empty temp file beside ``target``: ``.NAME.XXXXXXXX.tmp.EXT`` (NAME cut short, EXT kept for
    writers that add their own extension otherwise, numpy's and Blender's)."""
    folder = target.parent if str(target.parent) else Path(".")
    suffix = target.suffix if len(target.suffix) <= 16 else ""
    fd, name = tempfile.mkstemp(prefix=f".{target.name[:TEMP_NAME_CHARS]}.", suffix=".tmp" + suffix, dir=folder)
    os.close(fd)
    return Path(name)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_all(tmps: list[Path], targets: list[Path]) -> None:
    """Rename every temp file onto its target; if one rename fails, put the old files back."""
    backups: dict[Path, Path] = {}
    done: list[Path] = []
    try:
        if len(targets) > 1:
            for t in targets:
                if t.exists():
                    backups[t] = _backup(t)
        for tmp, t in zip(tmps, targets):
            os.chmod(tmp, _file_mode(t))  # mkstemp makes 0600; give the file the mode a plain open() would
            os.replace(tmp, t)
            done.append(t)
    except BaseException:
        for t in reversed(done):
            try:
                if t in backups:
                    os.replace(backups.pop(t), t)
                else:
                    t.unlink()
            except OSError:
                pass
        raise
    finally:
        for b in backups.values():
            try:
                b.unlink()
            except OSError:
                pass
    for folder in {t.parent for t in targets}:
        _fsync_folder(folder if str(folder) else Path("."))


def _backup(target: Path) -> Path:
    """A second name for ``target``'s current contents (a hard link; a copy where links are unsupported)."""
    b = _new_temp(target)
    b.unlink()
    try:
        os.link(target, b)
    except OSError:
        shutil.copy2(target, b)
    return b


def _as_output_error(exc: OSError, targets, *, always: bool = False) -> BaseException:
    """``exc`` as a one-line OutputError when it is about writing the output, else ``exc`` itself."""
    code = exc.errno
    ours = code in _OUTPUT_ERRNOS or (code in _PERMISSION_ERRNOS and exc.filename is not None and any(
        str(exc.filename).startswith(str(t.parent if str(t.parent) else ".")) for t in targets))
    if not (ours or always):
        return exc
    where = ", ".join(str(t) for t in targets)
    reason = exc.strerror or str(exc)
    if code == errno.ENAMETOOLONG:
        reason = "file name too long"
    return OutputError(f"cannot write {where}: {reason}")


def _pathconf(folder: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(folder, name))
    except (OSError, ValueError, AttributeError):
        return default


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{int(n)} bytes"


def _file_mode(path: Path) -> int:
    """The existing file's permissions, else 0666 less the process umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
