"""Parley's one error family.

Every failure Parley can explain to a user is a :class:`ParleyError`: the CLI prints it as one line
``parley: error: ...`` (:func:`one_line`) and exits 2, the add-on shows it with ``self.report({'ERROR'}, ...)``. Anything
else is a bug and keeps its traceback. Every layer (rigs, engine, add-on) raises from this tree.
"""
from __future__ import annotations


class ParleyError(Exception):
    """Base of every error reported to a user as one clear line."""

    exit_code = 2


class AudioError(ParleyError):
    """Audio that cannot be read or used: missing, empty, not audio, NaN samples, absurd rates."""


class ClipError(ParleyError):
    """A clip file or Clip object that breaks the contract (shapes, values, missing fields)."""


class SchemaVersionError(ClipError):
    """A clip written by a newer schema than this reader understands."""


class PhoneticsError(ParleyError):
    """Phonetic timing failed (aligner or recogniser error, time-out)."""


class RigError(ParleyError):
    """A rig, skeleton or retarget map that cannot be used."""


class RenderError(ParleyError):
    """Rendering a clip to video failed."""


class DataMissingError(ParleyError):
    """A data asset (ICT FaceKit head, corpus) is not present and cannot be fetched."""


class ConfigError(ParleyError):
    """A user-supplied option that makes no sense (bad emotion name, fps, seed...)."""


class CancelledError(ParleyError):
    """The caller cancelled a running job (progress callback said stop)."""

    exit_code = 130


class OutputError(ParleyError):
    """An output that cannot or must not be written: it is one of the inputs, write-protected, not a regular
    file, in a missing, read-only or full folder, or its name is too long or has the wrong extension."""


def one_line(message: object) -> str:
    """``message`` as one printable line for a terminal: control and format characters (newlines, escape
    sequences, bidirectional overrides) and line separators are shown as Python escapes (``\\x1b``), so
    text from a file (a clip's meta, a file name) can neither break the one-line promise nor drive the
    terminal."""
    import unicodedata

    def shown(ch: str) -> str:
        cat = unicodedata.category(ch)
        if cat[0] == "C" or cat in ("Zl", "Zp"):
            return ch.encode("unicode_escape").decode("ascii")
        return ch

    return "".join(map(shown, str(message)))
