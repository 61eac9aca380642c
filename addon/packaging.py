"""Build and validate the Parley Blender extension zip (pure Python: no bpy, no numpy).

The zip holds ``blender_manifest.toml`` at its root, the add-on modules of ``addon/`` and, under
``vendor/``, the numpy-only engine and rig modules the add-on reads clips and maps with (package
structure kept: ``vendor/engine/clip.py``, ``vendor/rigs/arkit.py``, ``vendor/rigs/data/...``).
``vendor/engine/__init__.py`` is a stub that imports nothing (the real one is the torch engine's).

Validation (:func:`validate_extension_zip`): the manifest parses with ``tomllib`` and has the required
keys, every ``.py`` compiles, nothing imports torch, every vendored module's imports resolve inside
the zip or to the standard library/numpy/bpy, and, when bpy is installed, Blender's own extension
validator (``blender_ext.py validate``, the code behind ``blender --command extension validate``)
accepts the archive.

References: Blender manual, "Extensions: How to Create Extensions" (manifest schema 1.0.0).
"""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "blender_manifest.toml"
REQUIRED_KEYS = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                 "blender_version_min", "license")
# add-on files that never go into the zip (also vendor/, tests/ and the README screenshots/)
_ADDON_SKIP = {"packaging.py"}
# (repo-relative source, required): numpy-only modules vendored under vendor/
VENDORED = (
    ("engine/errors.py", True),
    ("engine/clip.py", True),
    ("engine/export.py", False),
    ("engine/data.py", False),
    ("rigs/__init__.py", True),
    ("rigs/arkit.py", True),
    ("rigs/rotations.py", True),
    ("rigs/skeleton.py", True),
    ("rigs/retarget.py", False),
    ("rigs/bvh.py", False),
    ("rigs/render.py", False),
    ("rigs/demo_character.py", False),
    ("rigs/ict.py", False),
)
VENDOR_DATA = ("rigs/data",)
ALLOWED_THIRD_PARTY = {"numpy", "bpy", "mathutils", "bmesh", "bpy_extras", "addon_utils", "gpu", "aud",
                       "bl_ui", "bpy_types", "idprop"}
FORBIDDEN = {"torch", "torchaudio", "librosa", "soundfile", "pocketsphinx", "silero_vad", "scipy", "trimesh"}
ENGINE_STUB = '''"""Vendored stub of the Parley engine package for the Blender add-on.

Only the numpy modules the add-on needs (clip, errors, export) are shipped; the engine itself (audio,
animators, torch) runs from the interpreter set in the add-on preferences.
"""
__version__ = "{version}"
PARLEY_VENDORED = True
'''


class PackagingError(Exception):
    """The extension could not be built, or the built zip failed validation."""


@dataclass(frozen=True)
class ValidationReport:
    files: int
    python_files: int
    vendored: tuple[str, ...]
    skipped: tuple[str, ...]          # optional vendor modules left out (with the reason)
    blender_validator: str            # "passed", or why it did not run


def read_manifest(path) -> dict:
    """Parse a manifest and check the keys Blender requires. Raises :class:`PackagingError`."""
    try:
        with open(path, "rb") as f:
            manifest = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PackagingError(f"{path}: cannot read manifest ({e})") from None
    return _check_manifest(manifest, str(path))


def _check_manifest(manifest: dict, where: str) -> dict:
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise PackagingError(f"{where}: manifest lacks {', '.join(missing)}")
    if manifest["type"] != "add-on":
        raise PackagingError(f"{where}: type must be 'add-on', got {manifest['type']!r}")
    if not isinstance(manifest["license"], list) or not manifest["license"]:
        raise PackagingError(f"{where}: license must be a non-empty list")
    return manifest


def _imports(source: str, filename: str) -> list[tuple[str, int]]:
    """(absolute module name, level) of every import statement in ``source``."""
    tree = ast.parse(source, filename)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, 0) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level))
    return out


def _vendor_problem(rel: str, source: str, available: set[str]) -> str | None:
    """Why a vendored module cannot work inside Blender, or None."""
    stdlib = set(sys.stdlib_module_names)
    for name, level in _imports(source, rel):
        if level:
            continue
        top = name.split(".")[0]
        if top in FORBIDDEN:
            return f"imports {name}"
        if top in stdlib or top in ALLOWED_THIRD_PARTY or top == "__future__":
            continue
        if top in ("engine", "rigs"):
            mod = name.replace(".", "/")
            if mod + ".py" in available or mod + "/__init__.py" in available or name in ("engine", "rigs"):
                continue
            return f"imports {name}, which is not vendored"
        return f"imports third-party module {name}"
    return None


