#!/usr/bin/env bash
# Quick start (`npm run example`): a real Pipe-mode run on a local folder, no server.
# 1. writes a small CSV dataset to .pipemode/example/data/ (8 shards, 16,000 rows)
# 2. `pipemode pipe` serves channel "train" as SageMaker FIFOs .pipemode/example/input/data/train_N,
#    shuffling the shards every epoch, for 3 epochs
# 3. examples/linear/train.py, written the SageMaker way, reads the epochs and fits a linear model
set -euo pipefail
cd "$(dirname "$0")/.."
base=.pipemode/example
rm -rf "$base"
python3 examples/linear/make_data.py "$base/data" 8 2000

node bin/pipemode.js pipe --dir "$base/input/data" --channel "train=$base/data/" --shuffle-seed 42 --epochs 3 &
pipemode=$!
trap 'kill $pipemode 2>/dev/null || true' EXIT

SM_CHANNEL_TRAIN=$base/input/data/train SM_HPS='{"epochs": 3}' SM_MODEL_DIR=$base/model python3 examples/linear/train.py
wait $pipemode
trap - EXIT
echo "model: $(cat "$base/model/model.json")  (true values: w1=3, w2=-2, b=0.5)"
