/**
 * A training job on Kubernetes, one pod per host, without cluster changes (`pipemode k8s`):
 *
 *   ConfigMap  <name>-request   the CreateTrainingJob request, mounted at /etc/pipemode/job.json
 *   Service    <name>           headless (clusterIP None, not-ready addresses published): each pod
 *                               gets the DNS name <name>-<i>.<name>
 *   Job        <name>           Indexed, N completions, all in parallel, backoffLimit 0 (a host that
 *                               fails fails the job, and Kubernetes stops the other pods, as
 *                               SageMaker does); each pod runs
 *                               `pipemode train /etc/pipemode/job.json --host-rank <index>
 *                               --host-count N --base-dir /opt/ml --k8s-hosts-from-dns <name>`
 *
 * IPs are not known in advance (hostAliases cannot name them), so `--k8s-hosts-from-dns` resolves
 * every peer's DNS name when the pod starts and writes `algo-<i+1>` aliases into the pod's own
 * /etc/hosts (k8s-hosts.ts) before the trainer starts. `<name>` is the job name made a DNS label
 * (lower case).
 */
import { stringify } from 'yaml';
import type { JobSpec } from './job-spec.js';

export interface K8sOptions {
  /** The image with pipemode (and the trainer's runtime) installed. */
  readonly image: string;
  readonly namespace?: string;
  /** The request as the user wrote it (JSON text), put in the ConfigMap. */
  readonly requestText: string;
}

/** The job name as a DNS-1123 label (Kubernetes object and pod host names). */
export function k8sName(jobName: string): string {
  return jobName.toLowerCase();
}

export const REQUEST_PATH = '/etc/pipemode/job.json';

/** The manifests (ConfigMap, headless Service, Indexed Job) as one YAML stream. */
export function renderK8sJob(job: JobSpec, options: K8sOptions): string {
  const name = k8sName(job.name);
  const count = job.instanceCount;
  const meta = (objName: string): Record<string, unknown> => ({
    name: objName,
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    labels: { 'app.kubernetes.io/managed-by': 'pipemode', 'pipemode/training-job': name },
  });
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(`${name}-request`), data: { 'job.json': options.requestText } };
  const service = {
    apiVersion: 'v1', kind: 'Service', metadata: meta(name),
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { 'pipemode/training-job': name } },
  };
  const k8sJob = {
    apiVersion: 'batch/v1', kind: 'Job', metadata: meta(name),
    spec: {
      completionMode: 'Indexed', completions: count, parallelism: count, backoffLimit: 0,
      activeDeadlineSeconds: job.maxRuntimeSeconds + 600,
      template: {
        metadata: { labels: { 'pipemode/training-job': name } },
        spec: {
          subdomain: name,
          restartPolicy: 'Never',
          containers: [{
            name: 'algo',
            image: options.image,
            command: ['pipemode', 'train', REQUEST_PATH, '--host-rank', '$(PIPEMODE_HOST_RANK)', '--host-count', String(count),
              '--base-dir', '/opt/ml', '--k8s-hosts-from-dns', name],
            env: [{ name: 'PIPEMODE_HOST_RANK', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }],
            volumeMounts: [{ name: 'request', mountPath: '/etc/pipemode', readOnly: true }],
          }],
          volumes: [{ name: 'request', configMap: { name: `${name}-request` } }],
        },
      },
    },
  };
  return [configMap, service, k8sJob].map((doc) => stringify(doc, { lineWidth: 0 })).join('---\n');
}
