"""Points polyak's Rust core at the MuJoCo library and models of the packages it depends on.

The ``mujoco-core`` wheel ships ``mujoco/libmujoco.so.<version>`` and the ``gymnasium`` wheel
Gymnasium's MJCF models; both are located without importing them. ``POLYAK_MUJOCO_DIR`` (a
directory laid out as the repository's ``scripts/setup/mujoco.sh`` leaves it) takes precedence.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from polyak import _polyak

# A vector whose norm differs in the last bit between a dot product that rounds each product
# (0.4684303124795298) and one that fuses them (0.4684303124795299).
_PROBE = (0.36457239618607573, 0.294132496655526)
_FUSED = 0.4684303124795299


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def configure() -> None:
    """Tells the core where MuJoCo is (loading happens on the first MuJoCo env), and how this
    process's NumPy computes ``np.linalg.norm`` (its OpenBLAS kernel depends on the CPU), which
    Gymnasium's Swimmer, Ant, Humanoid, Reacher and Pusher use."""
    _polyak.set_numpy_fused_dot(bool(np.linalg.norm(np.array(_PROBE)) == _FUSED))
    if os.environ.get("POLYAK_MUJOCO_DIR"):
        return
    mujoco, gymnasium = _package_dir("mujoco"), _package_dir("gymnasium")
    if mujoco is None or gymnasium is None:
        return
    libraries = sorted(mujoco.glob("libmujoco.so.*"))
    if libraries:
        _polyak.use_mujoco(str(libraries[-1]), str(gymnasium / "envs" / "mujoco" / "assets"))
