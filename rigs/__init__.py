"""Motion and character data without bpy or audio: numpy only; the Blender extension bundles this package.

core (the vocabulary every layer shares), formats (Live Link, BVH, JSON), retarget (canonical motion onto
any rig, bone planning), ict (the ICT FaceKit head). Imports inside ``rigs`` are relative, so the
bundled copy works as a sub-package of the extension. See docs/architecture.md.
"""
