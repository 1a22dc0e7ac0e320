/**
 * `pipemode k8s JOB.json --image IMAGE`: prints the Kubernetes manifests (ConfigMap, headless
 * Service, Indexed Job) that run the training job with one pod per host (training/k8s-job.ts).
 */
import fs from 'node:fs';
import { readSpecFile } from '../../channel/spec-file.js';
import { ConfigError } from '../../core/errors.js';
import { resolveJob } from '../../training/job-spec.js';
import { renderK8sJob } from '../../training/k8s-job.js';

export function k8sCommand(file: string, flags: { readonly image?: string; readonly namespace?: string; readonly hosts?: string }): void {
  if (flags.image === undefined || flags.image === '') throw new ConfigError('--image names the image with pipemode and the trainer installed', { field: '--image' });
  const request = readSpecFile(file) as Record<string, unknown>;
  if (flags.hosts !== undefined) {
    const n = Number(flags.hosts);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ConfigError(`--hosts must be a whole number from 1 to 10000, got "${flags.hosts}"`, { field: '--hosts' });
    request.ResourceConfig = { ...(request.ResourceConfig as Record<string, unknown> | undefined), InstanceCount: n };
  }
  const job = resolveJob(request, file);
  fs.writeSync(1, renderK8sJob(job, {
    image: flags.image, requestText: JSON.stringify(request, null, 2), ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
  }));
}
