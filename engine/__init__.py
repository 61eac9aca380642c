"""Parley's motion engine: a voice recording in, a motion clip (ARKit face, lip vertices, body) out.

Never imports bpy; torch only in :mod:`engine.learned`. Layers, top to bottom: cli, runtime (animate_file),
animators (the registry, the phonetic face, the procedural body, lips, compose), phonetics (phone timing),
audio (loading, prosody, accents, features), learned (torch networks). The boundary to Blender is the
clip file (:mod:`rigs.core.clip`). See docs/architecture.md.
"""
