#!/usr/bin/env bash
# The main job on the embedded defaults: install, train the bundled model on the example data, score.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1  # everything needed is on disk
cd examples
../.venv/bin/sentscore train --config config.json --overwrite
../.venv/bin/sentscore predict models --probs \
  "Delicious food and the friendliest staff in town." \
  "An average hotel: clean enough, nothing special." \
  "It works, but the battery barely lasts a day." \
  "Cold food, rude staff and a bill that was wrong twice."
