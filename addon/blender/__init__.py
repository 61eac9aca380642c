"""Everything that writes Blender data (bpy): bake a clip into Actions, record and remove takes, build the
demo character, set up a scene for a clip and render it to MP4, and their command line (``cli``).

Shared by the add-on's operators and the ``parley render`` command; imports Parley only through
:mod:`addon.vocab` (the numpy ``rigs`` package), never the engine.
"""
