/**
 * Diagnostics go to stderr only (stdout may carry channel bytes). One line per event,
 * prefixed with "pipemode:". Levels: error < warn < info < debug; `quiet` shows errors only.
 * Never pass credentials or signed URLs in messages.
 */

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (lvl: LogLevel) => (message: string): void => {
    if (RANK[lvl] <= RANK[level]) write(`pipemode: ${lvl === 'info' ? '' : `${lvl}: `}${message}\n`);
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** A logger that drops everything; the library default. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
