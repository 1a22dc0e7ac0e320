/**
 * A CloudWatch Logs subset over the log store (awsJson1_1, `X-Amz-Target: Logs_20140328.<Op>`):
 * DescribeLogGroups, DescribeLogStreams, GetLogEvents and FilterLogEvents, enough for
 * `aws logs get-log-events` / `aws logs tail`-style reads and the SageMaker Python SDK's log
 * following (DescribeLogStreams by job-name prefix, then GetLogEvents with startFromHead and the
 * forward token until it comes back unchanged). Times are epoch milliseconds, as in CloudWatch.
 *
 * Tokens: GetLogEvents' `f/<id>` and `b/<id>` name the event id to continue after (forwards) or
 * before (backwards), so a forward token with nothing new returns itself, which is how the SDKs
 * know they are at the end. FilterLogEvents' nextToken is the last id returned.
 * Missing groups and streams answer ResourceNotFoundException, as CloudWatch does.
 *
 * filterPattern: CloudWatch's plain-term form only: every space-separated term (or "quoted
 * phrase") must occur in the message, case-sensitively; `?term` terms are alternatives; an empty
 * pattern matches everything. JSON and metric patterns are refused.
 */
import { LOCAL_ACCOUNT } from '../container/arn.js';
import { ApiError } from './api-error.js';
import { optionalString, type Body } from './api-input.js';
import type { StateStore } from './state-store.js';

type Rec = Record<string, unknown>;

const notFound = (what: 'log group' | 'log stream'): ApiError => new ApiError('ResourceNotFoundException', `The specified ${what} does not exist.`);
const invalid = (message: string): ApiError => new ApiError('InvalidParameterException', message);

function int(body: Body, member: string, min: number, max: number): number | undefined {
  const v = body[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`1 validation error detected: Value '${JSON.stringify(v)}' at '${member}' failed to satisfy constraint: Member must be an integer between ${min} and ${max}`);
  return v;
}

function groupName(body: Body): string {
  const name = optionalString(body, 'logGroupName') ?? optionalString(body, 'logGroupIdentifier');
  if (name === undefined) throw invalid('1 validation error detected: Value null at \'logGroupName\' failed to satisfy constraint: Member must not be null');
  return name;
}

function logArn(region: string, group: string): string {
  return `arn:aws:logs:${region}:${LOCAL_ACCOUNT}:log-group:${group}:*`;
}

