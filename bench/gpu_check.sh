#!/usr/bin/env bash
# The GPU check on the GPU machine (bench/gpu_check.py): the carried wheels installed beside the image's
# packages, sentscore from this checkout, the results into $OUT (or bench/results/ without one).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"  # the dry run here: PYTHON=.venv/bin/python NO_WHEELS=1 DEVICE=cpu ... --tiny
if [ -z "${NO_WHEELS:-}" ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl
fi
export PYTHONPATH="/tmp/site:$PWD/src:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$PYTHON" -m bench.gpu_check run --device "${DEVICE:-cuda}" --out "${OUT:-bench/results}/gpu_check.json" "$@"
