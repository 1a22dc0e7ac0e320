import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import {
  encodeEventMessage, internalStreamFailureEvent, modelStreamErrorEvent, payloadPartEvent, unmodeledErrorEvent,
  MAX_EVENT_PAYLOAD_BYTES,
} from './event-stream.js';
import { InternalError } from '../core/errors.js';
import { hasBotocore, runPython } from '../../test/helpers/python-aws.js';
import { listenLocal, readBody } from '../../test/helpers/local-server.js';

const noBotocore = hasBotocore() ? false : 'python3 on PATH lacks botocore';

/** Test-only decoder (string, bool and int32 headers are enough here); checks both CRCs. */
function decodeAll(buf: Buffer): { headers: Record<string, unknown>; payload: Buffer }[] {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const total = buf.readUInt32BE(off);
    const headersLen = buf.readUInt32BE(off + 4);
    assert.equal(buf.readUInt32BE(off + 8), crc32(buf.subarray(off, off + 8)), 'prelude CRC');
    assert.equal(buf.readUInt32BE(off + total - 4), crc32(buf.subarray(off, off + total - 4)), 'message CRC');
    const headers: Record<string, unknown> = {};
    let h = off + 12;
    while (h < off + 12 + headersLen) {
      const nameLen = buf.readUInt8(h);
      const name = buf.toString('utf8', h + 1, h + 1 + nameLen);
      const type = buf.readUInt8(h + 1 + nameLen);
      h += 2 + nameLen;
      if (type === 7) {
        const len = buf.readUInt16BE(h);
        headers[name] = buf.toString('utf8', h + 2, h + 2 + len);
        h += 2 + len;
      } else if (type === 0 || type === 1) {
        headers[name] = type === 0;
      } else if (type === 4) {
        headers[name] = buf.readInt32BE(h);
        h += 4;
      } else {
        assert.fail(`test decoder: header type ${type}`);
      }
    }
    out.push({ headers, payload: buf.subarray(off + 12 + headersLen, off + total - 4) });
    off += total;
  }
  return out;
}

test('a 2-byte PayloadPart is the 107-byte frame the SDKs accepted (prelude 0000006b 00000059 99777065)', () => {
  const frame = payloadPartEvent(Buffer.from('Hi'));
  assert.equal(frame.length, 107);
  assert.equal(frame.subarray(0, 12).toString('hex'), '0000006b0000005999777065');
  const [msg] = decodeAll(frame);
  assert.deepEqual(msg?.headers, {
    ':event-type': 'PayloadPart', ':content-type': 'application/octet-stream', ':message-type': 'event',
  });
  assert.equal(msg?.payload.toString(), 'Hi');
});

test('exception events carry the modelled shape name and a JSON body with its members', () => {
  const [stream, internal] = decodeAll(Buffer.concat([
    modelStreamErrorEvent('model timed out', 'ModelInvocationTimeExceeded'),
    internalStreamFailureEvent('oops'),
  ]));
  assert.deepEqual(stream?.headers, {
    ':exception-type': 'ModelStreamError', ':content-type': 'application/json', ':message-type': 'exception',
  });
  assert.deepEqual(JSON.parse(stream?.payload.toString() ?? ''), { Message: 'model timed out', ErrorCode: 'ModelInvocationTimeExceeded' });
  assert.equal(internal?.headers[':exception-type'], 'InternalStreamFailure');
  assert.deepEqual(JSON.parse(internal?.payload.toString() ?? ''), { Message: 'oops' });
});

test('framing limits and header value ranges are enforced as InternalError', () => {
  assert.throws(() => payloadPartEvent(new Uint8Array(MAX_EVENT_PAYLOAD_BYTES + 1)), InternalError);
  assert.throws(() => encodeEventMessage({ x: 'a'.repeat(70_000) }), InternalError);
  assert.throws(() => encodeEventMessage({ ['n'.repeat(256)]: 'v' }), InternalError);
  assert.throws(() => encodeEventMessage({ b: { type: 'byte', value: 128 } }), InternalError);
  assert.throws(() => encodeEventMessage({ u: { type: 'uuid', value: 'not-a-uuid' } }), InternalError);
});

// botocore's EventStreamBuffer is an independent decoder: it checks both CRCs and parses every
// header type. The script prints one JSON line per message.
const DECODE_SCRIPT = `
import sys, json, hashlib
from botocore.eventstream import EventStreamBuffer
buf = EventStreamBuffer()
buf.add_data(sys.stdin.buffer.read())
for m in buf:
    hs = {}
    for k, v in m.headers.items():
        hs[k] = v.hex() if isinstance(v, bytes) else v
    print(json.dumps({"headers": hs, "len": len(m.payload), "sha256": hashlib.sha256(m.payload).hexdigest()}))
`;

