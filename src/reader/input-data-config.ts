/**
 * A channel's input mode from SageMaker's `<baseDir>/input/config/inputdataconfig.json`
 * (as SageMaker writes it): `{"<channel>": {"TrainingInputMode": "Pipe" | "File" |
 * "FastFile", ...}, ...}`. The mode is matched case-insensitively, as PipeModeDataset does.
 * A missing file, a missing channel or an unknown mode is a ConfigError that says what was found
 * and how to read a channel without the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { InputMode } from '../channel/channel-spec.js';
import { ConfigError } from '../core/errors.js';
import { closest } from '../core/did-you-mean.js';

export const INPUT_MODES: readonly InputMode[] = Object.freeze(['Pipe', 'File', 'FastFile']);

export function inputDataConfigPath(baseDir: string): string {
  return path.join(baseDir, 'input', 'config', 'inputdataconfig.json');
}

export interface ChannelInputConfig {
  /** TrainingInputMode, canonical case. */
  readonly mode: InputMode;
  /** RecordWrapperType as written, if present. */
  readonly recordWrapper: string | undefined;
}

/** The TrainingInputMode of `channel` in `<baseDir>/input/config/inputdataconfig.json`. */
export function channelInputMode(baseDir: string, channel: string): InputMode {
  return channelInputConfig(baseDir, channel).mode;
}

/** What `<baseDir>/input/config/inputdataconfig.json` says about `channel`. */
export function channelInputConfig(baseDir: string, channel: string): ChannelInputConfig {
  const file = inputDataConfigPath(baseDir);
  const field = 'inputdataconfig.json';
  const hint = 'or pass { mode, path } to openChannel to read a channel without SageMaker\'s config';
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read the input data config ${file}: ${(err as Error).message} (set SAGEMAKER_BASE_DIR or baseDir, ${hint})`, { field, path: file }, { cause: err });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError(`${file} must hold a JSON object of channels, e.g. {"train": {"TrainingInputMode": "Pipe"}}`, { field, path: file });
  }
  const channels = Object.keys(config);
  const entry = (config as Record<string, unknown>)[channel];
  if (!Object.hasOwn(config, channel) || typeof entry !== 'object' || entry === null) {
    const near = closest(channel, channels);
    throw new ConfigError(
      `channel "${channel}" is not in ${file} (${channels.length === 0 ? 'it lists no channels' : `its channels: ${channels.join(', ')}`})${near === undefined ? '' : `; did you mean "${near}"?`}`,
      { field, path: file, channel },
    );
  }
  const mode = (entry as Record<string, unknown>).TrainingInputMode;
  const found = typeof mode === 'string' ? INPUT_MODES.find((m) => m.toLowerCase() === mode.toLowerCase()) : undefined;
  if (found === undefined) {
    throw new ConfigError(`channel "${channel}" in ${file} has TrainingInputMode ${JSON.stringify(mode)}; expected one of ${INPUT_MODES.join(', ')}`, { field, path: file, channel });
  }
  const wrapper = (entry as Record<string, unknown>).RecordWrapperType;
  return { mode: found, recordWrapper: typeof wrapper === 'string' ? wrapper : undefined };
}
