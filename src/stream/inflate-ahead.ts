/**
 * Gzip channels inflate several objects at once, in order. One inflater (node:zlib, whose
 * asynchronous API runs each piece of work on the libuv thread pool) per object; up to
 * `parallel` objects are in hand at a time, so objects inflate on several cores while the
 * consumer takes the oldest one's bytes, exactly in stream order.
 *
 *   prefetcher ─▶ driver (drains each unit's compressed bytes into its inflater, in order)
 *              ─▶ jobs[0..parallel) inflating at once ─▶ consumer (jobs[0]'s bytes, then jobs[1]'s …)
 *
 * Memory: `held` counts the compressed bytes handed to inflaters and not yet consumed by them,
 * plus the inflated bytes not yet taken by the consumer, over all jobs. While it is at or above
 * `aheadBytes`, the driver takes no more compressed bytes and every inflater is paused (zlib
 * then stops within one output chunk), except the oldest job when the consumer is waiting for
 * it: that one always moves, so the stream cannot stall. The oldest job's input also respects
 * its inflater's write backpressure, so one huge object never sits whole in memory. Beyond
 * `held`, each job costs one zlib state and at most one output chunk.
 *
 * Errors: the first failure (a fetch error from the prefetcher, or invalid gzip, coded
 * GzipError naming the object and the compressed byte range) ends the whole stream, never a
 * short success; inflaters are destroyed when the consumer stops, early or not.
 */
import os from 'node:os';
import zlib from 'node:zlib';
import { ioBuffers } from '../core/buffer-pool.js';
import { GzipError, InternalError, PipemodeError } from '../core/errors.js';
import type { UnitData } from '../fetch/prefetcher.js';
import { describeUnit } from '../manifest/unit.js';

export interface InflateAheadOptions {
  /** Compressed bytes handed to inflaters plus inflated bytes not yet taken, at most (+ one chunk). */
  readonly aheadBytes: number;
  /** Objects in hand at once (the oldest one included). */
  readonly parallel: number;
  /** Where the bytes held are counted (tests check the bound with it). */
  readonly stats?: InflateStats | undefined;
}

/** Bytes held by inflateAhead, now and at most. */
export class InflateStats {
  held = 0;
  peakHeld = 0;
}

/** One unit and its output: the inflated bytes of an object, an inline value's own bytes. */
export interface InflatedUnit {
  readonly data: UnitData;
  readonly bytes: AsyncIterable<Buffer[]>;
}

/**
 * Objects inflating at once: one per core, at most 4 (libuv's thread pool, which zlib shares with
 * file reads, has 4 threads), at least 2 (the consumer's object and the next).
 */
export const INFLATE_PARALLEL = Math.min(4, Math.max(2, os.availableParallelism()));

/** zlib output chunk: 256 KiB inflates twice as fast as the 16 KiB default (measured here). */
export const GUNZIP_CHUNK = 256 * 1024;

interface Job {
  readonly data: UnitData;
  /** Undefined for units that are not inflated (inline values, empty objects). */
  readonly inflater: zlib.Gunzip | undefined;
  /** Bytes ready for the consumer. */
  readonly out: Buffer[];
  /** Compressed bytes written to the inflater so far. */
  fed: number;
  /** Every output byte is in `out` (the inflater ended). */
  done: boolean;
  paused: boolean;
}

/** What a job's inflater failed with, as the coded error naming the object. */
function gzipError(job: Job, err: unknown): PipemodeError {
  if (err instanceof PipemodeError) return err;
  const what = describeUnit(job.data.unit);
  const offset = job.inflater?.bytesWritten ?? 0;
  return new GzipError(`${what} is not valid gzip (${(err as Error).message}) in compressed bytes ${offset}-${job.fed}`, {
    uri: what, offset, zlibCode: (err as NodeJS.ErrnoException).code,
  }, { cause: err });
}

const END = Symbol('end');

/**
 * The units of `units`, in order, each with its inflated bytes (objects) or its own bytes (inline
 * values: augmented-manifest attributes are never compressed). Drain each unit's `bytes` before
 * asking for the next unit.
 */
