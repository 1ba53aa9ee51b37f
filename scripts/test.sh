#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included, after installing everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/python -m ruff check src tests bench
.venv/bin/python -m pytest "$@"
