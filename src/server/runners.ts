/**
 * The narrow interface through which endpoints and transform jobs run, so the API, the records,
 * their transitions and restarts live here while the hosting code (real-time endpoints, batch
 * transform) plugs in from its own folder. The server owns the record; a runner reports progress
 * through `onStatus` and never writes the store itself.
 *
 * With no runner registered, CreateEndpoint / CreateTransformJob still validate and store their
 * records, which then end `Failed` with FailureReason HOSTING_UNAVAILABLE (and the dashboard and
 * List show them so).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const HOSTING_UNAVAILABLE = 'ClientError: hosting is not available in this build of pipemode server (no endpoint runner is registered)';
export const TRANSFORM_UNAVAILABLE = 'ClientError: batch transform is not available in this build of pipemode server (no transform runner is registered)';

/** What an endpoint runner is given: the endpoint with its config and models, as stored. */
export interface EndpointPlan {
  readonly endpointName: string;
  readonly endpointArn: string;
  /** The DescribeEndpointConfig record the endpoint deploys. */
  readonly config: Readonly<Record<string, unknown>>;
  /** DescribeModel records by ModelName, for every variant of the config. */
  readonly models: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** A folder of its own for this endpoint (model archives unpacked, container base dirs). */
  readonly dir: string;
  /** Each container output line goes here (log group /aws/sagemaker/Endpoints/<name>). */
  readonly output: (stream: string, line: string) => void;
}

export interface EndpointStatusReport {
  readonly status: 'Creating' | 'Updating' | 'InService' | 'Failed' | 'RollingBack';
  readonly failureReason?: string;
  /** Per-variant state (CurrentWeight, CurrentInstanceCount, DeployedImages, …), merged into ProductionVariants. */
  readonly variants?: readonly Readonly<Record<string, unknown>>[];
}

/** Requests per second and latency over the last minutes, for the dashboard. */
export interface EndpointMetrics {
  readonly points: readonly { readonly t: number; readonly requests: number; readonly p50Ms: number; readonly p99Ms: number }[];
}

export interface RunningEndpoint {
  /** Deploys a new config (UpdateEndpoint): report Updating, then InService (or RollingBack/Failed). */
  update(plan: EndpointPlan): void;
  /** Changes weights and instance counts (UpdateEndpointWeightsAndCapacities). */
  updateWeightsAndCapacities(desired: readonly { readonly VariantName: string; readonly DesiredWeight?: number | undefined; readonly DesiredInstanceCount?: number | undefined }[]): void;
  /** Stops every container (SIGTERM, then SIGKILL after the grace period). */
  stop(): Promise<void>;
  /** Serves the Runtime API (`/endpoints/<name>/invocations…`) for this endpoint; body already read and verified. */
  invoke(req: IncomingMessage, res: ServerResponse, body: Buffer): void;
  metrics?(): EndpointMetrics;
}

export interface EndpointRunner {
  /** Starts an endpoint (create, or bring it back after a restart); reports through onStatus. */
  start(plan: EndpointPlan, onStatus: (report: EndpointStatusReport) => void): RunningEndpoint;
}

export interface TransformPlan {
  readonly transformJobName: string;
  /** The DescribeTransformJob record as created (request fields + ARN). */
  readonly request: Readonly<Record<string, unknown>>;
  readonly model: Readonly<Record<string, unknown>>;
  readonly dir: string;
  readonly output: (stream: string, line: string) => void;
  readonly signal: AbortSignal;
}

export interface TransformStatusReport {
  readonly status: 'InProgress' | 'Completed' | 'Failed' | 'Stopped';
  readonly failureReason?: string;
}

export interface TransformRunner {
  /** Runs a transform job to its end; resolves with the final status. Stop = `plan.signal` aborted. */
  run(plan: TransformPlan, onStatus: (report: TransformStatusReport) => void): Promise<TransformStatusReport>;
}

export interface Runners {
  readonly endpoints?: EndpointRunner | undefined;
  readonly transforms?: TransformRunner | undefined;
}
