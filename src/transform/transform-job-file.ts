/**
 * The JOB file of `pipemode transform`: what CreateModel and CreateTransformJob would be sent, in
 * one JSON or YAML document —
 *
 *   Models: [ <CreateModel request>, … ]
 *   TransformJob: <CreateTransformJob request>
 *
 * Models are validated exactly as the ENDPOINT file's (hosting/endpoint-spec.ts: same shapes,
 * same cross-checks, one container per model), by resolving the endpoint the model would back;
 * TransformJob by transform-job-spec.ts. Its ModelName must be one of Models. Unknown keys are
 * errors with did-you-mean hints, naming the field path.
 */
import * as v from 'valibot';
import { ConfigError } from '../core/errors.js';
import { validate } from '../core/validate.js';
import { resolveEndpoint, type ModelSpec } from '../hosting/endpoint-spec.js';
import { resolveTransformJob, type TransformJobSpec } from './transform-job-spec.js';

const fileSchema = v.strictObject({
  Models: v.pipe(v.array(v.unknown()), v.minLength(1, 'at least one model (a CreateModel request)')),
  TransformJob: v.record(v.string(), v.unknown()),
});

export interface TransformJobFile {
  readonly job: TransformJobSpec;
  readonly model: ModelSpec;
}

/** Validates a JOB document; `what` names it in errors (the file name); relative URIs resolve against `cwd`. */
export function resolveTransformJobFile(doc: unknown, what: string, cwd?: string): TransformJobFile {
  const raw = validate(fileSchema, doc, what);
  const job = resolveTransformJob(raw.TransformJob, `${what}: TransformJob`, cwd);
  const names = raw.Models.map((m) => (typeof m === 'object' && m !== null ? (m as { ModelName?: unknown }).ModelName : undefined));
  if (!names.includes(job.modelName)) {
    throw new ConfigError(`invalid ${what}: TransformJob.ModelName: no model "${job.modelName}" in Models (have: ${names.map(String).join(', ')})`, {
      field: 'TransformJob.ModelName',
    });
  }
  const endpoint = resolveEndpoint({
    EndpointName: job.name,
    Models: raw.Models,
    EndpointConfig: { ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: job.modelName }] },
  }, what);
  const model = endpoint.variants[0]?.model;
  if (model === undefined) throw new ConfigError(`invalid ${what}: no model`, { field: 'Models' });
  return Object.freeze({ job, model });
}
