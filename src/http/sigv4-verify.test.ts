import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { verifySigV4, formatAmzDate } from './sigv4-verify.js';
import type { IncomingRequestLike, SigV4Outcome } from './sigv4-verify.js';
import { writeAuthRejection, AWS_JSON_1_1 } from './aws-error-response.js';
import { awsChildEnv, hasAwsCli, hasBotocore, runChild, runPython } from '../../test/helpers/python-aws.js';
import { listenLocal, readBody } from '../../test/helpers/local-server.js';

const AKID = 'PMTESTKEY000000000001';
const SECRET = 'test-secret/with+odd=chars_0123456789abcd';
const CREDENTIALS = new Map([[AKID, SECRET], ['PMOTHERKEY0000000002', 'another-secret']]);
const NOW = new Date('2024-03-04T05:06:07Z');
const HOST = '127.0.0.1:8443';

const MISMATCH = 'The request signature we calculated does not match the signature you provided. '
  + 'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

interface ClientRequest {
  method?: string;
  path?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
}

function toHttpRequest(r: ClientRequest): HttpRequest {
  return new HttpRequest({
    method: r.method ?? 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 8443,
    path: r.path ?? '/',
    query: r.query ?? {},
    headers: { host: HOST, 'content-type': AWS_JSON_1_1, 'x-amz-target': 'SageMaker.ListTrainingJobs', ...r.headers },
    ...(r.body !== undefined ? { body: r.body } : {}),
  });
}

/** What a signer hands back (the @smithy/types request shape). */
interface SignedShape {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null>;
  readonly headers: Record<string, string>;
}

function asIncoming(signed: SignedShape): IncomingRequestLike {
  const qs = Object.entries(signed.query ?? {}).flatMap(([k, v]) =>
    (Array.isArray(v) ? v : [v ?? '']).map((x) => `${rfc3986(k)}=${rfc3986(x)}`)).join('&');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = v;
  return { method: signed.method, url: qs === '' ? signed.path : `${signed.path}?${qs}`, headers };
}

function signer(secret = SECRET, akid = AKID, region = 'us-east-1', service = 'sagemaker'): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: akid, secretAccessKey: secret }, region, service, sha256: Hash.bind(null, 'sha256'),
  });
}

async function signed(r: ClientRequest = {}, options: { secret?: string; akid?: string; at?: Date; region?: string } = {}): Promise<IncomingRequestLike> {
  const out = await signer(options.secret, options.akid, options.region).sign(toHttpRequest(r), { signingDate: options.at ?? NOW });
  return asIncoming(out);
}

function verify(req: IncomingRequestLike, body?: string, extra: { now?: Date; service?: string } = {}): Promise<SigV4Outcome> {
  return verifySigV4(req, { credentials: CREDENTIALS, body: body === undefined ? undefined : Buffer.from(body), now: extra.now ?? NOW, service: extra.service });
}

function assertRejected(outcome: SigV4Outcome, code: string, status: number, message?: string | RegExp): void {
  assert.equal(outcome.ok, false, JSON.stringify(outcome));
  if (outcome.ok) return;
  assert.equal(outcome.code, code);
  assert.equal(outcome.status, status);
  if (typeof message === 'string') assert.equal(outcome.message, message);
  else if (message) assert.match(outcome.message, message);
  assert.ok(!JSON.stringify(outcome).includes(SECRET), 'the secret never appears in an outcome');
}

test('a request signed by @smithy/signature-v4 verifies, with region and service from the scope', async () => {
  const body = '{"MaxResults":10}';
  const outcome = await verify(await signed({ body }, { region: 'eu-west-3' }), body);
  assert.deepEqual(outcome, {
    ok: true, accessKeyId: AKID, region: 'eu-west-3', service: 'sagemaker',
    signedHeaders: ['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-target'],
    unsignedPayload: false, via: 'header',
  });
});

test('the path and query are checked as received: encoded segments, repeated and odd-character keys', async () => {
  const req = await signed({
    method: 'GET', path: '/endpoints/my%20ep/invocations',
    query: { b: ['2', '1'], 'a key': 'x/y z~*', empty: '' },
  });
  assert.equal((await verify(req)).ok, true);
  const changed = { ...req, url: req.url?.replace('x%2Fy', 'x%2Fq') };
  assertRejected(await verify(changed), 'InvalidSignatureException', 403, MISMATCH);
});

