import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import {
  AWS_JSON_1_1, RUNTIME_ERROR_STATUS, modelErrorMessage, writeAuthRejection, writeAwsJsonError, writeModelError, writeRuntimeError,
} from './aws-error-response.js';
import { hasBotocore, runPython } from '../../test/helpers/python-aws.js';
import { listenLocal, readBody } from '../../test/helpers/local-server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOG_ARN = 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/ep';
const CONTAINER_BODY = '{"error": "bad input"}';
const MODEL_MESSAGE = modelErrorMessage(400, CONTAINER_BODY, 'the endpoint logs');

/** Answers each Runtime endpoint name and control-plane target with one kind of error. */
function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  const runtime = /^\/endpoints\/([^/]+)\/invocations$/.exec(req.url ?? '')?.[1];
  switch (runtime ?? req.headers['x-amz-target']) {
    case 'model-error':
      writeModelError(res, { message: MODEL_MESSAGE, originalStatusCode: 400, originalMessage: CONTAINER_BODY, logStreamArn: LOG_ARN });
      return;
    case 'missing':
      writeRuntimeError(res, 'ValidationError', 'Endpoint missing of account 123456789012 not found.');
      return;
    case 'loading':
      writeRuntimeError(res, 'ModelNotReadyException', 'Model model.tar.gz is still loading.');
      return;
    case 'broken':
      writeRuntimeError(res, 'InternalFailure', 'An internal failure occurred.', { requestId: 'fixed-id' });
      return;
    case 'unauthorized':
      writeAuthRejection(res, { ok: false, status: 403, code: 'InvalidSignatureException', message: 'bad sig' }, 'restJson1');
      return;
    case 'SageMaker.DescribeEndpoint':
      writeAwsJsonError(res, 400, 'ValidationException', 'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/gone".');
      return;
    case 'SageMaker.CreateTrainingJob':
      writeAwsJsonError(res, 400, 'ResourceInUse', 'Training job job-1 already exists');
      return;
    case 'SageMaker.ListTrainingJobs':
      writeAuthRejection(res, { ok: false, status: 403, code: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }, 'awsJson1_1');
      return;
    default:
      writeAwsJsonError(res, 404, 'UnknownOperationException', 'no such route');
  }
}

async function withServer<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const server = await listenLocal((req, res) => void readBody(req).then(() => route(req, res)));
  try {
    return await fn(server.url);
  } finally {
    await server.close();
  }
}

test('awsJson1_1 errors: x-amz-json-1.1, __type and message, x-amzn-ErrorType, a UUID request id', async () => {
  await withServer(async (url) => {
    const res = await fetch(url, { method: 'POST', headers: { 'x-amz-target': 'SageMaker.DescribeEndpoint' }, body: '{}' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), AWS_JSON_1_1);
    assert.equal(res.headers.get('x-amzn-errortype'), 'ValidationException');
    assert.match(res.headers.get('x-amzn-requestid') ?? '', UUID);
    assert.deepEqual(await res.json(), {
      __type: 'ValidationException', message: 'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/gone".',
    });
  });
});

test('restJson1 errors carry the model\'s status and the shape\'s members', async () => {
  await withServer(async (url) => {
    const res = await fetch(`${url}/endpoints/model-error/invocations`, { method: 'POST', body: 'x' });
    assert.equal(res.status, RUNTIME_ERROR_STATUS.ModelError);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('x-amzn-errortype'), 'ModelError');
    assert.deepEqual(await res.json(), { Message: MODEL_MESSAGE, OriginalStatusCode: 400, OriginalMessage: CONTAINER_BODY, LogStreamArn: LOG_ARN });
    const loading = await fetch(`${url}/endpoints/loading/invocations`, { method: 'POST', body: 'x' });
    assert.equal(loading.status, 429);
    assert.deepEqual(await loading.json(), { Message: 'Model model.tar.gz is still loading.' });
  });
  assert.equal(MODEL_MESSAGE, 'Received client error (400) from primary with message "{"error": "bad input"}". See the endpoint logs for more information.');
  assert.match(modelErrorMessage(503, 'x'), /^Received server error \(503\) from primary/);
});

