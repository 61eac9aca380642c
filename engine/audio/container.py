"""How many sample frames a WAV or AIFF file's header declares, to tell a truncated file from a short one.

libsndfile clamps a file's frame count to the data actually present, so a recording cut off in a copy or a
crashed writer reads as a shorter recording without a word. :func:`declared_frames` reads the header's own
claim: the ``data`` chunk size over the block size of a RIFF/RF64 WAVE file (Microsoft/IBM RIFF, EBU Tech
3306 for RF64's ``ds64`` chunk), or ``numSampleFrames`` of an AIFF/AIFC ``COMM`` chunk (Apple AIFF 1.3).
Streaming writers that leave the size unset (0 or 0xFFFFFFFF) declare nothing.
"""
from __future__ import annotations

import struct
from pathlib import Path

_MAX_CHUNKS = 256            # chunks looked at before giving up (a real header has a handful)
_UNSET_SIZES = (0, 0xFFFFFFFF)


def declared_frames(path: Path) -> int | None:
    """Frames the header of a WAV (RIFF/RF64) or AIFF/AIFC file declares; None for other formats, headers
    that declare no size, and headers this reader cannot follow."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
                return _wave(f, rf64=head[:4] == b"RF64")
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff(f)
    except (OSError, struct.error):
        return None
    return None


def _chunks(f, endian: str):
    """(id, size, offset of the chunk's data) of each chunk, in file order."""
    for _ in range(_MAX_CHUNKS):
        head = f.read(8)
        if len(head) < 8:
            return
        cid, size = head[:4], struct.unpack(endian + "I", head[4:])[0]
        start = f.tell()
        yield cid, size, start
        f.seek(start + size + (size & 1))  # chunks are padded to an even length


def _wave(f, *, rf64: bool) -> int | None:
    block_align = data64 = None
    for cid, size, _ in _chunks(f, "<"):
        if cid == b"ds64" and size >= 16:
            data64 = struct.unpack("<Q", f.read(16)[8:16])[0]
        elif cid == b"fmt " and size >= 14:
            block_align = struct.unpack("<H", f.read(14)[12:14])[0]
        elif cid == b"data":
            if rf64 and size == 0xFFFFFFFF:
                size = data64 if data64 is not None else 0
            if not block_align or size in _UNSET_SIZES:
                return None
            return size // block_align
    return None


def _aiff(f) -> int | None:
    for cid, size, _ in _chunks(f, ">"):
        if cid == b"COMM" and size >= 6:
            frames = struct.unpack(">I", f.read(6)[2:6])[0]
            return frames or None
    return None