export async function* inflateAhead(units: AsyncIterable<UnitData>, options: InflateAheadOptions): AsyncGenerator<InflatedUnit> {
  const jobs: Job[] = [];
  const stats = options.stats ?? new InflateStats();
  let held = 0;
  const hold = (bytes: number): void => {
    held += bytes;
    stats.held = held;
    if (held > stats.peakHeld) stats.peakHeld = held;
  };
  let failure: PipemodeError | undefined;
  let closed = false;
  let driverDone = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeDriver: (() => void) | undefined;
  /** Whether the consumer is waiting on the oldest job's output. */
  let consumerWaiting = false;

  const notify = (): void => {
    const c = wakeConsumer;
    const d = wakeDriver;
    wakeConsumer = undefined;
    wakeDriver = undefined;
    c?.();
    d?.();
  };
  const fail = (err: PipemodeError): void => {
    failure ??= err;
    notify();
  };
  /** Pauses or resumes every inflater by the rule in the design note. */
  const steer = (): void => {
    const full = held >= options.aheadBytes;
    for (const [i, job] of jobs.entries()) {
      const inflater = job.inflater;
      if (inflater === undefined || job.done) continue;
      const pause = full && !(i === 0 && consumerWaiting && job.out.length === 0);
      if (pause && !job.paused) inflater.pause();
      else if (!pause && job.paused) inflater.resume();
      job.paused = pause;
    }
  };

  const start = (data: UnitData): Job => {
    const inflating = data.unit.kind === 'object' && data.size > 0;
    const inflater = inflating ? zlib.createGunzip({ chunkSize: GUNZIP_CHUNK }) : undefined;
    const job: Job = { data, inflater, out: [], fed: 0, done: !inflating, paused: false };
    if (inflater !== undefined) {
      inflater.on('data', (chunk: Buffer) => {
        job.out.push(chunk);
        hold(chunk.length);
        if (held >= options.aheadBytes) steer();
        if (jobs[0] === job) notify();
      });
      inflater.on('end', () => {
        job.done = true;
        notify();
      });
      inflater.on('error', (err) => fail(gzipError(job, err)));
    }
    return job;
  };

  /** The driver waits for room: below the budget, or (the oldest job) for its inflater's drain. */
  const driverWait = (): Promise<void> => new Promise((resolve) => (wakeDriver = resolve));

  const drive = async (): Promise<void> => {
    for await (const data of units) {
      while (!closed && failure === undefined && (jobs.length >= options.parallel || (jobs.length > 0 && held >= options.aheadBytes))) await driverWait();
      if (closed || failure !== undefined) return;
      const job = start(data);
      jobs.push(job);
      notify();
      for await (const batch of data.chunks) {
        if (closed || failure !== undefined) return;
        const inflater = job.inflater;
        if (inflater === undefined) {
          // an inline value (already in memory) or an empty object: its bytes pass through
          for (const b of batch) hold(b.length);
          job.out.push(...batch);
        } else {
          for (const chunk of batch) {
            hold(chunk.length);
            job.fed += chunk.length;
            inflater.write(chunk, (err) => {
              hold(-chunk.length);
              // zlib is done with it: a pooled read buffer goes back for the next read
              if (err === undefined || err === null) ioBuffers.release(chunk);
              steer();
              notify();
            });
          }
        }
        notify();
        // the oldest job only needs its inflater to keep up; the others wait for room
        const room = (): boolean => held < options.aheadBytes || (jobs[0] === job && inflater !== undefined && !inflater.writableNeedDrain);
        while (!closed && failure === undefined && !room()) await driverWait();
      }
      if (closed || failure !== undefined) return;
      job.inflater?.end();
      // an inline value or empty object is done as soon as its bytes are in
      if (job.inflater === undefined) job.done = true;
      notify();
    }
  };
  const driving = drive().then(() => {
    driverDone = true;
    notify();
  }, (err: unknown) => fail(err instanceof PipemodeError ? err : new InternalError(`inflating: ${(err as Error).message}`, {}, { cause: err })));

  /** Waits for `check` to return something, re-checked on every notification; throws the failure. */
  const until = async <T>(check: () => T | undefined): Promise<T> => {
    for (;;) {
      if (failure !== undefined) throw failure;
      const value = check();
      if (value !== undefined) return value;
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
    }
  };

  async function* output(job: Job): AsyncGenerator<Buffer[]> {
    for (;;) {
      consumerWaiting = true;
      steer();
      const batch = await until<Buffer[] | typeof END>(() => (job.out.length > 0 ? job.out.splice(0) : job.done ? END : undefined));
      consumerWaiting = false;
      if (batch === END) return;
      for (const b of batch) hold(-b.length);
      steer();
      notify();
      yield batch;
    }
  }

  try {
    for (;;) {
      const job = await until<Job | typeof END>(() => jobs[0] ?? (driverDone ? END : undefined));
      if (job === END) return;
      let drained = false;
      yield { data: job.data, bytes: (async function* () {
        yield* output(job);
        drained = true;
      })() };
      if (!drained) throw new Error('inflateAhead: a unit was not drained before the next one was requested');
      jobs.shift();
      steer();
      notify();
    }
  } finally {
    closed = true;
    for (const job of jobs) job.inflater?.destroy();
    jobs.length = 0;
    notify();
    void driving;
  }
}
