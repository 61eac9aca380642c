"""Parley for Blender: generate face and body animation from a voice recording, apply clips to rigs.

A Blender extension (see ``blender_manifest.toml``); it needs only bpy and numpy. The engine runs
in-process when importable, otherwise as a subprocess of the interpreter set in the preferences.
"""
from __future__ import annotations

import bpy

from . import operators, panels, prefs, props

_CLASSES = props.CLASSES + prefs.CLASSES + operators.CLASSES + panels.CLASSES


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.parley = bpy.props.PointerProperty(type=props.ParleySettings)


def unregister():
    del bpy.types.Scene.parley
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
