/**
 * The dashboard: `GET /` serves one page (dashboard-page.ts) that polls small JSON views of the
 * state store every second: the lists of training jobs, endpoints and transform jobs with their
 * live status; a training job's transitions, FailureReason, per-channel counters (bytes delivered,
 * GETs, retries, and WaitSeconds: how long the trainer waited for data) and the tail of its log;
 * an endpoint's variants and, when its runner reports them, requests/s and latency p50/p99.
 * Charts are uPlot, served from node_modules (`/dashboard/uplot.*`).
 *
 * Browsers cannot sign requests, so the dashboard has its own key (`<state>/dashboard.key`, 0600):
 * the server prints `http://…/?key=K`; opening it sets an HttpOnly SameSite=Strict cookie and
 * every dashboard request must carry it (a page of another site cannot read the views, even
 * through DNS rebinding: the cookie belongs to the server's own origin). The views are read-only
 * and leave out Environment, HyperParameters and host paths.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isoToEpoch } from './api-input.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import type { Hosting } from './hosting-records.js';
import type { StateStore } from './state-store.js';
import { TRAINING_LOG_GROUP, type StoredJobRecord } from './training-jobs.js';

const COOKIE = 'pm_dashboard';

function readOrCreateKey(file: string): string {
  try {
    const key = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{32,}$/.test(key)) return key;
  } catch {
    // created below
  }
  const key = crypto.randomBytes(24).toString('hex');
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
    ...extra,
  });
  res.end(body);
}

const json = (res: ServerResponse, value: unknown): void => send(res, 200, 'application/json', JSON.stringify(value));

export class Dashboard {
  readonly key: string;
  readonly #store: StateStore;
  readonly #hosting: Hosting;
  readonly #uplotDir: string;

  private constructor(key: string, store: StateStore, hosting: Hosting) {
    this.key = key;
    this.#store = store;
    this.#hosting = hosting;
    this.#uplotDir = path.dirname(createRequire(import.meta.url).resolve('uplot'));
  }

  static open(stateDir: string, store: StateStore, hosting: Hosting): Dashboard {
    return new Dashboard(readOrCreateKey(path.join(stateDir, 'dashboard.key')), store, hosting);
  }

  #authorized(req: IncomingMessage): boolean {
    const cookies = String(req.headers.cookie ?? '').split(/;\s*/);
    const given = cookies.find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1) ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(this.key);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const given = url.searchParams.get('key');
    if (url.pathname === '/' && given !== null) {
      const a = Buffer.from(given);
      const b = Buffer.from(this.key);
      if (a.length === b.length && crypto.timingSafeEqual(a, b)) {
        send(res, 303, 'text/plain', 'see /', { Location: '/', 'Set-Cookie': `${COOKIE}=${this.key}; HttpOnly; SameSite=Strict; Path=/` });
        return;
      }
    }
    if (!this.#authorized(req)) {
      send(res, 401, 'text/plain; charset=utf-8', 'pipemode dashboard: open the URL with ?key=… that pipemode server printed (the key is in <state>/dashboard.key)\n');
      return;
    }
    try {
      this.#route(url, res);
    } catch {
      send(res, 500, 'text/plain', 'dashboard view failed\n');
    }
  }

  #route(url: URL, res: ServerResponse): void {
    const p = url.pathname;
    if (p === '/') return send(res, 200, 'text/html; charset=utf-8', DASHBOARD_PAGE);
    if (p === '/dashboard/uplot.js') return send(res, 200, 'text/javascript', fs.readFileSync(path.join(this.#uplotDir, 'uPlot.iife.min.js')));
    if (p === '/dashboard/uplot.css') return send(res, 200, 'text/css', fs.readFileSync(path.join(this.#uplotDir, 'uPlot.min.css')));
    if (p === '/dashboard/api/overview') return json(res, this.#overview());
    const job = /^\/dashboard\/api\/training-jobs\/([a-zA-Z0-9-]{1,63})$/.exec(p);
    if (job !== null) return json(res, this.#job(job[1] as string));
    const ep = /^\/dashboard\/api\/endpoints\/([a-zA-Z0-9-]{1,63})$/.exec(p);
    if (ep !== null) return json(res, this.#endpoint(ep[1] as string));
    return send(res, 404, 'text/plain', 'not found\n');
  }

  #overview(): unknown {
    const all = (kind: 'TrainingJob' | 'Endpoint' | 'TransformJob') =>
      this.#store.list<Record<string, unknown>>(kind, { sortBy: 'CreationTime', sortOrder: 'Descending', offset: 0, limit: 100 }).items;
    return {
      now: Date.now() / 1000,
      trainingJobs: all('TrainingJob').filter((r) => r.record.TrainingJobArn !== undefined).map((r) => {
        const rec = r.record as unknown as StoredJobRecord;
        return {
          name: rec.TrainingJobName, status: rec.TrainingJobStatus, secondary: rec.SecondaryStatus, runBy: rec.RunBy ?? 'server',
          created: isoToEpoch(rec.CreationTime), modified: isoToEpoch(rec.LastModifiedTime), failureReason: rec.FailureReason,
        };
      }),
      endpoints: all('Endpoint').map((r) => ({
        name: r.name, status: r.status, config: r.record.EndpointConfigName, created: r.record.CreationTime,
        modified: r.record.LastModifiedTime, failureReason: r.record.FailureReason,
      })),
      transformJobs: all('TransformJob').map((r) => ({
        name: r.name, status: r.status, model: r.record.ModelName, created: r.record.CreationTime,
        modified: r.record.LastModifiedTime, failureReason: r.record.FailureReason,
      })),
    };
  }

  #job(name: string): unknown {
    const found = this.#store.get<StoredJobRecord>('TrainingJob', name);
    if (found === undefined || found.record.TrainingJobArn === undefined) return { found: false };
    const r = found.record;
    const streams = this.#store.logStreams(TRAINING_LOG_GROUP).map((s) => s.stream).filter((s) => s.startsWith(`${r.TrainingJobName}/`));
    const tail = streams.length === 0 ? [] : this.#store.logEvents({ group: TRAINING_LOG_GROUP, streams, limit: 200, backwards: true });
    return {
      found: true,
      now: Date.now() / 1000,
      name: r.TrainingJobName, arn: r.TrainingJobArn, status: r.TrainingJobStatus, secondary: r.SecondaryStatus,
      failureReason: r.FailureReason, modelArtifacts: r.ModelArtifacts?.S3ModelArtifacts,
      inputMode: (r.AlgorithmSpecification as { TrainingInputMode?: string } | undefined)?.TrainingInputMode,
      created: isoToEpoch(r.CreationTime), started: isoToEpoch(r.TrainingStartTime), ended: isoToEpoch(r.TrainingEndTime),
      transitions: r.SecondaryStatusTransitions.map((t) => ({ status: t.Status, start: isoToEpoch(t.StartTime), end: isoToEpoch(t.EndTime), message: t.StatusMessage })),
      channels: r.ChannelMetrics ?? {},
      log: tail.map((e) => ({ t: e.timestamp / 1000, stream: e.stream.slice(r.TrainingJobName.length + 1), message: e.message })),
    };
  }

  #endpoint(name: string): unknown {
    const found = this.#store.get<Record<string, unknown>>('Endpoint', name);
    if (found === undefined) return { found: false };
    const rec = { ...found.record };
    delete rec.Deployed;
    return { found: true, now: Date.now() / 1000, record: rec, metrics: this.#hosting.endpointMetrics(name) ?? null };
  }
}
