"""The Blender extension zip: layout, the manifest's version, validation (ours and Blender's), and the bundled
``rigs`` sub-package working without the checkout (no sys.path or sys.modules edits)."""
from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile

import pytest
from conftest import ROOT, requires_bpy

from addon import packaging
from rigs.core.clip import neutral_clip, save_clip
from rigs.core.version import __version__

_blender = requires_bpy


@_blender
def test_zip_layout_and_validation(ext_zip):
    assert ext_zip.name == f"parley-{__version__}.zip"
    with zipfile.ZipFile(ext_zip) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        for n in names:
            if n.endswith(".py"):
                src = zf.read(n).decode()
                assert "import torch" not in src and "from torch" not in src, n
    assert manifest["id"] == "parley" and manifest["type"] == "add-on" and manifest["version"] == __version__
    assert manifest["blender_version_min"] == "4.2.0" and manifest["license"] == ["SPDX:MIT"]
    assert "files" in manifest["permissions"]
    assert {"__init__.py", "operators/generate.py", "vocab.py", "blender/bake.py", "blender/encode.py", "rigs/core/clip.py",
            "rigs/core/errors.py", "rigs/core/arkit.py", "rigs/core/data/arkit.json", "rigs/core/skeleton.py",
            "rigs/retarget/plan.py", "rigs/retarget/maps/mixamo.json", "rigs/formats/livelink.py"} <= names
    assert "packaging.py" not in names and not any("__pycache__" in n or n.startswith("engine/") for n in names)
    report = packaging.validate_extension_zip(ext_zip)
    assert report.blender_validator == "passed"


@_blender
def test_validation_rejects_broken_zips(tmp_path, ext_zip):
    def rewrite(dst, edit):
        with zipfile.ZipFile(ext_zip) as src, zipfile.ZipFile(dst, "w") as out:
            for n in src.namelist():
                data = edit(n, src.read(n))
                if data is not None:
                    out.writestr(n, data)
        return dst

    torch = rewrite(tmp_path / "t.zip", lambda n, d: d + b"\nimport torch\n" if n == "mapping.py" else d)
    with pytest.raises(packaging.PackagingError, match="torch"):
        packaging.validate_extension_zip(torch)
    syntax = rewrite(tmp_path / "s.zip", lambda n, d: d + b"\ndef (:\n" if n == "blender/takes.py" else d)
    with pytest.raises(packaging.PackagingError, match="compile"):
        packaging.validate_extension_zip(syntax)
    nokey = rewrite(tmp_path / "m.zip", lambda n, d: d.replace(b'tagline =', b'#tagline =')
                    if n == "blender_manifest.toml" else d)
    with pytest.raises(packaging.PackagingError, match="tagline"):
        packaging.validate_extension_zip(nokey)
    noman = rewrite(tmp_path / "n.zip", lambda n, d: None if n == "blender_manifest.toml" else d)
    with pytest.raises(packaging.PackagingError, match="manifest"):
        packaging.validate_extension_zip(noman)
    absolute = rewrite(tmp_path / "a.zip", lambda n, d: d.replace(b"from .errors import", b"from rigs.core.errors import")
                       if n == "rigs/core/clip.py" else d)
    with pytest.raises(packaging.PackagingError, match="relative"):
        packaging.validate_extension_zip(absolute)
    engine = rewrite(tmp_path / "e.zip", lambda n, d: d + b"\nfrom engine import runtime\n" if n == "mapping.py" else d)
    with pytest.raises(packaging.PackagingError, match="engine"):
        packaging.validate_extension_zip(engine)


@_blender
def test_bundled_rigs_work_without_the_checkout(tmp_path, ext_zip):
    """The zip's add-on code reads clips, Live Link takes and maps names with only its bundled ``rigs``, reached
    relatively: no ``sys.path`` or ``sys.modules`` edits and no top-level ``rigs``/``engine`` module appears."""
    with zipfile.ZipFile(ext_zip) as zf:
        zf.extractall(tmp_path / "parley")
    clip_path = tmp_path / "c.npz"
    save_clip(neutral_clip(0.5, fps=30.0), clip_path)
    code = (
        "import sys, importlib.util\n"
        f"sys.path[:] = [p for p in sys.path if p not in ('', {str(ROOT)!r}) and 'editable' not in p]\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "assert importlib.util.find_spec('engine') is None, 'checkout visible'\n"
        "path_before = list(sys.path)\n"
        "from parley import mapping, runner, vocab\n"
        f"c = vocab.clip.load_clip({str(clip_path)!r})\n"
        "m = mapping.match_shape_keys(['Basis', 'JawOpen', 'mouthSmile_L', 'CC_Base_eyeBlinkRight', 'foo'], basis='Basis')\n"
        "print(c.num_frames, sorted(m.mapping), m.unmatched_keys)\n"
        "print(vocab.BUNDLED, runner.engine_in_process(), runner.engine_root(), 'mixamo' in vocab.retarget.list_maps())\n"
        "print(sys.path == path_before, sorted(k for k in sys.modules if k.split('.')[0] in ('rigs', 'engine')))\n"
        "print(vocab.clip.__name__, callable(vocab.livelink.read_livelink_csv))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "15 ['eyeBlinkRight', 'jawOpen', 'mouthSmileLeft'] ['foo']"
    assert lines[1] == "True False None True"   # bundled; no engine inside; the retarget maps ship
    assert lines[2] == "True []"                  # no path edits, no top-level rigs/engine modules
    assert lines[3] == "parley.rigs.core.clip True"
