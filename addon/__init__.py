"""Parley for Blender: generate face and body animation from a voice recording, apply clips to rigs.

A Blender extension (see ``blender_manifest.toml``); it needs only bpy and numpy. The engine runs
in-process when importable, otherwise as a subprocess of the interpreter set in the preferences.
bpy is imported in :func:`register` only, so the pure modules (``addon.packaging``, ``addon.runner``,
``addon.job``, ``addon.mapping``) import without Blender.
"""
from __future__ import annotations


def _classes():
    from . import operators, panels, prefs, props

    return props.CLASSES + prefs.CLASSES + operators.CLASSES + panels.CLASSES


def register():
    import bpy

    from . import props

    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.parley = bpy.props.PointerProperty(type=props.ParleySettings)


def unregister():
    import bpy

    del bpy.types.Scene.parley
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
