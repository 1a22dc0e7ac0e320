/**
 * The server's state: one SQLite database (`<state>/state.db`, WAL mode, better-sqlite3) holding
 * every resource record (training jobs, models, endpoint configs, endpoints, transform jobs) and
 * the log store. A record is one row: its kind, name, status and times as columns (what List
 * filters and sorts on) and the whole record as JSON. Every change is one transaction, so a
 * server killed at any point leaves each record as it was before or after a transition, never
 * half of one; WAL with `synchronous=NORMAL` keeps every committed transition across a process
 * kill (only a power loss may drop the last ones).
 *
 * Names are unique per kind regardless of case (SageMaker's rule; the ARN lower-cases them).
 * Times are epoch milliseconds in the columns; records carry whatever their API shape needs.
 *
 * The log store: streams (group, stream) and their events (timestamp, message), appended in
 * batches, read forwards or backwards by event id, which is what the CloudWatch Logs tokens hold.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { ServerStateError } from '../core/errors.js';

export type ResourceKind = 'TrainingJob' | 'Model' | 'EndpointConfig' | 'Endpoint' | 'TransformJob';

export interface StoredResource<R = Record<string, unknown>> {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly status: string;
  /** Epoch ms. */
  readonly creationTime: number;
  readonly lastModifiedTime: number;
  readonly record: R;
}

export interface ListQuery {
  readonly nameContains?: string | undefined;
  readonly statusEquals?: string | undefined;
  /** Epoch ms bounds (exclusive, as SageMaker's After/Before). */
  readonly creationTimeAfter?: number | undefined;
  readonly creationTimeBefore?: number | undefined;
  readonly lastModifiedTimeAfter?: number | undefined;
  readonly lastModifiedTimeBefore?: number | undefined;
  readonly sortBy: 'Name' | 'CreationTime' | 'Status';
  readonly sortOrder: 'Ascending' | 'Descending';
  readonly offset: number;
  readonly limit: number;
}

export interface LogEvent {
  readonly id: number;
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly message: string;
  readonly stream: string;
}

export interface LogStreamInfo {
  readonly group: string;
  readonly stream: string;
  readonly creationTime: number;
  readonly firstEventTimestamp: number | null;
  readonly lastEventTimestamp: number | null;
  readonly lastIngestionTime: number | null;
  readonly storedBytes: number;
}

