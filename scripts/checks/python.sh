#!/usr/bin/env bash
# The Python package's checks, as CI runs them: ruff and mypy on python/ (and ruff on scripts/),
# the abi3 wheel built by maturin, installed with its test extras (Gymnasium's own MuJoCo envs, to
# compare with) into a fresh venv, and pytest against that installed wheel — never the source tree.
# Uses the CLI at target/release/polyak (built first if missing) for the tests that share run
# directories with it.
# Usage: scripts/checks/python.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=${POLYAK_PY_WORK:-$ROOT/target/python-check}
rm -rf "$WORK" && mkdir -p "$WORK"
PIP=(--quiet --disable-pip-version-check)
python3 -m venv "$WORK/build"
"$WORK/build/bin/pip" install "${PIP[@]}" "maturin==1.16.0" "ruff==0.17.6" "mypy==2.4.1" numpy "gymnasium==1.4.0"
"$WORK/build/bin/ruff" check python
"$WORK/build/bin/ruff" format --check python
# The project's other Python (bench, fixture and check scripts), under the package's settings.
"$WORK/build/bin/ruff" check --config python/pyproject.toml scripts
"$WORK/build/bin/ruff" format --check --config python/pyproject.toml scripts
(cd python && "$WORK/build/bin/mypy" polyak)
"$WORK/build/bin/maturin" build --release -m python/Cargo.toml -o "$WORK/wheels"
[ -x target/release/polyak ] || cargo build --release
WHEEL=$(ls "$WORK"/wheels/polyak-*.whl)
python3 -m venv "$WORK/test"
"$WORK/test/bin/pip" install "${PIP[@]}" "$WHEEL[test]"
cd "$WORK"
POLYAK_BIN=$ROOT/target/release/polyak "$WORK/test/bin/python" -m pytest -p no:cacheprovider -q "$ROOT/python/tests" "$@"
