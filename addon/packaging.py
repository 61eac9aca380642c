"""Build and validate the Parley Blender extension zip (pure Python: no bpy, no numpy).

The zip holds ``blender_manifest.toml`` at its root (``version`` filled in from
:mod:`rigs.core.version`, the one version source), the add-on modules of ``addon/`` (with ``blender/``)
and the whole numpy-only ``rigs`` package as the sub-package ``rigs/`` (its imports are all relative).
The add-on reaches it through :mod:`addon.vocab` by a relative import, as the Blender manual's "bundle
as a sub-module" option describes: nothing is put on Blender's ``sys.path`` and no top-level module
name is added to Blender's Python.

Validation (:func:`validate_extension_zip`): the manifest parses with ``tomllib`` and has the required
keys, every ``.py`` compiles, nothing imports torch or another engine-only package, every import of
the bundled ``rigs`` is relative, the add-on's absolute imports are the standard library, numpy, bpy
or the two optional ones (the checkout's ``rigs`` in :mod:`addon.vocab`'s fallback and the engine for
the in-process runner), and, when bpy is installed, Blender's own extension validator
(``blender_ext.py validate``, the code behind ``blender --command extension validate``) accepts the
archive.

References: Blender manual, "Extensions: How to Create Extensions" (manifest schema 1.0.0) and "Add-ons:
Bundle Dependencies".
"""
from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rigs.core.errors import ParleyError
from rigs.core.version import __version__

MANIFEST = "blender_manifest.toml"
REQUIRED_KEYS = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                 "blender_version_min", "license")
# add-on files that never go into the zip (also tests/ and screenshots/)
_ADDON_SKIP = {"packaging.py"}
BUNDLED_PACKAGE = "rigs"
ALLOWED_THIRD_PARTY = {"numpy", "bpy", "mathutils", "bmesh", "bpy_extras", "addon_utils", "gpu", "aud",
                       "bl_ui", "bpy_types", "idprop"}
# absolute imports of the project the add-on may make: module -> the only add-on file allowed to
OPTIONAL_PROJECT_IMPORTS = {"rigs": "vocab.py", "engine": "runner.py"}
FORBIDDEN = {"torch", "torchaudio", "librosa", "soundfile", "pocketsphinx", "silero_vad", "scipy", "trimesh"}


class PackagingError(ParleyError):
    """The extension could not be built, or the built zip failed validation."""


@dataclass(frozen=True)
class ValidationReport:
    files: int
    python_files: int
    bundled: tuple[str, ...]          # modules of the bundled rigs package
    blender_validator: str            # "passed", or why it did not run


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


def _import_problem(rel: str, source: str) -> str | None:
    """Why a module of the zip cannot work inside Blender, or None."""
    stdlib = set(sys.stdlib_module_names)
    bundled = rel.startswith(BUNDLED_PACKAGE + "/")
    for name, level in _imports(source, rel):
        top = name.split(".")[0]
        if level:
            continue
        if top in FORBIDDEN:
            return f"imports {name}; the add-on must need only bpy+numpy"
        if top in stdlib or top == "__future__" or (top in ALLOWED_THIRD_PARTY and (not bundled or top == "numpy")):
            continue
        if not bundled and OPTIONAL_PROJECT_IMPORTS.get(top) == rel:
            continue
        if bundled and top == BUNDLED_PACKAGE:
            return f"imports {name} absolutely; the bundled package must use relative imports"
        return f"imports {name}"
    return None


def _manifest_with_version(text: str) -> str:
    """The manifest with ``version`` set to the project's one version (added when absent)."""
    line = f'version = "{__version__}"'
    if re.search(r"(?m)^version\s*=", text):
        return re.sub(r"(?m)^version\s*=.*$", line, text, count=1)
    return re.sub(r"(?m)^(id\s*=.*)$", lambda m: m.group(1) + "\n" + line, text, count=1)


def _gather(repo_root: Path) -> dict[str, bytes]:
    """arcname -> bytes for everything in the zip."""
    addon_dir = repo_root / "addon"
    files: dict[str, bytes] = {}
    for p in sorted(addon_dir.rglob("*")):
        rel = p.relative_to(addon_dir).as_posix()
        if (not p.is_file() or "__pycache__" in p.parts or p.suffix == ".pyc" or rel in _ADDON_SKIP
                or rel.startswith(("tests/", "screenshots/"))):
            continue
        files[rel] = p.read_bytes()
    if MANIFEST not in files:
        raise PackagingError(f"{addon_dir / MANIFEST} not found")
    files[MANIFEST] = _manifest_with_version(files[MANIFEST].decode("utf-8")).encode("utf-8")
    pkg = repo_root / BUNDLED_PACKAGE
    for p in sorted(pkg.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts:
            files[p.relative_to(repo_root).as_posix()] = p.read_bytes()
    if f"{BUNDLED_PACKAGE}/__init__.py" not in files:
        raise PackagingError(f"{pkg} not found (the add-on bundles it)")
    return files


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
        if f"{BUNDLED_PACKAGE}/core/clip.py" not in names:
            raise PackagingError(f"{zip_path}: the bundled {BUNDLED_PACKAGE} package is missing")
        py = [n for n in names if n.endswith(".py")]
        for n in py:
            src = zf.read(n).decode("utf-8")
            try:
                compile(src, n, "exec")
            except SyntaxError as e:
                raise PackagingError(f"{zip_path}:{n}: does not compile ({e.msg}, line {e.lineno})") from None
            why = _import_problem(n, src)
            if why:
                raise PackagingError(f"{zip_path}:{n}: {why}")
        bundled = tuple(n for n in py if n.startswith(BUNDLED_PACKAGE + "/"))
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
    return ValidationReport(files=len(names), python_files=len(py), bundled=bundled, blender_validator=verdict)


def build_extension_zip(repo_root, out_dir) -> Path:
    """Write ``<out_dir>/parley-<version>.zip`` from ``<repo_root>/addon`` and validate it.

    Deterministic (fixed timestamps, sorted entries). Raises :class:`PackagingError`.
    """
    repo_root, out_dir = Path(repo_root).resolve(), Path(out_dir)
    files = _gather(repo_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"parley-{__version__}.zip"
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
    return out


if __name__ == "__main__":  # python -m addon.packaging [OUT_DIR]
    print(build_extension_zip(Path(__file__).resolve().parent.parent, Path(sys.argv[1] if len(sys.argv) > 1
                                                                              else "dist")))