def _gather(repo_root: Path) -> tuple[dict[str, bytes], tuple[str, ...], tuple[str, ...]]:
    """arcname -> bytes for everything in the zip; plus vendored and skipped module lists."""
    addon_dir = repo_root / "addon"
    files: dict[str, bytes] = {}
    for p in sorted(addon_dir.rglob("*")):
        rel = p.relative_to(addon_dir).as_posix()
        if (not p.is_file() or "__pycache__" in p.parts or p.suffix == ".pyc" or rel in _ADDON_SKIP
                or rel.startswith(("vendor/", "tests/", "screenshots/"))):
            continue
        files[rel] = p.read_bytes()
    if MANIFEST not in files:
        raise PackagingError(f"{addon_dir / MANIFEST} not found")
    version = tomllib.loads(files[MANIFEST].decode("utf-8"))["version"]
    files["vendor/engine/__init__.py"] = ENGINE_STUB.format(version=version).encode()
    for d in VENDOR_DATA:
        for p in sorted((repo_root / d).rglob("*")):
            if p.is_file() and p.suffix in (".json", ".txt") and "__pycache__" not in p.parts:
                files["vendor/" + p.relative_to(repo_root).as_posix()] = p.read_bytes()
    candidates = {}
    for rel, required in VENDORED:
        p = repo_root / rel
        if p.is_file():
            candidates[rel] = (p.read_text(encoding="utf-8"), required)
        elif required:
            raise PackagingError(f"{p} not found (required by the add-on)")
    # drop optional modules whose imports do not resolve, until the set is stable
    skipped: list[str] = []
    while True:
        available = set(candidates) | {"engine/__init__.py"}
        bad = {rel: why for rel, (src, _) in candidates.items() if (why := _vendor_problem(rel, src, available))}
        if not bad:
            break
        for rel, why in bad.items():
            if candidates[rel][1]:
                raise PackagingError(f"vendored module {rel} {why}")
            skipped.append(f"{rel} ({why})")
            del candidates[rel]
    for rel, (src, _) in candidates.items():
        files["vendor/" + rel] = src.encode("utf-8")
    return files, tuple(sorted(candidates)), tuple(skipped)


def find_blender_validator() -> Path | None:
    """Blender's ``blender_ext.py`` (the extension command-line tool) from an installed bpy, or None."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    hits = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return hits[-1] if hits else None


def validate_extension_zip(zip_path, *, use_blender: bool = True) -> ValidationReport:
    """Check a built zip (see the module docstring). Raises :class:`PackagingError` on the first problem."""
    zip_path = Path(zip_path)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as e:
        raise PackagingError(f"{zip_path}: not a zip file ({e})") from None
    with zf:
        names = zf.namelist()
        if MANIFEST not in names:
            raise PackagingError(f"{zip_path}: no {MANIFEST} at the zip root")
        try:
            manifest = tomllib.loads(zf.read(MANIFEST).decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise PackagingError(f"{zip_path}: manifest does not parse ({e})") from None
        _check_manifest(manifest, f"{zip_path}:{MANIFEST}")
        if "__init__.py" not in names:
            raise PackagingError(f"{zip_path}: no __init__.py at the zip root")
        if "vendor/engine/__init__.py" not in names:
            raise PackagingError(f"{zip_path}: vendor/engine/__init__.py missing")
        py = [n for n in names if n.endswith(".py")]
        for n in py:
            src = zf.read(n).decode("utf-8")
            try:
                compile(src, n, "exec")
                imports = _imports(src, n)
            except SyntaxError as e:
                raise PackagingError(f"{zip_path}:{n}: does not compile ({e.msg}, line {e.lineno})") from None
            for mod, level in imports:
                if not level and mod.split(".")[0] in FORBIDDEN:
                    raise PackagingError(f"{zip_path}:{n}: imports {mod}; the add-on must need only bpy+numpy")
        vendored = tuple(n[len("vendor/"):] for n in py if n.startswith("vendor/"))
    verdict = "not run (bpy not installed)"
    tool = find_blender_validator() if use_blender else None
    if use_blender and tool is not None:
        r = subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            msg = (r.stdout + r.stderr).strip().splitlines()
            raise PackagingError(f"{zip_path}: Blender's extension validator failed: "
                                 f"{msg[-1] if msg else 'exit ' + str(r.returncode)}")
        verdict = "passed"
    return ValidationReport(files=len(names), python_files=len(py), vendored=vendored, skipped=(),
                            blender_validator=verdict)


def build_extension_zip(repo_root, out_dir) -> Path:
    """Write ``<out_dir>/parley-<version>.zip`` from ``<repo_root>/addon`` and validate it.

    Deterministic (fixed timestamps, sorted entries). Raises :class:`PackagingError`.
    """
    repo_root, out_dir = Path(repo_root).resolve(), Path(out_dir)
    manifest = read_manifest(repo_root / "addon" / MANIFEST)
    files, _, skipped = _gather(repo_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"parley-{manifest['version']}.zip"
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arc in sorted(files):
            info = zipfile.ZipInfo(arc, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[arc])
    try:
        validate_extension_zip(tmp)
    except PackagingError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    for s in skipped:
        sys.stderr.write(f"parley add-on: optional module left out: {s}\n")
    return out


if __name__ == "__main__":  # python -m addon.packaging [OUT_DIR]
    print(build_extension_zip(Path(__file__).resolve().parent.parent, Path(sys.argv[1] if len(sys.argv) > 1
                                                                              else "dist")))
