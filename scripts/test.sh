#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included, after installing everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The ray extra's tests need Ray; it downloads while Chromium installs (neither waits for the other).
ray_log=$(mktemp)
.venv/bin/python -m pip install --quiet --no-compile --disable-pip-version-check -e ".[ray]" >"$ray_log" 2>&1 &
ray_install=$!
# The browser test drives Debian's Chromium; install it where we can (CI runs as root on Debian).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium/chromedriver missing and cannot be installed here; the browser test will be skipped" >&2
  fi
fi
if ! wait "$ray_install"; then
  cat "$ray_log" >&2
  echo "error: installing the ray extra failed" >&2
  exit 1
fi
export HF_HUB_OFFLINE=1
# Each test process keeps the bytecode it compiles (the ray extra, the test tools), so the next one reads it.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m ruff check src tests bench
.venv/bin/python -m ruff format --check src tests bench
# One worker per core (at most 4: each holds torch and its models in memory); a file's tests stay on one
# worker, so a module's trained fixture is built once.
workers=$(nproc 2>/dev/null || echo 2)
.venv/bin/python -m pytest -n "$((workers < 4 ? workers : 4))" --dist loadfile "$@"
