"""Two voices from one multichannel recording: the character's channel and the partner's, each as mono audio.

A dyadic recording often holds each speaker on their own channel (a stereo interview, a two-lavalier
session). ``parse_channels("left,right")`` names them (``left``/``right`` or 1-based channel numbers, the
character first) and :func:`load_channels` reads each as its own :class:`~engine.audio.load.Audio`, through
the same reader, resampler and DC filter as :func:`~engine.audio.load.load_audio` (only the mix-down is
replaced by picking one channel). Both keep the file's name (with the channel) and sha256.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from engine.audio.load import _BLOCK_S, Audio, _collect, _mono_resampled, _open
from rigs.core.errors import ConfigError

__all__ = ["CHANNEL_NAMES", "load_channels", "parse_channels"]

CHANNEL_NAMES = {"left": 0, "l": 0, "right": 1, "r": 1}   # names of the first two channels (0-based)


def parse_channels(text: str) -> tuple[int, int]:
    """``"ME,PARTNER"`` -> (character, partner) 0-based channel indices. Each is ``left``/``right`` (``l``/``r``)
    or a 1-based channel number; raises ConfigError for anything else or the same channel twice."""
    parts = [p.strip().lower() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--channels {text!r}: give two channels, the character's then the partner's, "
                          "e.g. left,right or 2,1")
    out = []
    for p in parts:
        if p in CHANNEL_NAMES:
            out.append(CHANNEL_NAMES[p])
        elif p.isdigit() and int(p) >= 1:
            out.append(int(p) - 1)
        else:
            raise ConfigError(f"--channels {text!r}: {p!r} is not a channel; use left, right or a number from 1")
    if out[0] == out[1]:
        raise ConfigError(f"--channels {text!r}: the character and the partner need different channels")
    return out[0], out[1]


def load_channels(path, channels: tuple[int, int], *, sr: int = 16000) -> tuple[Audio, Audio]:
    """(character, partner) mono :class:`Audio` at ``sr`` from channels ``channels`` (0-based) of ``path``.

    Raises AudioError for unusable files (as :func:`~engine.audio.load.load_audio`) and ConfigError for a mono
    file or a channel the file does not have."""
    src = _open(path, sr)
    name = src.path.name
    if src.channels < 2:
        raise ConfigError(f"--channels needs a recording with two or more channels; {name} is mono: give the "
                          "partner as its own file with --partner")
    missing = [c + 1 for c in channels if c >= src.channels]
    if missing:
        raise ConfigError(f"--channels names channel {', '.join(map(str, missing))} but {name} has "
                          f"{src.channels} channels (1..{src.channels}, or left/right)")
    from rigs.core.files import sha256_file

    sha = sha256_file(src.path)
    out = []
    for c in channels:
        one = dataclasses.replace(src, channels=1, blocks=lambda n, c=c: (b[:, c:c + 1] for b in src.blocks(n)))
        expected = None if src.frames is None else int(np.ceil(src.frames * int(sr) / src.sr)) + 64
        y = _collect(_mono_resampled(one, int(sr), _BLOCK_S), expected)
        out.append(Audio(samples=y, sr=int(sr), duration_s=y.size / float(sr), source_name=f"{name}[{c + 1}]",
                         source_sha256=sha, original_sr=src.sr, channels=src.channels))
    return out[0], out[1]
