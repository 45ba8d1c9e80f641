# Sourced by the scripts that run Stable-Baselines3 beside polyak (from the repository root):
# sets PY to a Python with SB3 2.9.2, Gymnasium 1.4.0 and MuJoCo 4.0.0 (SB3_PYTHON, an absolute
# path, or a venv in .venv-sb3 made on first use), sets BIN (polyak-bin.sh), and makes WORK, a
# scratch directory to run in (Gymnasium's MuJoCo envs write MUJOCO_LOG.TXT into the working
# directory). `install_polyak_wheel` puts this checkout's wheel into PY's venv.
PY=${SB3_PYTHON:-$PWD/.venv-sb3/bin/python}
if [ ! -x "$PY" ]; then
  python3 -m venv .venv-sb3
  .venv-sb3/bin/pip install -q "stable-baselines3==2.9.2" "gymnasium[mujoco]==1.4.0" "mujoco-core==4.0.0"
  PY=$PWD/.venv-sb3/bin/python
fi
source scripts/bench/polyak-bin.sh
WORK=$(mktemp -d)

# Builds this checkout's wheel with maturin and installs it into PY's venv, leaving the venv's
# other packages as they are.
install_polyak_wheel() {
  "$(dirname "$PY")/pip" install -q maturin==1.16.0
  "$(dirname "$PY")/maturin" build --release -m python/Cargo.toml -o target/sb3-wheels --quiet
  "$(dirname "$PY")/pip" install -q --force-reinstall --no-deps target/sb3-wheels/polyak-*.whl
}
