"""Reading ``.npz`` archives from untrusted files with bounded memory and one-line errors.

``numpy.load`` trusts the archive it opens: a 10 MB file of deflated zeros can declare a 10 GB member, a
member's ``.npy`` header may name any shape and dtype, and a corrupt deflate stream surfaces as
``zlib.error``. :func:`read_npz` reads the zip central directory, then for each member the caller asks for
checks the declared (decompressed) size, the ``.npy`` header, the dtype kind, the number of dimensions and
each dimension against a :class:`Member` spec, and the total against ``max_total_bytes`` -- all before a
byte of array data is decompressed. It then reads exactly the declared bytes into one preallocated array
(the zip CRC is checked on the way). Members nobody asked for are skipped unread; pickles and structured
dtypes are refused. Every failure is a :class:`~.errors.ClipError` naming the member.

References: NEP 1, "A simple file format for NumPy arrays" (the ``.npy`` header, versions 1.0 and 2.0);
PKWARE APPNOTE.TXT (the zip container).
"""
from __future__ import annotations

import io
import lzma
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ClipError

NPY_MAGIC = b"\x93NUMPY"
MAX_NPY_HEADER_BYTES = 4096   # numpy writes 128 bytes for the arrays of a clip
READ_BLOCK_BYTES = 1 << 20

# what a broken or hostile archive can raise from zipfile and its decompressors
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                   ValueError, NotImplementedError, RuntimeError, struct.error, OverflowError)


@dataclass(frozen=True)
class Member:
    """What one array may be: ``kinds`` numpy dtype kinds allowed ("f" float, "i"/"u" integers, "U" text),
    ``dims`` the largest size of each dimension (so also the number of dimensions, ``()`` for a 0-d
    array), ``max_itemsize`` the largest bytes per element (text length)."""

    kinds: str
    dims: tuple[int, ...]
    max_itemsize: int = 8


def read_npz(path: Path, spec: dict[str, Member], *, max_total_bytes: int) -> dict[str, np.ndarray]:
    """The members of ``spec`` that the archive at ``path`` holds, as arrays (missing ones are absent).

    Raises :class:`ClipError` ("<path>: ...") for a file that is not a zip archive, a member whose header,
    dtype, shape or declared size breaks ``spec``, members together over ``max_total_bytes``, duplicated
    members, and data that does not decompress to what the header declares.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            members = _wanted(zf, spec, path)
            total = sum(info.file_size for info in members.values())
            if total > max_total_bytes:
                raise ClipError(f"{path}: arrays declare {total / 2**30:.1f} GiB decompressed, more than the "
                                f"{max_total_bytes / 2**30:.1f} GiB a clip file may hold")
            return {key: _read_member(zf, info, spec[key], path, key) for key, info in members.items()}
    except ClipError:
        raise
    except (zlib.error, lzma.LZMAError, EOFError):
        raise ClipError(f"{path}: corrupt compressed data in the clip (.npz) file") from None
    except _ARCHIVE_ERRORS as e:
        raise ClipError(f"{path}: not a Parley clip (.npz) file ({e.__class__.__name__})") from None


def _wanted(zf: zipfile.ZipFile, spec: dict[str, Member], path: Path) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key not in spec:
            continue
        if key in members:
            raise ClipError(f"{path}: field {key!r} appears twice")
        members[key] = info
    return members


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, member: Member, path: Path, key: str) -> np.ndarray:
    with zf.open(info) as f:
        dtype, shape, fortran_order, header_bytes = _read_header(f, path, key)
        _check(dtype, shape, member, path, key)
        nbytes = math.prod(shape) * dtype.itemsize
        if header_bytes + nbytes != info.file_size:
            raise ClipError(f"{path}: field {key!r} holds {info.file_size - header_bytes} bytes of data where "
                            f"its header declares {nbytes} (truncated or padded)")
        out = np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
        flat = out.reshape(-1, order="A").view(np.uint8)  # the array's own bytes, in memory order
        pos = 0
        while pos < nbytes:
            block = f.read(min(READ_BLOCK_BYTES, nbytes - pos))
            if not block:
                raise ClipError(f"{path}: field {key!r} ends early (truncated data)")
            flat[pos:pos + len(block)] = np.frombuffer(block, np.uint8)
            pos += len(block)
    return out


def _read_header(f, path: Path, key: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header length in bytes) of an ``.npy`` stream, the length field checked
    before the header is read."""
    magic = f.read(len(NPY_MAGIC) + 2)
    if len(magic) < len(NPY_MAGIC) + 2 or not magic.startswith(NPY_MAGIC):
        raise ClipError(f"{path}: field {key!r} is not a numpy array")
    version = (magic[-2], magic[-1])
    if version not in ((1, 0), (2, 0)):
        raise ClipError(f"{path}: field {key!r} uses .npy format {version[0]}.{version[1]} (1.0 or 2.0 expected)")
    length_format = "<H" if version == (1, 0) else "<I"
    length_field = f.read(struct.calcsize(length_format))
    if len(length_field) < struct.calcsize(length_format):
        raise ClipError(f"{path}: field {key!r} ends inside its header")
    (length,) = struct.unpack(length_format, length_field)
    if length > MAX_NPY_HEADER_BYTES:
        raise ClipError(f"{path}: field {key!r} has a {length}-byte header (at most {MAX_NPY_HEADER_BYTES})")
    header = f.read(length)
    if len(header) < length:
        raise ClipError(f"{path}: field {key!r} ends inside its header")
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran_order, dtype = reader(io.BytesIO(length_field + header))
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError, KeyError):
        raise ClipError(f"{path}: field {key!r} has an unreadable .npy header") from None
    return np.dtype(dtype), tuple(shape), bool(fortran_order), len(magic) + len(length_field) + length


def _check(dtype: np.dtype, shape: tuple[int, ...], member: Member, path: Path, key: str) -> None:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in member.kinds:
        kinds = "text" if "U" in member.kinds else "numbers" if "f" in member.kinds else "integers"
        raise ClipError(f"{path}: field {key!r} must hold {kinds}, not {dtype}")
    if dtype.itemsize > member.max_itemsize or dtype.itemsize == 0:
        raise ClipError(f"{path}: field {key!r} has {dtype.itemsize}-byte elements (at most {member.max_itemsize})")
    if len(shape) != len(member.dims):
        raise ClipError(f"{path}: field {key!r} has {len(shape)} dimensions {shape}, expected {len(member.dims)}")
    for axis, (n, most) in enumerate(zip(shape, member.dims)):
        if not 0 <= n <= most:
            raise ClipError(f"{path}: field {key!r} has {n} entries along axis {axis} (at most {most})")
