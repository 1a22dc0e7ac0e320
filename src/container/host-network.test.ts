import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupScript, HOST_SUBNET, MAX_NAMESPACED_HOSTS, planHostNetwork, validIfName } from './host-network.js';
import { keepEnvironment, namespacedCommand } from './host-namespace.js';

test('planHostNetwork: names fit Linux limits, are unique, differ between jobs; addresses unique inside the subnet', () => {
  for (const count of [1, 2, 3, 10, 64, MAX_NAMESPACED_HOSTS]) {
    const plan = planHostNetwork(`/tmp/jobs/job-${count}`, count);
    const links = [plan.bridge, ...plan.hosts.flatMap((h) => [h.veth, h.peer])];
    for (const l of links) assert.ok(validIfName(l), l);
    assert.equal(new Set(links).size, links.length);
    assert.equal(new Set(plan.hosts.map((h) => h.netns)).size, count);
    const last = plan.hosts.map((h) => Number(h.address.split('.')[3]));
    assert.equal(new Set(last).size, count);
    for (const n of last) assert.ok(n >= 1 && n <= 254);
    for (const h of plan.hosts) assert.ok(h.address.startsWith(HOST_SUBNET.slice(0, HOST_SUBNET.lastIndexOf('.') + 1)));
    assert.deepEqual(plan.hosts.map((h) => h.name), Array.from({ length: count }, (_, i) => `algo-${i + 1}`));
    // every host is named in the hosts file, with its address
    for (const h of plan.hosts) assert.ok(plan.hostsFile.split('\n').includes(`${h.address}\t${h.name}`));
  }
  assert.notEqual(planHostNetwork('/a/job', 2).tag, planHostNetwork('/b/job', 2).tag);
  assert.deepEqual(planHostNetwork('/a/job', 2), planHostNetwork('/a/job', 2));
  assert.throws(() => planHostNetwork('/a', MAX_NAMESPACED_HOSTS + 1), { code: 'PM_ERR_HOST_NETWORK' });
});

test('cleanupScript removes every link, namespace and hosts folder of the plan, and itself', () => {
  const plan = planHostNetwork('/x/y', 3);
  const script = cleanupScript(plan, '/run/pipemode-hosts/t.1.sh');
  for (const h of plan.hosts) {
    assert.ok(script.includes(`ip link del ${h.veth} `));
    assert.ok(script.includes(`ip netns del ${h.netns} `));
    assert.ok(script.includes(`/etc/netns/${h.netns}'`));
  }
  assert.ok(script.includes(`ip link del ${plan.bridge} `));
  assert.ok(script.includes(`rm -f '/run/pipemode-hosts/t.1.sh'`));
});

test('namespacedCommand: ip netns exec only with a network namespace; the command comes last, unchanged', () => {
  const cmd = ['python3', 'train.py', '--lr', "0.1 'x'"];
  const withNet = namespacedCommand({ hostname: 'algo-2', baseDir: '/j/algo-2', netns: 'pipemode-abc-algo-2', pid: true }, cmd);
  assert.deepEqual(withNet.slice(0, 4), ['ip', 'netns', 'exec', 'pipemode-abc-algo-2']);
  assert.deepEqual(withNet.slice(-cmd.length), cmd);
  const mountOnly = namespacedCommand({ hostname: 'algo-1', baseDir: '/j/algo-1', hostsFile: '/j/hosts', cwd: '/j/algo-1/code', pid: false }, cmd);
  assert.equal(mountOnly[0], 'unshare');
  assert.deepEqual(mountOnly.slice(-cmd.length - 5), ['pipemode-host', 'algo-1', '/j/algo-1', '/j/hosts', '/j/algo-1/code', ...cmd]);
  // without root: a user namespace as root for the set-up, the command mapped back to the user
  const rootless = namespacedCommand({ hostname: 'algo-1', baseDir: '/j/algo-1', hostsFile: '/j/hosts', pid: false, user: { uid: 1000, gid: 100 } }, cmd);
  assert.deepEqual(rootless.slice(0, 3), ['unshare', '--user', '--map-root-user']);
  assert.ok(!rootless.includes('--pid'));
  assert.deepEqual(rootless.slice(-cmd.length - 7), ['pipemode-host', 'algo-1', '/j/algo-1', '/j/hosts', '', '1000', '100', ...cmd]);
  assert.match(rootless[rootless.indexOf('-c') + 1] as string, /exec unshare --user --map-user="\$u" --map-group="\$g" "\$@"$/);
});

test('keepEnvironment passes variables a shell would drop through env, and only those', () => {
  assert.deepEqual(keepEnvironment({ A: '1', 'SM_HP_LEARNING-RATE': '1e-05' }, ['python3', 'x.py']), ['env', 'SM_HP_LEARNING-RATE=1e-05', 'python3', 'x.py']);
  assert.deepEqual(keepEnvironment({ A: '1' }, ['python3']), ['python3']);
});