test('botocore.eventstream decodes every encoded message to the same headers and payload bytes', { skip: noBotocore }, async () => {
  const big = crypto.randomBytes(1024 * 1024 + 7);
  const uuid = crypto.randomUUID();
  const when = new Date('2024-05-06T07:08:09.123Z');
  const cases: { frame: Buffer; headers: Record<string, unknown>; payload: Buffer }[] = [
    { frame: payloadPartEvent(Buffer.from('Hi')), payload: Buffer.from('Hi'),
      headers: { ':event-type': 'PayloadPart', ':content-type': 'application/octet-stream', ':message-type': 'event' } },
    { frame: payloadPartEvent(new Uint8Array(0)), payload: Buffer.alloc(0),
      headers: { ':event-type': 'PayloadPart', ':content-type': 'application/octet-stream', ':message-type': 'event' } },
    { frame: payloadPartEvent(big), payload: big,
      headers: { ':event-type': 'PayloadPart', ':content-type': 'application/octet-stream', ':message-type': 'event' } },
    { frame: modelStreamErrorEvent('broken ✂', 'StreamBroken'), payload: Buffer.from(JSON.stringify({ Message: 'broken ✂', ErrorCode: 'StreamBroken' })),
      headers: { ':exception-type': 'ModelStreamError', ':content-type': 'application/json', ':message-type': 'exception' } },
    { frame: internalStreamFailureEvent('x'), payload: Buffer.from('{"Message":"x"}'),
      headers: { ':exception-type': 'InternalStreamFailure', ':content-type': 'application/json', ':message-type': 'exception' } },
    { frame: unmodeledErrorEvent('ThrottlingException', 'slow down'), payload: Buffer.alloc(0),
      headers: { ':message-type': 'error', ':error-code': 'ThrottlingException', ':error-message': 'slow down' } },
    {
      frame: encodeEventMessage({
        t: { type: 'boolean', value: true }, f: { type: 'boolean', value: false },
        i8: { type: 'byte', value: -128 }, i16: { type: 'short', value: -32768 }, i32: { type: 'integer', value: 2147483647 },
        i64: { type: 'long', value: -(2n ** 63n) }, bin: { type: 'binary', value: Buffer.from([0, 1, 254, 255]) },
        s: { type: 'string', value: 'ünïcode' }, ts: { type: 'timestamp', value: when }, id: { type: 'uuid', value: uuid },
      }, Buffer.from([9, 8, 7])),
      payload: Buffer.from([9, 8, 7]),
      headers: {
        t: true, f: false, i8: -128, i16: -32768, i32: 2147483647, i64: -(2 ** 63), bin: '0001feff',
        s: 'ünïcode', ts: when.getTime(), id: uuid.replace(/-/g, ''),
      },
    },
  ];
  const res = await runPython(DECODE_SCRIPT, { input: Buffer.concat(cases.map((c) => c.frame)) });
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { headers: Record<string, unknown>; len: number; sha256: string });
  assert.equal(lines.length, cases.length);
  cases.forEach((c, i) => {
    const got = lines[i];
    assert.deepEqual(got?.headers, c.headers, `message ${i} headers`);
    assert.equal(got?.len, c.payload.length, `message ${i} length`);
    assert.equal(got?.sha256, crypto.createHash('sha256').update(c.payload).digest('hex'), `message ${i} payload`);
  });
});

test('boto3 invoke_endpoint_with_response_stream yields our PayloadParts, then raises ModelStreamError', { skip: noBotocore }, async () => {
  const parts = [Buffer.from('{"token":"a"}\n'), crypto.randomBytes(200_000), Buffer.from('tail')];
  let seenPath = '';
  let seenAccept = '';
  const server = await listenLocal((req, res) => {
    void readBody(req).then(() => {
      seenPath = req.url ?? '';
      seenAccept = String(req.headers['x-amzn-sagemaker-accept'] ?? '');
      res.writeHead(200, {
        'Content-Type': 'application/vnd.amazon.eventstream',
        'X-Amzn-SageMaker-Content-Type': 'application/jsonlines',
        'x-Amzn-Invoked-Production-Variant': 'AllTraffic',
      });
      for (const p of parts) res.write(payloadPartEvent(p));
      res.end(modelStreamErrorEvent('Model stream broke', 'StreamBroken'));
    });
  });
  try {
    const script = `
import sys, json, hashlib, botocore.session
from botocore.exceptions import EventStreamError
c = botocore.session.get_session().create_client('sagemaker-runtime', endpoint_url=sys.argv[1], region_name='us-east-1',
    aws_access_key_id='AKIDTEST', aws_secret_access_key='secret')
r = c.invoke_endpoint_with_response_stream(EndpointName='ep-1', Body=b'{}', Accept='application/jsonlines')
out = {"contentType": r['ContentType'], "variant": r['InvokedProductionVariant'], "parts": []}
try:
    for ev in r['Body']:
        out["parts"].append(hashlib.sha256(ev['PayloadPart']['Bytes']).hexdigest())
except EventStreamError as e:
    out["error"] = {"code": e.response['Error']['Code'], "message": e.response['Error']['Message']}
print(json.dumps(out))
`;
    const res = await runPython(`import sys; sys.argv=['x', ${JSON.stringify(server.url)}]\n${script}`);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { contentType: string; variant: string; parts: string[]; error?: { code: string; message: string } };
    assert.equal(seenPath, '/endpoints/ep-1/invocations-response-stream');
    assert.equal(seenAccept, 'application/jsonlines');
    assert.equal(out.contentType, 'application/jsonlines');
    assert.equal(out.variant, 'AllTraffic');
    assert.deepEqual(out.parts, parts.map((p) => crypto.createHash('sha256').update(p).digest('hex')));
    assert.deepEqual(out.error, { code: 'ModelStreamError', message: 'Model stream broke' });
  } finally {
    await server.close();
  }
});
