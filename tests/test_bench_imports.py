"""Every bench/*.py imports without error and does no work on import: nothing printed, no environment
variable set, main() not run. Scripts are loaded by file path with bench/ on sys.path, as Python does when
it runs ``python bench/x.py``; one that needs bpy is skipped where bpy is missing."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(BENCH.glob("*.py"))


def test_bench_folder_has_scripts():
    assert len([p for p in SCRIPTS if p.name.startswith("bench_")]) >= 5


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_bench_script_imports_without_running(path, monkeypatch, capfd):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", [str(path), "--not-an-option"])   # a main() run on import would exit
    env = dict(os.environ)
    before = set(sys.modules)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module     # as an import would (dataclasses look their module up there)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as e:
        if e.name == "bpy":
            pytest.skip(f"{path.name} needs bpy")
        raise
    finally:
        for name in set(sys.modules) - before:       # forget sibling modules (bench/references.py)
            if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(BENCH)):
                del sys.modules[name]
        changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
        os.environ.clear()
        os.environ.update(env)
    assert not changed, f"{path.name} sets environment variables on import: {changed}"
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    if path.name.startswith("bench_"):                               # a script, not a helper module
        assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
