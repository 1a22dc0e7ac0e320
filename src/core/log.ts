/**
 * Diagnostics go to stderr only (stdout may carry channel bytes). One line per event,
 * prefixed with "pipemode:". Levels: error < warn < info < debug; `quiet` shows errors only.
 * Format `json` (the CLI's `--log-format json`) writes each event as one JSON object instead:
 * `{"time": ISO 8601, "level", "message", "code"}` (`code`: the PM_ERR_* code of an error, when
 * there is one), for log collectors. Never pass credentials or signed URLs in messages.
 */

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  /** `code`: the PM_ERR_* code of the failure reported, if any (text: appended as " [code]"). */
  error(message: string, code?: string): void;
  warn(message: string, code?: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/** One event as a line in `format`. */
export function formatLogLine(format: LogFormat, level: LogLevel, message: string, code?: string, now: Date = new Date()): string {
  if (format === 'json') {
    return `${JSON.stringify({ time: now.toISOString(), level, message, ...(code !== undefined ? { code } : {}) })}\n`;
  }
  return `pipemode: ${level === 'info' ? '' : `${level}: `}${message}${code !== undefined ? ` [${code}]` : ''}\n`;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l), format: LogFormat = 'text'): Logger {
  const at = (lvl: LogLevel) => (message: string, code?: string): void => {
    if (RANK[lvl] <= RANK[level]) write(formatLogLine(format, lvl, message, code));
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** A logger that drops everything; the library default. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };
