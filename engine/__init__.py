"""Parley motion engine: a voice recording in, a motion clip (ARKit face, lip vertices, body) out.

Pure Python; never imports bpy. The boundary to Blender is the clip file (:mod:`engine.clip`).
"""
__version__ = "0.1.0"