/** A compiled plain-term filter pattern. */
function compilePattern(pattern: string | undefined): (message: string) => boolean {
  const text = (pattern ?? '').trim();
  if (text === '') return () => true;
  if (/^[{[]/.test(text)) throw invalid('filterPattern: only plain-term patterns are supported by pipemode (terms and "quoted phrases")');
  const terms = [...text.matchAll(/(\?)?(?:"([^"]*)"|(\S+))/g)].map((m) => ({ optional: m[1] === '?', term: m[2] ?? m[3] ?? '' }));
  const all = terms.filter((t) => !t.optional).map((t) => t.term);
  const any = terms.filter((t) => t.optional).map((t) => t.term);
  return (message) => all.every((t) => message.includes(t)) && (any.length === 0 || any.some((t) => message.includes(t)));
}

export class LogsApi {
  readonly #store: StateStore;
  readonly #region: string;

  constructor(store: StateStore, region: string) {
    this.#store = store;
    this.#region = region;
  }

  handle(op: string, body: Body): Rec {
    switch (op) {
      case 'DescribeLogGroups': return this.describeLogGroups(body);
      case 'DescribeLogStreams': return this.describeLogStreams(body);
      case 'GetLogEvents': return this.getLogEvents(body);
      case 'FilterLogEvents': return this.filterLogEvents(body);
      default: throw new ApiError('UnknownOperationException', `Operation Logs_20140328.${op} is not served by pipemode (DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents are)`);
    }
  }

  describeLogGroups(body: Body): Rec {
    const prefix = optionalString(body, 'logGroupNamePrefix') ?? '';
    const limit = int(body, 'limit', 1, 50) ?? 50;
    const token = optionalString(body, 'nextToken');
    const groups = this.#store.logGroups().filter((g) => g.group.startsWith(prefix) && (token === undefined || g.group > token));
    const page = groups.slice(0, limit);
    return {
      logGroups: page.map((g) => ({
        logGroupName: g.group, creationTime: g.creationTime, metricFilterCount: 0, storedBytes: g.storedBytes,
        arn: logArn(this.#region, g.group), logGroupArn: logArn(this.#region, g.group).replace(/:\*$/, ''),
      })),
      ...(groups.length > limit ? { nextToken: page[page.length - 1]?.group } : {}),
    };
  }

  #streams(group: string): ReturnType<StateStore['logStreams']> {
    const streams = this.#store.logStreams(group);
    if (streams.length === 0) throw notFound('log group');
    return streams;
  }

  describeLogStreams(body: Body): Rec {
    const group = groupName(body);
    const prefix = optionalString(body, 'logStreamNamePrefix');
    const orderBy = optionalString(body, 'orderBy') ?? 'LogStreamName';
    if (orderBy !== 'LogStreamName' && orderBy !== 'LastEventTime') throw invalid(`orderBy: must be LogStreamName or LastEventTime, got ${orderBy}`);
    if (prefix !== undefined && orderBy === 'LastEventTime') throw invalid('Cannot order by LastEventTime with a logStreamNamePrefix.');
    const descending = body.descending === true;
    const limit = int(body, 'limit', 1, 50) ?? 50;
    const offset = Number(optionalString(body, 'nextToken') ?? '0');
    if (!Number.isInteger(offset) || offset < 0) throw invalid('The specified nextToken is invalid.');
    let streams = this.#streams(group).filter((s) => prefix === undefined || s.stream.startsWith(prefix));
    if (orderBy === 'LastEventTime') streams.sort((a, b) => (a.lastEventTimestamp ?? a.creationTime) - (b.lastEventTimestamp ?? b.creationTime));
    if (descending) streams = streams.reverse();
    const page = streams.slice(offset, offset + limit);
    return {
      logStreams: page.map((s) => ({
        logStreamName: s.stream, creationTime: s.creationTime,
        ...(s.firstEventTimestamp !== null ? { firstEventTimestamp: s.firstEventTimestamp } : {}),
        ...(s.lastEventTimestamp !== null ? { lastEventTimestamp: s.lastEventTimestamp } : {}),
        ...(s.lastIngestionTime !== null ? { lastIngestionTime: s.lastIngestionTime } : {}),
        arn: `${logArn(this.#region, group).replace(/:\*$/, '')}:log-stream:${s.stream}`, storedBytes: s.storedBytes,
      })),
      ...(offset + limit < streams.length ? { nextToken: String(offset + limit) } : {}),
    };
  }

  getLogEvents(body: Body): Rec {
    const group = groupName(body);
    const stream = optionalString(body, 'logStreamName');
    if (stream === undefined) throw invalid('1 validation error detected: Value null at \'logStreamName\' failed to satisfy constraint: Member must not be null');
    if (!this.#streams(group).some((s) => s.stream === stream)) throw notFound('log stream');
    const limit = int(body, 'limit', 1, 10_000) ?? 10_000;
    const startTime = typeof body.startTime === 'number' ? body.startTime : undefined;
    const endTime = typeof body.endTime === 'number' ? body.endTime : undefined;
    const token = optionalString(body, 'nextToken');
    let backwards = body.startFromHead !== true;
    let afterId: number | undefined;
    let beforeId: number | undefined;
    if (token !== undefined) {
      const m = /^([fb])\/(\d+)$/.exec(token);
      if (m === null) throw invalid('The specified nextToken is invalid.');
      const id = Number(m[2]);
      backwards = m[1] === 'b';
      if (backwards) beforeId = id;
      else afterId = id;
    }
    const events = this.#store.logEvents({ group, streams: [stream], afterId, beforeId, startTime, endTime, limit, backwards });
    const first = events[0]?.id;
    const last = events[events.length - 1]?.id;
    const forward = last ?? afterId ?? (beforeId !== undefined ? beforeId - 1 : 0);
    const backward = first ?? beforeId ?? (afterId !== undefined ? afterId + 1 : 0);
    return {
      events: events.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
      nextForwardToken: `f/${forward}`,
      nextBackwardToken: `b/${backward}`,
    };
  }

  filterLogEvents(body: Body): Rec {
    const group = groupName(body);
    const streams = this.#streams(group);
    const names = body.logStreamNames;
    if (names !== undefined && (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))) throw invalid('logStreamNames: must be a list of strings');
    const prefix = optionalString(body, 'logStreamNamePrefix');
    if (names !== undefined && prefix !== undefined) throw invalid('You cannot specify both LogStreamNames and LogStreamNamePrefix.');
    const chosen = streams.map((s) => s.stream).filter((s) => (names === undefined || names.includes(s)) && (prefix === undefined || s.startsWith(prefix)));
    const match = compilePattern(optionalString(body, 'filterPattern'));
    const limit = int(body, 'limit', 1, 10_000) ?? 10_000;
    const token = optionalString(body, 'nextToken');
    let afterId = token === undefined ? undefined : Number(token);
    if (afterId !== undefined && !Number.isInteger(afterId)) throw invalid('The specified nextToken is invalid.');
    const startTime = typeof body.startTime === 'number' ? body.startTime : undefined;
    const endTime = typeof body.endTime === 'number' ? body.endTime : undefined;
    const out: Rec[] = [];
    let more = false;
    if (chosen.length > 0) {
      for (;;) {
        const batch = this.#store.logEvents({ group, streams: chosen, afterId, startTime, endTime, limit: 1000 });
        for (const e of batch) {
          afterId = e.id;
          if (!match(e.message)) continue;
          out.push({ logStreamName: e.stream, timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime, eventId: String(e.id) });
          if (out.length === limit) break;
        }
        if (out.length === limit) {
          more = this.#store.logEvents({ group, streams: chosen, afterId, startTime, endTime, limit: 1 }).length > 0;
          break;
        }
        if (batch.length < 1000) break;
      }
    }
    return {
      events: out,
      searchedLogStreams: chosen.map((s) => ({ logStreamName: s, searchedCompletely: !more })),
      ...(more ? { nextToken: String(afterId) } : {}),
    };
  }
}
