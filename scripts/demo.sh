#!/usr/bin/env bash
# The main job on the embedded defaults: install, train the bundled model on the example data, score.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1  # everything needed is on disk
cd examples
../.venv/bin/sentscore train --config config.json --overwrite
../.venv/bin/sentscore predict models --probs \
  "The pasta was delicious and the staff could not have been kinder." \
  "It works, but the battery barely lasts a day." \
  "The worst customer service I have ever had."
