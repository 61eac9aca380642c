"""Typed errors of the motion engine.

Every failure the engine can explain to a user is an ``EngineError``; the CLI turns one into a single
line on stderr and exit code 2, and the add-on into ``self.report({'ERROR'}, ...)``. Anything else is
a bug and keeps its traceback.
"""
from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine reports to a user as one clear line."""

    exit_code = 2


class AudioError(EngineError):
    """Audio that cannot be read or used: missing, empty, not audio, NaN samples, absurd rates."""


class ClipError(EngineError):
    """A clip file or Clip object that breaks the contract (shapes, values, missing fields)."""


class SchemaVersionError(ClipError):
    """A clip written by a newer schema than this reader understands."""


class PhoneticsError(EngineError):
    """Phonetic timing failed (aligner or recogniser error, time-out)."""


class RigError(EngineError):
    """A rig, skeleton or retarget map that cannot be used."""


class RenderError(EngineError):
    """Rendering a clip to video failed."""


class DataMissingError(EngineError):
    """A data asset (ICT FaceKit head, corpus) is not present and cannot be fetched."""


class ConfigError(EngineError):
    """A user-supplied option that makes no sense (bad emotion name, fps, seed...)."""
