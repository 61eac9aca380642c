"""The numpy-only part of Parley the add-on stands on: the ``rigs`` package (clip contract, ARKit names,
skeleton, exchange formats, retargeting).

The built extension bundles ``rigs`` as its own sub-package (:mod:`addon.packaging`) and imports it
relatively, so nothing is added to Blender's ``sys.path`` or ``sys.modules``; in a checkout, or with
Parley installed in the running Python, the add-on uses the top-level ``rigs`` package itself.
"""
from __future__ import annotations

try:
    from .rigs import ict, retarget
    from .rigs.core import (arkit, clip, emotions, errors, files, rotations, signals, skeleton, timebase,
                            version)
    from .rigs.formats import bvh, livelink
except ModuleNotFoundError as e:  # not the built extension: a checkout or an installed Parley
    if e.name != f"{__package__}.rigs":
        raise
    from rigs import ict, retarget  # type: ignore[no-redef]
    from rigs.core import (arkit, clip, emotions, errors, files, rotations, signals,  # type: ignore[no-redef]
                           skeleton, timebase, version)
    from rigs.formats import bvh, livelink  # type: ignore[no-redef]

BUNDLED = __package__ is not None and f"{__package__}.rigs" == getattr(clip, "__name__", "").rsplit(".core", 1)[0]

__all__ = ["arkit", "bvh", "clip", "emotions", "errors", "files", "ict", "livelink", "retarget", "rotations",
           "signals", "skeleton", "timebase", "version", "BUNDLED"]
