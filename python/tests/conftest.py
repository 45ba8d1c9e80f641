"""Each test runs in its own empty directory: polyak writes run directories under ./runs, and
Gymnasium's MuJoCo envs write MUJOCO_LOG.TXT into the working directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def polyak_cli() -> str:
    """The `polyak` binary of the same build (CI builds it; POLYAK_BIN points elsewhere)."""
    path = os.environ.get("POLYAK_BIN") or str(REPO / "target" / "release" / "polyak")
    if not Path(path).is_file() and shutil.which(path) is None:
        pytest.fail(
            f"the polyak CLI is needed for this test: build it (cargo build --release) "
            f"or set POLYAK_BIN ({path})"
        )
    return path
