#!/usr/bin/env bash
# Creates .venv-peers for benchmarks/peers.py: the peer engines (ONNX Runtime,
# OpenVINO, IREE, ExecuTorch) on top of the project's .venv (made by
# scripts/setup.sh dev), so the peers' own pins never change the environment
# the tests run in.
#
#   bash scripts/setup.sh dev && bash benchmarks/setup_peers.sh
#   .venv-peers/bin/python benchmarks/peers.py
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "[peers] run 'bash scripts/setup.sh dev' first (it makes .venv)" >&2
  exit 1
fi
if [ ! -x .venv-peers/bin/python ]; then
  echo "[peers] creating .venv-peers" >&2
  .venv/bin/python -m venv .venv-peers
fi
base=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
own=$(.venv-peers/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# addsitedir (not a plain path line) so the project's .pth files run too:
# that is how the editable ttpack install is found. It appends, so packages
# installed in .venv-peers come first.
echo "import site; site.addsitedir('$base')" > "$own/zz_project_venv.pth"
.venv-peers/bin/python -m pip install --quiet --upgrade pip
echo "[peers] installing benchmarks/requirements-peers.txt" >&2
.venv-peers/bin/python -m pip install --quiet -r benchmarks/requirements-peers.txt
