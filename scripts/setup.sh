#!/usr/bin/env bash
# Creates .venv and installs sentscore with its test tools. Safe to run again (it only adds what is missing).
# torch is installed first and pinned, so that pip never pulls a multi-GB build it was not asked for.
# To use a GPU, install the CUDA build of torch into .venv before running this (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${SENTSCORE_TORCH_VERSION:-2.13.0}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# --no-compile: pip compiles every module it installs, on one core, for about half its time. write_bytecode.py
# then compiles only what sentscore's commands import, even where PYTHONDONTWRITEBYTECODE is set (docs/decisions.md).
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --no-compile "torch==${TORCH_VERSION}"
fi
.venv/bin/python -m pip install --quiet --no-compile --disable-pip-version-check -e ".[dev]"
.venv/bin/python scripts/write_bytecode.py
echo "sentscore is installed in .venv (activate with: source .venv/bin/activate)"