test('a wrong secret, a changed body or a changed signed header is InvalidSignatureException with AWS wording', async () => {
  const body = '{"MaxResults":10}';
  assertRejected(await verify(await signed({ body }, { secret: 'wrong' }), body), 'InvalidSignatureException', 403, MISMATCH);
  // the SDK signs x-amz-content-sha256, so a changed body no longer matches its claimed hash
  assertRejected(await verify(await signed({ body }), '{"MaxResults":11}'), 'InvalidSignatureException', 403,
    "The provided 'x-amz-content-sha256' header does not match what was computed.");
  const req = await signed({ body });
  assertRejected(await verify({ ...req, headers: { ...req.headers, 'x-amz-target': 'SageMaker.DeleteEndpoint' } }, body),
    'InvalidSignatureException', 403, MISMATCH);
  // a header outside SignedHeaders may change freely
  assert.equal((await verify({ ...req, headers: { ...req.headers, 'user-agent': 'other' } }, body)).ok, true);
});

test('without x-amz-content-sha256 the body bytes given are hashed', async () => {
  const unsignedHash = new SignatureV4({
    credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: 'us-east-1', service: 'sagemaker',
    sha256: Hash.bind(null, 'sha256'), applyChecksum: false,
  });
  const req = asIncoming(await unsignedHash.sign(toHttpRequest({ body: 'payload' }), { signingDate: NOW }));
  assert.ok(!('x-amz-content-sha256' in req.headers));
  assert.equal((await verify(req, 'payload')).ok, true);
  assertRejected(await verify(req, 'payloaX'), 'InvalidSignatureException', 403, MISMATCH);
  assertRejected(await verify(req), 'InvalidSignatureException', 403, MISMATCH);
});

