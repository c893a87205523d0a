#!/usr/bin/env bash
# Sets up the project's virtual environment in .venv/ (reused when present)
# and installs ttpack into it, building the C runtime with CMake.
#
#   bash scripts/setup.sh        # ttpack with the JAX frontend and the CLI
#   bash scripts/setup.sh torch  # ... plus the PyTorch frontend (torch 2.9.0 + torch_xla, ~7 GB)
#   bash scripts/setup.sh dev    # ... plus torchvision, transformers, pytest and flatc, for the tests
set -euo pipefail
cd "$(dirname "$0")/.."
extras=jax
case "${1:-}" in
  dev|torch) extras=$1 ;;
  "") ;;
  *) echo "usage: $0 [torch|dev]" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv" >&2
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "[setup] installing ttpack[$extras] (builds runtime_c/)" >&2
.venv/bin/python -m pip install --quiet -e ".[$extras]"
