#!/usr/bin/env bash
# Sets up the project's virtual environment in .venv/ (reused when present)
# and installs ttpack into it, building the C runtime with CMake.
#
#   bash scripts/setup.sh        # ttpack with the JAX frontend and the CLI
#   bash scripts/setup.sh dev    # ... plus pytest and flatc, for the tests
set -euo pipefail
cd "$(dirname "$0")/.."
extras=jax
[ "${1:-}" = dev ] && extras=dev
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv" >&2
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "[setup] installing ttpack[$extras] (builds runtime_c/)" >&2
.venv/bin/python -m pip install --quiet -e ".[$extras]"