test('botocore raises the modelled exceptions with code, message, members and request id', { skip: hasBotocore() ? false : 'python3 lacks botocore' }, async () => {
  await withServer(async (url) => {
    const script = `
import sys, json, botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
s = botocore.session.get_session()
kw = dict(endpoint_url=URL, region_name='us-east-1', aws_access_key_id='AKID', aws_secret_access_key='secret',
          config=Config(retries={'max_attempts': 0}))
rt = s.create_client('sagemaker-runtime', **kw)
sm = s.create_client('sagemaker', **kw)
out = {}
def record(name, fn, modelled=None):
    try:
        fn()
        out[name] = 'no error'
    except ClientError as e:
        out[name] = {"class": type(e).__name__, "code": e.response['Error']['Code'], "message": e.response['Error']['Message'],
                     "status": e.response['ResponseMetadata']['HTTPStatusCode'], "requestId": e.response['ResponseMetadata'].get('RequestId'),
                     "members": {k: v for k, v in e.response.items() if k not in ('Error', 'ResponseMetadata')},
                     "modelled": modelled is not None and isinstance(e, getattr((rt if name.startswith('rt') else sm).exceptions, modelled))}
record('rt-model-error', lambda: rt.invoke_endpoint(EndpointName='model-error', Body=b'{}'), 'ModelError')
record('rt-missing', lambda: rt.invoke_endpoint(EndpointName='missing', Body=b'{}'), 'ValidationError')
record('rt-loading', lambda: rt.invoke_endpoint(EndpointName='loading', Body=b'{}'), 'ModelNotReadyException')
record('rt-broken', lambda: rt.invoke_endpoint(EndpointName='broken', Body=b'{}'), 'InternalFailure')
record('rt-unauthorized', lambda: rt.invoke_endpoint(EndpointName='unauthorized', Body=b'{}'))
record('sm-describe', lambda: sm.describe_endpoint(EndpointName='gone'))
record('sm-create', lambda: sm.create_training_job(TrainingJobName='job-1', RoleArn='arn:aws:iam::123456789012:role/r',
       OutputDataConfig={'S3OutputPath': 's3://b/o'}, AlgorithmSpecification={'TrainingInputMode': 'File', 'TrainingImage': 'i'}), 'ResourceInUse')
record('sm-list', lambda: sm.list_training_jobs())
print(json.dumps(out))
`.replace('URL', JSON.stringify(url));
    const res = await runPython(script);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as Record<string, { class: string; code: string; message: string; status: number; requestId: string; members: Record<string, unknown>; modelled: boolean }>;

    const modelError = out['rt-model-error'];
    assert.equal(modelError?.class, 'ModelError');
    assert.equal(modelError?.modelled, true);
    assert.equal(modelError?.code, 'ModelError');
    assert.equal(modelError?.message, MODEL_MESSAGE);
    assert.equal(modelError?.status, 424);
    assert.deepEqual(modelError?.members, { Message: MODEL_MESSAGE, OriginalStatusCode: 400, OriginalMessage: CONTAINER_BODY, LogStreamArn: LOG_ARN });
    assert.match(modelError?.requestId ?? '', UUID);

    assert.deepEqual([out['rt-missing']?.code, out['rt-missing']?.status, out['rt-missing']?.modelled, out['rt-missing']?.message],
      ['ValidationError', 400, true, 'Endpoint missing of account 123456789012 not found.']);
    assert.deepEqual([out['rt-loading']?.code, out['rt-loading']?.status, out['rt-loading']?.modelled], ['ModelNotReadyException', 429, true]);
    assert.deepEqual([out['rt-broken']?.code, out['rt-broken']?.status, out['rt-broken']?.modelled, out['rt-broken']?.requestId],
      ['InternalFailure', 500, true, 'fixed-id']);
    assert.deepEqual([out['rt-unauthorized']?.code, out['rt-unauthorized']?.message, out['rt-unauthorized']?.status],
      ['InvalidSignatureException', 'bad sig', 403]);
    assert.deepEqual([out['sm-describe']?.code, out['sm-describe']?.status, out['sm-describe']?.message],
      ['ValidationException', 400, 'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/gone".']);
    assert.deepEqual([out['sm-create']?.code, out['sm-create']?.modelled, out['sm-create']?.message],
      ['ResourceInUse', true, 'Training job job-1 already exists']);
    assert.deepEqual([out['sm-list']?.code, out['sm-list']?.status], ['UnrecognizedClientException', 403]);
  });
});
