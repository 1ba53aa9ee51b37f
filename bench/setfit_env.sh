#!/usr/bin/env bash
# The bench-only environment for SetFit 1.2, the few-label peer (bench/setfit_run.py): its own venv, so that
# sentscore never depends on it. torch pinned first, so that pip takes the CPU build on this machine's disk.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-setfit/bin/python ] || python3 -m venv .venv-setfit
.venv-setfit/bin/pip install --quiet torch==2.13.0
.venv-setfit/bin/pip install --quiet setfit==1.2.0