export interface NewLogLine {
  readonly group: string;
  readonly stream: string;
  readonly timestamp: number;
  readonly message: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
  kind TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
  creation_time INTEGER NOT NULL, last_modified INTEGER NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS resources_created ON resources (kind, creation_time);
CREATE TABLE IF NOT EXISTS log_streams (
  grp TEXT NOT NULL, stream TEXT NOT NULL, creation_time INTEGER NOT NULL,
  first_ts INTEGER, last_ts INTEGER, last_ingest INTEGER, bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (grp, stream));
CREATE TABLE IF NOT EXISTS log_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, grp TEXT NOT NULL, stream TEXT NOT NULL,
  ts INTEGER NOT NULL, ingest INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_events_stream ON log_events (grp, stream, id);
CREATE INDEX IF NOT EXISTS log_events_group ON log_events (grp, id);
`;
const SCHEMA_VERSION = '1';

const SORT_COLUMN = { Name: 'key', CreationTime: 'creation_time', Status: 'status' } as const;

interface Row {
  kind: ResourceKind;
  name: string;
  status: string;
  creation_time: number;
  last_modified: number;
  record: string;
}

function fromRow<R>(row: Row): StoredResource<R> {
  return {
    kind: row.kind, name: row.name, status: row.status, creationTime: row.creation_time,
    lastModifiedTime: row.last_modified, record: JSON.parse(row.record) as R,
  };
}

export class StateStore {
  readonly dir: string;
  readonly db: BetterSqlite3.Database;
  readonly #get: BetterSqlite3.Statement;
  readonly #insert: BetterSqlite3.Statement;
  readonly #update: BetterSqlite3.Statement;
  readonly #delete: BetterSqlite3.Statement;
  readonly #appendLog: BetterSqlite3.Statement;
  readonly #touchStream: BetterSqlite3.Statement;
  /** Prepared statements by SQL text: each query shape is compiled once (bounded: shapes with many `?` lists are few). */
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  private constructor(dir: string, db: BetterSqlite3.Database) {
    this.dir = dir;
    this.db = db;
    this.#get = db.prepare('SELECT * FROM resources WHERE kind = ? AND key = ?');
    this.#insert = db.prepare('INSERT INTO resources (kind, key, name, status, creation_time, last_modified, record) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#update = db.prepare('UPDATE resources SET status = ?, last_modified = ?, record = ? WHERE kind = ? AND key = ?');
    this.#delete = db.prepare('DELETE FROM resources WHERE kind = ? AND key = ?');
    this.#appendLog = db.prepare('INSERT INTO log_events (grp, stream, ts, ingest, message) VALUES (?, ?, ?, ?, ?)');
    this.#touchStream = db.prepare(`INSERT INTO log_streams (grp, stream, creation_time, first_ts, last_ts, last_ingest, bytes) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (grp, stream) DO UPDATE SET first_ts = min(coalesce(first_ts, excluded.first_ts), excluded.first_ts),
      last_ts = max(coalesce(last_ts, excluded.last_ts), excluded.last_ts), last_ingest = excluded.last_ingest, bytes = bytes + excluded.bytes`);
  }

  #statement(sql: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      if (this.#statements.size >= 256) this.#statements.clear();
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Opens (creating it if needed) the database in `dir` (mode 0700). */
  static open(dir: string): StateStore {
    const abs = path.resolve(dir);
    let db: BetterSqlite3.Database;
    try {
      fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
      db = new Database(path.join(abs, 'state.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      const version = (db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as { value: string } | undefined)?.value;
      if (version === undefined) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', SCHEMA_VERSION);
      else if (version !== SCHEMA_VERSION) throw new Error(`schema version ${version}, this pipemode reads ${SCHEMA_VERSION}`);
    } catch (err) {
      throw new ServerStateError(`state folder ${abs}: the database cannot be used: ${(err as Error).message}`, { dir: abs }, { cause: err });
    }
    return new StateStore(abs, db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  get<R = Record<string, unknown>>(kind: ResourceKind, name: string): StoredResource<R> | undefined {
    const row = this.#get.get(kind, name.toLowerCase()) as Row | undefined;
    return row === undefined ? undefined : fromRow<R>(row);
  }

  /** Adds a record; false if one of that kind and name (any case) exists. */
  insert(kind: ResourceKind, name: string, status: string, creationTime: number, record: unknown): boolean {
    const result = this.db.transaction(() => {
      if (this.#get.get(kind, name.toLowerCase()) !== undefined) return false;
      this.#insert.run(kind, name.toLowerCase(), name, status, creationTime, creationTime, JSON.stringify(record));
      return true;
    })();
    return result;
  }

  /** Replaces a record's status and body, in one transaction; false if it is gone. */
  put(kind: ResourceKind, name: string, status: string, lastModifiedTime: number, record: unknown): boolean {
    return this.#update.run(status, lastModifiedTime, JSON.stringify(record), kind, name.toLowerCase()).changes === 1;
  }

  /**
   * Reads, changes and writes a record in one transaction: `change` returns the new status and
   * record, or undefined to leave it. Returns the record as stored afterwards (undefined if missing).
   */
  update<R>(kind: ResourceKind, name: string, change: (r: StoredResource<R>) => { status: string; record: R } | undefined): StoredResource<R> | undefined {
    return this.db.transaction(() => {
      const row = this.#get.get(kind, name.toLowerCase()) as Row | undefined;
      if (row === undefined) return undefined;
      const current = fromRow<R>(row);
      const next = change(current);
      if (next === undefined) return current;
      const now = Date.now();
      this.#update.run(next.status, now, JSON.stringify(next.record), kind, name.toLowerCase());
      return { ...current, status: next.status, lastModifiedTime: now, record: next.record };
    })();
  }

  delete(kind: ResourceKind, name: string): boolean {
    return this.#delete.run(kind, name.toLowerCase()).changes === 1;
  }

  /** Every record of a kind with one of the given statuses. */
  withStatus<R>(kind: ResourceKind, statuses: readonly string[]): StoredResource<R>[] {
    if (statuses.length === 0) return [];
    const rows = this.#statement(`SELECT * FROM resources WHERE kind = ? AND status IN (${statuses.map(() => '?').join(', ')})`).all(kind, ...statuses) as Row[];
    return rows.map((r) => fromRow<R>(r));
  }

  /** One page of a List: filtered, sorted (ties broken by name), `limit + 1` rows to tell whether more follow. */
  list<R>(kind: ResourceKind, q: ListQuery): { items: StoredResource<R>[]; more: boolean } {
    const where = ['kind = ?'];
    const args: (string | number)[] = [kind];
    if (q.nameContains !== undefined) {
      where.push("instr(key, ?) > 0");
      args.push(q.nameContains.toLowerCase());
    }
    if (q.statusEquals !== undefined) {
      where.push('status = ?');
      args.push(q.statusEquals);
    }
    const bound = (col: string, op: string, v: number | undefined): void => {
      if (v === undefined) return;
      where.push(`${col} ${op} ?`);
      args.push(v);
    };
    bound('creation_time', '>', q.creationTimeAfter);
    bound('creation_time', '<', q.creationTimeBefore);
    bound('last_modified', '>', q.lastModifiedTimeAfter);
    bound('last_modified', '<', q.lastModifiedTimeBefore);
    const dir = q.sortOrder === 'Descending' ? 'DESC' : 'ASC';
    const sql = `SELECT * FROM resources WHERE ${where.join(' AND ')} ORDER BY ${SORT_COLUMN[q.sortBy]} ${dir}, key ${dir} LIMIT ? OFFSET ?`;
    const rows = this.#statement(sql).all(...args, q.limit + 1, q.offset) as Row[];
    return { items: rows.slice(0, q.limit).map((r) => fromRow<R>(r)), more: rows.length > q.limit };
  }

  /** Appends log lines (one transaction for the batch). */
  appendLogs(lines: readonly NewLogLine[]): void {
    if (lines.length === 0) return;
    const now = Date.now();
    this.db.transaction(() => {
      for (const l of lines) {
        this.#appendLog.run(l.group, l.stream, l.timestamp, now, l.message);
        this.#touchStream.run(l.group, l.stream, now, l.timestamp, l.timestamp, now, Buffer.byteLength(l.message));
      }
    })();
  }

  /** Creates an empty stream (so it is listed before its first line). */
  createLogStream(group: string, stream: string): void {
    this.#statement('INSERT OR IGNORE INTO log_streams (grp, stream, creation_time) VALUES (?, ?, ?)').run(group, stream, Date.now());
  }

  logGroups(): { group: string; creationTime: number; storedBytes: number }[] {
    return (this.#statement('SELECT grp, min(creation_time) AS c, sum(bytes) AS b FROM log_streams GROUP BY grp ORDER BY grp').all() as { grp: string; c: number; b: number }[])
      .map((r) => ({ group: r.grp, creationTime: r.c, storedBytes: r.b }));
  }

  logStreams(group: string): LogStreamInfo[] {
    return (this.#statement('SELECT * FROM log_streams WHERE grp = ? ORDER BY stream').all(group) as {
      grp: string; stream: string; creation_time: number; first_ts: number | null; last_ts: number | null; last_ingest: number | null; bytes: number;
    }[]).map((r) => ({
      group: r.grp, stream: r.stream, creationTime: r.creation_time, firstEventTimestamp: r.first_ts,
      lastEventTimestamp: r.last_ts, lastIngestionTime: r.last_ingest, storedBytes: r.bytes,
    }));
  }

  /**
   * Events of one group (and optionally some streams), by id: forwards from `afterId`, or backwards
   * from `beforeId`; within [startTime, endTime) when given.
   */
  logEvents(q: {
    group: string; streams?: readonly string[] | undefined; afterId?: number | undefined; beforeId?: number | undefined;
    startTime?: number | undefined; endTime?: number | undefined; limit: number; backwards?: boolean | undefined;
  }): LogEvent[] {
    const where = ['grp = ?'];
    const args: (string | number)[] = [q.group];
    if (q.streams !== undefined) {
      where.push(`stream IN (${q.streams.map(() => '?').join(', ')})`);
      args.push(...q.streams);
    }
    if (q.afterId !== undefined) { where.push('id > ?'); args.push(q.afterId); }
    if (q.beforeId !== undefined) { where.push('id < ?'); args.push(q.beforeId); }
    if (q.startTime !== undefined) { where.push('ts >= ?'); args.push(q.startTime); }
    if (q.endTime !== undefined) { where.push('ts < ?'); args.push(q.endTime); }
    const rows = this.#statement(`SELECT id, ts, ingest, message, stream FROM log_events WHERE ${where.join(' AND ')} ORDER BY id ${q.backwards === true ? 'DESC' : 'ASC'} LIMIT ?`)
      .all(...args, q.limit) as { id: number; ts: number; ingest: number; message: string; stream: string }[];
    const events = rows.map((r) => ({ id: r.id, timestamp: r.ts, ingestionTime: r.ingest, message: r.message, stream: r.stream }));
    return q.backwards === true ? events.reverse() : events;
  }

  meta(key: string): string | undefined {
    return (this.#statement('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.#statement('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
