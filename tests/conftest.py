"""Shared test setup: repo root on sys.path, data location, markers for bpy and data tests."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("PARLEY_DATA", str(ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder; tests that need it are skipped (with the reason) when it is absent."""
    p = Path(os.environ["PARLEY_DATA"])
    if not p.is_dir():
        pytest.skip(f"PARLEY_DATA folder {p} not found")
    return p
