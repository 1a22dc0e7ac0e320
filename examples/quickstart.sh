#!/usr/bin/env bash
# Quick start (`npm run example`): a SageMaker training job in Pipe mode on a local folder, no server.
# 1. writes a small CSV dataset to .pipemode/example/data/ (8 shards, 16,000 rows)
# 2. `pipemode train examples/linear/job.yaml` runs the CreateTrainingJob request: it serves channel
#    "train" as the FIFOs train_0, train_1, train_2 (reshuffled every epoch) to examples/linear/train.py,
#    a script written the SageMaker way (SM_CHANNEL_TRAIN, SM_HPS, SM_MODEL_DIR), then packs its
#    model into .pipemode/example/output/linear-quickstart/output/model.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .pipemode/example .pipemode/jobs/linear-quickstart
python3 examples/linear/make_data.py .pipemode/example/data 8 2000

node bin/pipemode.js train examples/linear/job.yaml

echo
echo "model (true values: w1=3, w2=-2, b=0.5):"
tar -xzOf .pipemode/example/output/linear-quickstart/output/model.tar.gz model.json
echo
node bin/pipemode.js describe linear-quickstart | grep -E '"(TrainingJobStatus|SecondaryStatus|S3ModelArtifacts|TrainingTimeInSeconds)"'
