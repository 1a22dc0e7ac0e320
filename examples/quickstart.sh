#!/usr/bin/env bash
# Quick start (`npm run example`): SageMaker's three modes on a local folder, no server.
# 1. Pipe: writes a small CSV dataset to .pipemode/example/data/ (8 shards, 16,000 rows);
#    `pipemode train examples/linear/job.yaml` runs the CreateTrainingJob request: it serves channel
#    "train" as the FIFOs train_0, train_1, train_2 (reshuffled every epoch) to examples/linear/train.py,
#    a script written the SageMaker way (SM_CHANNEL_TRAIN, SM_HPS, SM_MODEL_DIR), then packs its
#    model (model.json and code/inference.py) into .pipemode/example/output/linear-quickstart/output/model.tar.gz
# 2. Real-time: `pipemode serve` runs that model.tar.gz as an endpoint (pipemode's Python model server
#    standing in for a framework image) behind the SageMaker Runtime API, invoked with the AWS CLI
#    (or boto3, else curl)
# 3. Batch: `pipemode transform examples/linear/transform.yaml` sends held-out rows through the same
#    model into <file>.out: each prediction joined to its input row (DataProcessing JoinSource Input)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .pipemode/example .pipemode/jobs/linear-quickstart .pipemode/jobs/linear-quickstart-batch .pipemode/endpoints/linear-quickstart
python3 examples/linear/make_data.py .pipemode/example/data 8 2000
python3 examples/linear/make_data.py .pipemode/example/holdout 2 500 --holdout
MODEL=.pipemode/example/output/linear-quickstart/output/model.tar.gz

echo "== 1. Pipe mode: training"
node bin/pipemode.js train examples/linear/job.yaml
echo
echo "model (true values: w1=3, w2=-2, b=0.5):"
tar -xzOf "$MODEL" model.json
echo
node bin/pipemode.js describe linear-quickstart | grep -E '"(TrainingJobStatus|SecondaryStatus|S3ModelArtifacts|TrainingTimeInSeconds)"'

echo
echo "== 2. Real-time: pipemode serve"
LOG=.pipemode/example/serve.log
node bin/pipemode.js -q serve --model-data "$MODEL" --image pipemode-python --name linear-quickstart --port 0 \
  --work-dir .pipemode/endpoints/linear-quickstart 2>"$LOG" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
URL=""
for _ in $(seq 1 300); do
  URL=$(sed -n 's/.*InService at \(http[^ ]*\).*/\1/p' "$LOG")
  [[ -n $URL ]] && break
  kill -0 $SERVE 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.1
done
[[ -n $URL ]] || { cat "$LOG"; echo "the endpoint did not come up" >&2; exit 1; }
echo "endpoint linear-quickstart InService at $URL"
BODY='0.5,0.25'
# no --api-keys: the endpoint checks no signatures, but AWS clients still sign, so give them a dummy key
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local} AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
if command -v aws >/dev/null; then
  echo "\$ aws sagemaker-runtime invoke-endpoint --endpoint-name linear-quickstart --content-type text/csv --body $BODY ..."
  RAW=() # AWS CLI v2 reads --body as base64 unless told otherwise; v1 takes it as it is
  [[ $(aws --version 2>&1) == aws-cli/2* ]] && RAW=(--cli-binary-format raw-in-base64-out)
  aws sagemaker-runtime invoke-endpoint --endpoint-url "$URL" --endpoint-name linear-quickstart \
    --content-type text/csv --accept text/csv "${RAW[@]}" --body "$BODY" .pipemode/example/answer.csv >/dev/null
  echo "prediction for x1=0.5, x2=0.25 (true 1.5): $(cat .pipemode/example/answer.csv)"
elif python3 -c 'import boto3' 2>/dev/null; then
  echo "\$ boto3 sagemaker-runtime invoke_endpoint(EndpointName='linear-quickstart', ContentType='text/csv', Body='$BODY')"
  python3 -c "import boto3,sys; r=boto3.client('sagemaker-runtime', endpoint_url=sys.argv[1]).invoke_endpoint(EndpointName='linear-quickstart', ContentType='text/csv', Accept='text/csv', Body=sys.argv[2]); print('prediction for x1=0.5, x2=0.25 (true 1.5):', r['Body'].read().decode().strip())" "$URL" "$BODY"
else
  echo "\$ curl -X POST $URL/endpoints/linear-quickstart/invocations -H 'Content-Type: text/csv' -d $BODY"
  echo "prediction for x1=0.5, x2=0.25 (true 1.5): $(curl -fsS -X POST "$URL/endpoints/linear-quickstart/invocations" -H 'Content-Type: text/csv' -H 'Accept: text/csv' --data-binary "$BODY")"
fi
kill $SERVE
wait $SERVE 2>/dev/null || true
trap - EXIT

echo
echo "== 3. Batch: pipemode transform"
node bin/pipemode.js transform examples/linear/transform.yaml
echo
echo "predictions (x1,x2,prediction; true y = 3*x1 - 2*x2 + 0.5), first rows of part-000.csv.out:"
head -n 5 .pipemode/example/predictions/part-000.csv.out
node bin/pipemode.js describe linear-quickstart-batch | grep -E '"(TransformJobStatus|FilesCompleted|FilesTotal)"'
