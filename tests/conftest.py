"""Shared test setup: repo root on sys.path, data location, markers for bpy and data tests."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data"
if DEFAULT_DATA.is_dir():  # a PARLEY_DATA that is not a folder is an error (issue 16), so set only a real one
    os.environ.setdefault("PARLEY_DATA", str(DEFAULT_DATA))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder; tests that need it are skipped (with the reason) when it is absent."""
    p = Path(os.environ.get("PARLEY_DATA", DEFAULT_DATA))
    if not p.is_dir():
        pytest.skip(f"PARLEY_DATA folder {p} not found")
    return p


def armature_from_rest(rest, name="rig", *, fresh: bool = True):
    """A Blender armature (in a fresh empty scene, or the current one when not ``fresh``) whose bones have
    exactly ``rest``'s heads and frames, rolls included (``rest``: a :class:`rigs.retarget.RestSkeleton`).
    Left active, in Object mode."""
    import bpy
    import numpy as np
    from mathutils import Matrix

    if fresh:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for j, n in enumerate(rest.names):
        eb = data.edit_bones.new(n)
        eb.head, eb.tail = (0, 0, 0), (0, 0.05, 0)
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = rest.rotations[j], rest.positions[j]
        eb.matrix = Matrix(M.tolist())
        if rest.parents[j] >= 0:
            eb.parent = data.edit_bones[rest.names[rest.parents[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


try:
    import bpy as _bpy  # noqa: F401
    HAVE_BPY = True
except ImportError:
    HAVE_BPY = False


def requires_bpy(fn):
    """Mark a test as needing bpy (Blender as a module): skipped with the reason when it is missing."""
    fn = pytest.mark.blender(fn)
    return pytest.mark.skipif(not HAVE_BPY, reason="needs bpy (Blender as a module)")(fn)


@pytest.fixture(scope="session")
def ext_zip(tmp_path_factory) -> Path:
    """The Blender extension zip, built once per test session."""
    from addon import packaging

    return packaging.build_extension_zip(ROOT, tmp_path_factory.mktemp("dist"))
