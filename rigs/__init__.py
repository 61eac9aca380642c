"""Rig definitions as data: ARKit channels, the canonical skeleton, retarget maps, demo character."""