test('a signed UNSIGNED-PAYLOAD leaves the body out of the signature and says so', async () => {
  const req = await signed({ headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: 'a' });
  const outcome = await verify(req, 'anything else');
  assert.equal(outcome.ok, true);
  assert.equal(outcome.ok && outcome.unsignedPayload, true);
  assertRejected(await verify(await signed({ headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' } })),
    'IncompleteSignatureException', 400);
});

test('no Authorization is MissingAuthenticationTokenException; an unknown key is UnrecognizedClientException', async () => {
  assertRejected(await verify({ method: 'POST', url: '/', headers: { host: HOST } }), 'MissingAuthenticationTokenException', 403,
    'Missing Authentication Token');
  assertRejected(await verify(await signed({}, { akid: 'PMNOSUCHKEY000000000' })), 'UnrecognizedClientException', 403,
    'The security token included in the request is invalid.');
});

test('x-amz-date more than 15 minutes off our clock is rejected with AWS\'s "Signature expired" wording', async () => {
  const req = await signed();
  const later = new Date(NOW.getTime() + 16 * 60_000);
  assertRejected(await verify(req, undefined, { now: later }), 'InvalidSignatureException', 403,
    `Signature expired: 20240304T050607Z is now earlier than 20240304T050707Z (${formatAmzDate(later)} - 15 min.)`);
  const earlier = new Date(NOW.getTime() - 16 * 60_000);
  assertRejected(await verify(req, undefined, { now: earlier }), 'InvalidSignatureException', 403,
    'Signature not yet current: 20240304T050607Z is still later than 20240304T050507Z (20240304T045007Z + 15 min.)');
  assert.equal((await verify(req, undefined, { now: new Date(NOW.getTime() + 14 * 60_000) })).ok, true);
});

test('malformed Authorization headers are IncompleteSignatureException (400)', async () => {
  const base = { method: 'POST', url: '/', headers: { host: HOST, 'x-amz-date': formatAmzDate(NOW) } };
  const withAuth = (authorization: string): IncomingRequestLike => ({ ...base, headers: { ...base.headers, authorization } });
  assertRejected(await verify(withAuth('Bearer abc')), 'IncompleteSignatureException', 400, /only AWS4-HMAC-SHA256/);
  assertRejected(await verify(withAuth('AWS4-HMAC-SHA256 Credential=a/b')), 'IncompleteSignatureException', 400,
    /Authorization header requires 'SignedHeaders' parameter\. Authorization header requires 'Signature' parameter\./);
  assertRejected(await verify(withAuth(`AWS4-HMAC-SHA256 Credential=${AKID}/20240304/us-east-1/sagemaker, SignedHeaders=host, Signature=00`)),
    'IncompleteSignatureException', 400, /5 slash-delimited elements/);
  const req = await signed();
  const noDate = { ...req.headers };
  delete noDate['x-amz-date'];
  assertRejected(await verify({ ...req, headers: noDate }), 'IncompleteSignatureException', 400, /X-Amz-Date/);
});

test('a scope for another service is rejected when the server names its service', async () => {
  const req = asIncoming(await signer(SECRET, AKID, 'us-east-1', 's3').sign(toHttpRequest({}), { signingDate: NOW }));
  assert.equal((await verify(req)).ok, true);
  assertRejected(await verify(req, undefined, { service: 'sagemaker' }), 'InvalidSignatureException', 403,
    "Credential should be scoped to correct service: 'sagemaker'.");
});

test('presigned query-string requests verify; a changed parameter or a passed expiry is rejected', async () => {
  const pre = asIncoming(await signer().presign(
    toHttpRequest({ method: 'GET', path: '/endpoints/ep/invocations', query: { q: 'v 1' }, headers: { 'x-amz-target': 'x' } }),
    { signingDate: NOW, expiresIn: 300 }));
  assert.match(pre.url ?? '', /X-Amz-Signature=[0-9a-f]{64}/);
  assert.ok(!('authorization' in pre.headers));
  const outcome = await verify(pre);
  assert.equal(outcome.ok && outcome.via, 'query');
  assertRejected(await verify({ ...pre, url: pre.url?.replace('q=v%201', 'q=v%202') }), 'InvalidSignatureException', 403, MISMATCH);
  assertRejected(await verify(pre, undefined, { now: new Date(NOW.getTime() + 301_000) }), 'InvalidSignatureException', 403,
    /^Signature expired: 20240304T050607Z \+ 300 s is now earlier than/);
});

/** The control-plane stand-in the real clients talk to: ListTrainingJobs when the signature holds. */
async function listTrainingJobsServer() {
  const seen: SigV4Outcome[] = [];
  const server = await listenLocal((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const outcome = await verifySigV4(req, { credentials: CREDENTIALS, body, service: 'sagemaker' });
      seen.push(outcome);
      if (!outcome.ok) {
        writeAuthRejection(res, outcome, 'awsJson1_1');
        return;
      }
      const text = req.headers['x-amz-target'] === 'SageMaker.ListTrainingJobs' ? '{"TrainingJobSummaries": []}' : '{}';
      res.writeHead(200, { 'Content-Type': AWS_JSON_1_1, 'x-amzn-RequestId': 'req-1' });
      res.end(text);
    })();
  });
  return { server, seen };
}

test('requests signed by @smithy/signature-v4 verify after a trip through node:http (rawHeaders, real socket)', async () => {
  const { server, seen } = await listTrainingJobsServer();
  try {
    const url = new URL(server.url);
    const body = '{"NameContains":"a b","MaxResults":5}';
    const request = await signer().sign(new HttpRequest({
      method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/',
      headers: { host: url.host, 'content-type': AWS_JSON_1_1, 'x-amz-target': 'SageMaker.ListTrainingJobs', 'content-length': String(body.length) },
      body,
    }));
    const text = await new Promise<string>((resolve, reject) => {
      const r = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers: request.headers }, (res) => {
        let out = '';
        res.setEncoding('utf8').on('data', (c: string) => (out += c)).on('end', () => resolve(`${res.statusCode} ${out}`));
      });
      r.on('error', reject);
      r.end(body);
    });
    assert.equal(text, '200 {"TrainingJobSummaries": []}');
    assert.equal(seen[0]?.ok, true);
  } finally {
    await server.close();
  }
});

