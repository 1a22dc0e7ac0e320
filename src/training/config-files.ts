/**
 * The three config files SageMaker writes before a training container starts, in the documented
 * shapes, and the host's folders (mode 0700: a job's data and model are nobody else's business):
 *
 *   input/config/hyperparameters.json   {"name": "value", …}  (values are strings)
 *   input/config/inputdataconfig.json   {"<ch>": {ContentType?, TrainingInputMode, S3DistributionType, RecordWrapperType}}
 *   input/config/resourceconfig.json    {current_host, current_instance_type, current_group_name, hosts, instance_groups, network_interface_name}
 *   input/config/checkpointconfig.json  {LocalPath, S3Uri}  (only with CheckpointConfig)
 */
import fs from 'node:fs';
import path from 'node:path';
import { hostName, hostNames, type ConfigFiles, type HostIdentity, type HostLayout } from '../container/container-layout.js';
import { inputModeOf, type JobSpec } from './job-spec.js';

/** `networkInterface`: the host's interface (`eth0` in its own namespace; else this machine's default-route one). */
export function configFiles(job: JobSpec, host: HostIdentity, networkInterface = 'eth0'): ConfigFiles {
  const inputdataconfig: Record<string, Record<string, string>> = {};
  for (const c of job.channels) {
    inputdataconfig[c.name] = {
      ...(c.contentType !== undefined ? { ContentType: c.contentType } : {}),
      TrainingInputMode: inputModeOf(job, c),
      S3DistributionType: c.distribution,
      RecordWrapperType: c.recordWrapper,
    };
  }
  const hosts = hostNames(host.count);
  return {
    hyperparameters: { ...job.hyperParameters },
    inputdataconfig,
    resourceconfig: {
      current_host: hostName(host.rank),
      current_instance_type: job.instanceType,
      current_group_name: 'homogeneousCluster',
      hosts,
      instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: job.instanceType, hosts }],
      network_interface_name: networkInterface,
    },
  };
}

/** The interface of this machine's default route (/proc/net/route), else `lo`: hosts sharing its network. */
export function defaultRouteInterface(routes = '/proc/net/route'): string {
  try {
    for (const line of fs.readFileSync(routes, 'utf8').split('\n').slice(1)) {
      const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
      if (iface !== undefined && destination === '00000000' && mask === '00000000') return iface;
    }
  } catch {
    // no /proc: not Linux
  }
  return 'lo';
}

/** Creates the layout (0700 directories) and writes the config files. */
export function writeLayout(layout: HostLayout, files: ConfigFiles, job: JobSpec): void {
  for (const dir of [layout.configDir, layout.dataDir, layout.modelDir, layout.outputDataDir, layout.checkpointDir, layout.codeDir]) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  fs.chmodSync(layout.base, 0o700);
  const write = (name: string, value: unknown): void => {
    fs.writeFileSync(path.join(layout.configDir, name), JSON.stringify(value), { mode: 0o600 });
  };
  write('hyperparameters.json', files.hyperparameters);
  write('inputdataconfig.json', files.inputdataconfig);
  write('resourceconfig.json', files.resourceconfig);
  if (job.checkpoint !== undefined) write('checkpointconfig.json', { LocalPath: layout.checkpointDir, S3Uri: job.checkpoint.text });
}
