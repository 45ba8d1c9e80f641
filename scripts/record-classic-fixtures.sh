#!/usr/bin/env bash
# Regenerates fixtures/classic/*.txt from Gymnasium itself (pinned), in a local venv.
# The fixtures are committed: the Rust tests need no Python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${POLYAK_FIXTURE_VENV:-.venv-fixtures}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "gymnasium==1.4.0" "numpy>=2,<3"
"$VENV/bin/python" scripts/record_classic_fixtures.py fixtures/classic
