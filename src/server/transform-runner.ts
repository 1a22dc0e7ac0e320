/**
 * The server's transform runner: a CreateTransformJob runs through exactly the code
 * `pipemode transform` runs — the stored CreateTransformJob and CreateModel records become the
 * same JOB document (transform/transform-job-file.ts) and `runTransform` takes it to its end
 * (transform/run-transform.ts) in the job's folder under the state dir. StopTransformJob aborts the
 * plan's signal (the run stops its containers and records Stopped); the containers' output goes to
 * the log group `/aws/sagemaker/TransformJobs`.
 */
import { isPipemodeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ImagesMap } from '../hosting/images-file.js';
import type { Stores } from '../storage/stores.js';
import { resolveTransformJobFile } from '../transform/transform-job-file.js';
import { runTransform } from '../transform/run-transform.js';
import type { TransformPlan, TransformRunner, TransformStatusReport } from './runners.js';

type Rec = Record<string, unknown>;

export interface TransformRunnerOptions {
  readonly images: ImagesMap;
  readonly stores: Stores;
  readonly log: Logger;
  readonly region: string;
}

/** Fields the server adds to a record (the API's output), not part of the Create requests. */
const TRANSFORM_OUTPUT_FIELDS = ['TransformJobArn', 'TransformJobStatus', 'FailureReason', 'CreationTime', 'LastModifiedTime', 'TransformStartTime', 'TransformEndTime', 'ModelPackageGroupName', 'AutoMLJobArn', 'LabelingJobArn'];
const MODEL_OUTPUT_FIELDS = ['ModelArn', 'CreationTime', 'DeploymentRecommendation'];

function without(record: Readonly<Rec>, keys: readonly string[]): Rec {
  const out = { ...record };
  for (const k of keys) delete out[k];
  return out;
}

const MAX_FAILURE_REASON = 1024;

export function createTransformRunner(options: TransformRunnerOptions): TransformRunner {
  return {
    async run(plan: TransformPlan, onStatus: (report: TransformStatusReport) => void): Promise<TransformStatusReport> {
      const doc = { Models: [without(plan.model, MODEL_OUTPUT_FIELDS)], TransformJob: without(plan.request, TRANSFORM_OUTPUT_FIELDS) };
      onStatus({ status: 'InProgress' });
      try {
        const jobFile = resolveTransformJobFile(doc, `transform job ${plan.transformJobName}`);
        const outcome = await runTransform(jobFile, {
          jobDir: plan.dir,
          stores: options.stores,
          images: options.images,
          region: options.region,
          log: options.log,
          signal: plan.signal,
          onLine: (label, line) => plan.output(label, line),
        });
        const reason = outcome.failureReason?.slice(0, MAX_FAILURE_REASON);
        return { status: outcome.status, ...(reason !== undefined ? { failureReason: reason } : {}) };
      } catch (err) {
        // a failure of the job's own (an unmapped image, model data that cannot be fetched): the
        // job fails with it, as SageMaker would say it; anything else is the server's bug
        if (!isPipemodeError(err)) throw err;
        return { status: 'Failed', failureReason: `ClientError: ${err.message} [${err.code}]`.slice(0, MAX_FAILURE_REASON) };
      }
    },
  };
}
