/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core, headless): the key
 * URL the server prints opens it; the overview lists a running training job; its page shows the
 * per-channel counters, uPlot charts, the transitions and the log tail, and updates by itself
 * (new log lines and a new "updated" time without a reload). A screenshot goes to
 * docs/dashboard.png when PIPEMODE_UPDATE_SCREENSHOT=1 (the README shows it), else to a temp folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from '../helpers/cli.js';
import { runPython } from '../helpers/python-aws.js';
import { startServerProcess } from '../helpers/server-process.js';

const CHROMIUM = '/usr/bin/chromium';

test('dashboard: a running job renders and updates itself in headless Chromium', { skip: !fs.existsSync(CHROMIUM) && 'no /usr/bin/chromium' }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipemode-dashboard-'));
  const data = path.join(tmp, 'data');
  fs.mkdirSync(data);
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(data, `part-${i}.bin`), crypto.randomBytes(2_000_000));
  const server = await startServerProcess(path.join(tmp, 'state'));
  const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1240, height: 1100 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const job = {
      TrainingJobName: 'dashboard-demo', RoleArn: 'arn:aws:iam::000000000000:role/pipemode',
      AlgorithmSpecification: {
        TrainingInputMode: 'Pipe',
        ContainerEntrypoint: ['sh', '-c', 'i=0; while [ $i -lt 200 ]; do n=$(wc -c < "$SM_INPUT_DIR/data/train_$i"); echo "epoch $i: $n bytes"; i=$((i+1)); sleep 0.4; done'],
      },
      InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `${data}/` } } }],
      OutputDataConfig: { S3OutputPath: path.join(tmp, 'out') },
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large', VolumeSizeInGB: 1 },
    };
    const r = await runPython(`import boto3, json, sys; boto3.client("sagemaker").create_training_job(**json.loads(sys.argv[1]))`.replace('sys.argv[1]', JSON.stringify(JSON.stringify(job))), { env: server.clientEnv() });
    assert.equal(r.code, 0, r.stderr);

    const page = await context.newPage();
    const unauthorized = await page.goto(`${server.url}/dashboard/api/overview`);
    assert.equal(unauthorized?.status(), 401, 'no key, no views');
    await page.goto(server.dashboardUrl);
    assert.equal(new URL(page.url()).search, '', 'the key moved into a cookie');
    const row = page.locator('#training-jobs tr', { hasText: 'dashboard-demo' });
    await row.waitFor({ timeout: 15_000 });
    assert.match(await row.innerText(), /InProgress/);
    await row.locator('a').click();
    await page.locator('#channels td', { hasText: 'algo-1/train' }).waitFor({ timeout: 20_000 });
    await page.locator('.uplot').first().waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('.uplot').count(), 2, 'throughput and starvation charts');
    const logBefore = await page.locator('#log').innerText();
    const updatedBefore = await page.locator('#updated').innerText();
    for (let i = 0; i < 100 && (await page.locator('#log').innerText()) === logBefore; i++) await page.waitForTimeout(100);
    assert.notEqual(await page.locator('#log').innerText(), logBefore, 'new log lines arrived without a reload');
    for (let i = 0; i < 50 && (await page.locator('#updated').innerText()) === updatedBefore; i++) await page.waitForTimeout(100);
    assert.notEqual(await page.locator('#updated').innerText(), updatedBefore, 'the page polls by itself');
    assert.match(await page.locator('#log').innerText(), /epoch \d+: 6000000 bytes/);
    assert.match(await page.locator('#transitions').innerText(), /Starting[\s\S]*Training/);
    await page.waitForTimeout(4000); // a few chart points
    const shot = process.env.PIPEMODE_UPDATE_SCREENSHOT === '1' ? path.join(ROOT, 'docs', 'dashboard.png') : path.join(tmp, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: false });
    assert.ok(fs.statSync(shot).size > 10_000);
  } finally {
    await context.close();
    server.child.kill('SIGTERM');
    await server.exited;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
