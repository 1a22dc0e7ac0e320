/**
 * Download progress for File mode: a live bar on a terminal (cli-progress, on stderr), or one
 * summary line per channel when stderr is not a TTY (logs, CI).
 */
import { SingleBar, Presets } from 'cli-progress';
import { formatBytes } from '../core/byte-size.js';
import type { Logger } from '../core/log.js';

export interface ProgressHandle {
  readonly update: (done: number, total: number) => void;
  readonly done: (summary: string) => void;
}

export class DownloadProgress {
  readonly #tty: boolean;
  readonly #log: Logger;

  constructor(tty: boolean, log: Logger) {
    this.#tty = tty;
    this.#log = log;
  }

  start(label: string): ProgressHandle {
    const started = performance.now();
    const rate = (bytes: number): string => `${formatBytes(bytes / Math.max(0.001, (performance.now() - started) / 1000))}/s`;
    if (!this.#tty) {
      let total = 0;
      return {
        update: (_done, t) => void (total = t),
        done: (summary) => this.#log.info(`downloaded ${label}: ${summary} (${rate(total)})`),
      };
    }
    const bar = new SingleBar({
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% {value_h}/{total_h} {rate}`,
      hideCursor: true,
    }, Presets.shades_classic);
    bar.start(1, 0, { value_h: '0 B', total_h: '?', rate: '' });
    let known = 1;
    return {
      update: (done, total) => {
        if (total !== known) bar.setTotal((known = total));
        bar.update(done, { value_h: formatBytes(done), total_h: formatBytes(total), rate: rate(done) });
      },
      done: (summary) => {
        bar.stop();
        this.#log.info(`downloaded ${label}: ${summary}`);
      },
    };
  }
}
