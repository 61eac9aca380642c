"""Exchange formats, numpy only: Live Link Face CSV, BVH, Parley motion JSON.

They live below the engine so the Blender extension (which bundles ``rigs``) reads and writes them too.
"""