test('botocore list_training_jobs: valid keys pass; wrong secret, unknown key and unsigned get the AWS error codes', { skip: hasBotocore() ? false : 'python3 lacks botocore' }, async () => {
  const { server, seen } = await listTrainingJobsServer();
  try {
    const script = `
import sys, json, botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
url = sys.argv[1]
def call(akid, secret, unsigned=False):
    cfg = Config(signature_version=UNSIGNED, retries={'max_attempts': 0}) if unsigned else Config(retries={'max_attempts': 0})
    c = botocore.session.get_session().create_client('sagemaker', endpoint_url=url, region_name='us-east-1',
        aws_access_key_id=akid, aws_secret_access_key=secret, config=cfg)
    try:
        r = c.list_training_jobs(NameContains='job name/with+chars')
        return {"ok": r['TrainingJobSummaries'], "requestId": r['ResponseMetadata']['RequestId']}
    except ClientError as e:
        return {"code": e.response['Error']['Code'], "message": e.response['Error']['Message'],
                "status": e.response['ResponseMetadata']['HTTPStatusCode'], "requestId": e.response['ResponseMetadata'].get('RequestId')}
print(json.dumps([call(${JSON.stringify(AKID)}, ${JSON.stringify(SECRET)}), call(${JSON.stringify(AKID)}, 'wrong-secret'),
                  call('PMNOSUCHKEY000000000', 'x'), call('x', 'x', unsigned=True)]))
`;
    const res = await runPython(`import sys; sys.argv = ['x', ${JSON.stringify(server.url)}]\n${script}`);
    assert.equal(res.code, 0, res.stderr);
    const [valid, wrong, unknown, unsigned] = JSON.parse(res.stdout) as Record<string, unknown>[];
    assert.deepEqual(valid, { ok: [], requestId: 'req-1' });
    assert.equal(wrong?.code, 'InvalidSignatureException');
    assert.equal(wrong?.message, MISMATCH);
    assert.equal(wrong?.status, 403);
    assert.match(String(wrong?.requestId), /^[0-9a-f-]{36}$/);
    assert.equal(unknown?.code, 'UnrecognizedClientException');
    assert.equal(unknown?.message, 'The security token included in the request is invalid.');
    assert.equal(unsigned?.code, 'MissingAuthenticationTokenException');
    assert.equal(unsigned?.message, 'Missing Authentication Token');
    assert.equal(seen[0]?.ok && seen[0].region, 'us-east-1');
  } finally {
    await server.close();
  }
});

test('aws sagemaker list-training-jobs (AWS CLI): valid, wrong secret, unknown key and --no-sign-request', { skip: hasAwsCli() ? false : 'no aws CLI on PATH' }, async () => {
  const { server } = await listTrainingJobsServer();
  try {
    const cli = (akid: string, secret: string, ...extra: string[]) => runChild('aws',
      ['sagemaker', 'list-training-jobs', '--endpoint-url', server.url, '--region', 'us-east-1', '--output', 'json', ...extra],
      { env: awsChildEnv({ AWS_ACCESS_KEY_ID: akid, AWS_SECRET_ACCESS_KEY: secret, AWS_MAX_ATTEMPTS: '1' }) });
    const [valid, wrong, unknown, unsigned] = await Promise.all([
      cli(AKID, SECRET), cli(AKID, 'wrong-secret'), cli('PMNOSUCHKEY000000000', 'x'), cli(AKID, SECRET, '--no-sign-request'),
    ]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.deepEqual(JSON.parse(valid.stdout), { TrainingJobSummaries: [] });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /An error occurred \(InvalidSignatureException\) when calling the ListTrainingJobs operation: The request signature we calculated does not match/);
    assert.match(unknown.stderr, /\(UnrecognizedClientException\).*The security token included in the request is invalid\./);
    assert.match(unsigned.stderr, /\(MissingAuthenticationTokenException\).*Missing Authentication Token/);
    for (const r of [wrong, unknown, unsigned]) assert.ok(!r.stderr.includes(SECRET));
  } finally {
    await server.close();
  }
});
