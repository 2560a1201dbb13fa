// The web demo (web-demo/, built with Vite) in Chromium, served by a real ssebus-server:
// every panel driven by clicks and checked in the DOM. Nothing here waits for a fixed
// time: each step waits for the page (or the server) to reach the state it expects.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { clock } from '../../web-demo/src/format.js';
import { serverBinary, startServer } from '../support/server.js';
import { launchChromium } from './chromium.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const distDir = join(root, 'web-demo', 'dist');
const devDir = join(root, 'build', 'web-demo-dev');
const artifacts = join(root, 'build', 'artifacts');
const muxSecret = 'x';
const serverArgs = (dir) => [
  '--demo',
  '--static-dir', dir,
  '--demo-step-ms', '50',
  '--mux-secret', muxSecret,
  '--retry-ms', '200',
  '--quiet',
];

const stats = async (server) => (await fetch(`${server.url}/api/events/stats`)).json();

// The server as it comes back from a restart that kept no secrets: on the same port, with
// a publisher key and a JWT secret of its own (startServer's are fixed).
async function startWithNewSecrets(port) {
  const dataDir = mkdtempSync(join(tmpdir(), 'ssebus-data-'));
  const proc = spawn(
    serverBinary,
    ['--address', '127.0.0.1', '--port', String(port), '--publisher-key', `key-${randomUUID()}`,
      '--jwt-secret', `secret-${randomUUID()}`, '--data-dir', join(dataDir, 'data'), ...serverArgs(distDir)],
    { stdio: ['ignore', 'inherit', 'pipe'] },
  );
  const exited = new Promise((resolve) => proc.on('exit', resolve)).then((code) => {
    rmSync(dataDir, { recursive: true, force: true });
    return code;
  });
  let log = '';
  await new Promise((resolve, reject) => {
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      if (/listening on http/.test(log)) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`ssebus-server exited with ${code}:\n${log}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

// How many lines the text of `locator` takes.
const lines = (locator) =>
  locator.evaluate((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
  });

// Whether the element is entirely inside the window.
const onScreen = (locator) =>
  locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
  });

// What the browser reports: console errors and uncaught exceptions, and the requests made.
async function openDashboard(browser, server) {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1440, height: 900 });
  page.setDefaultTimeout(20_000);
  const problems = [];
  const requests = [];
  const messages = [];
  const debugMessages = [];
  page.on('console', (m) => {
    messages.push(m.text());
    if (m.type() === 'debug') debugMessages.push(m.text());
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
  await page.goto(`${server.url}/`);
  await connection(page, 'open').waitFor();
  return { page, problems, requests, messages, debugMessages };
}

const connection = (page, state) => page.locator(`[data-testid=connection][data-state=${state}]`);
const videoRow = (page, id) => page.locator(`[data-testid=video-row][data-video-id="${id}"]`);
const logEntries = (page, name) => page.locator(`[data-testid=log-entry][data-name="${name}"]`);
const stream = (page, id) => page.locator(`[data-testid=stream][data-stream="${id}"]`);

async function countAtLeast(page, selector, n) {
  const enough = ({ selector, n }) => document.querySelectorAll(selector).length >= n;
  await page.waitForFunction(enough, { selector, n }, { polling: 50 });
}

// A webhook as Mux signs it: HMAC-SHA256 of `t.body` with the shared secret.
async function sendMuxWebhook(server, type, assetId, data = {}) {
  const body = JSON.stringify({ type, id: `wh-${randomUUID()}`, data: { id: assetId, ...data } });
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', muxSecret).update(`${t}.${body}`).digest('hex');
  const res = await fetch(`${server.url}/api/webhooks/mux`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'mux-signature': `t=${t},v1=${v1}` },
    body,
  });
  assert.equal(res.status, 200, await res.text());
}

// Sends a test event from the form; returns the server's answer as the page shows it.
async function sendTestEvent(page, { target, id, message, arrives = true }) {
  const form = page.locator('form', { has: page.locator('input[name=message]') });
  await form.locator('select[name=target]').selectOption(target);
  if (id !== undefined) await form.locator('input[name=target-id]').fill(id);
  await form.locator('input[name=message]').fill(message);
  await form.getByRole('button', { name: 'Send test event' }).click();
  const result = page.locator(`[data-testid=test-result][data-message="${message}"]`);
  await result.waitFor();
  if (arrives) await page.locator('[data-testid=log-entry]', { hasText: message }).first().waitFor();
  return result.textContent();
}

let browser;
before(async () => {
  browser = await launchChromium();
});
after(() => browser?.close());

describe('the web demo in Chromium, served by ssebus-server', () => {
  let server;
  let page;
  let problems;
  let requests;
  let debugMessages;

  before(async () => {
    await run(join(root, 'scripts', 'build-demo'), [], { cwd: root });
    server = await startServer(serverArgs(distDir));
    ({ page, problems, requests, debugMessages } = await openDashboard(browser, server));
  });
  after(async () => {
    await page?.close();
    await server?.stop();
    // Cookies do not tell ports apart: ana's token would reach the next server.
    await browser.context.clearCookies();
  });

  it('opens one stream on /api/events and shows it live', async () => {
    assert.match(await connection(page, 'open').textContent(), /^Live/);
    assert.deepEqual(
      requests.filter((r) => r.startsWith('GET /api/events') && !r.includes('stats')),
      ['GET /api/events'],
    );
    const s = await until('the server to count the page', async () => {
      const s = await stats(server);
      return s.clients_by_route['/api/events'] === 1 ? s : null;
    });
    assert.equal(s.active_clients, 1);
    // The panel shows the same numbers.
    await page.locator('[data-testid=active-clients]', { hasText: /^1$/ }).waitFor();
  });

  it('refreshes the video list on video:created and video:updated (refresh:list:view)', async () => {
    await sendMuxWebhook(server, 'video.asset.created', 'asset-external', { status: 'preparing' });
    await videoRow(page, 'asset-external').waitFor();
    assert.equal(await videoRow(page, 'asset-external').getAttribute('data-status'), 'preparing');
    await sendMuxWebhook(server, 'video.asset.ready', 'asset-external', {
      status: 'ready',
      duration: 75,
      playback_ids: [{ id: 'pb-1', policy: 'public' }],
    });
    await page.locator('[data-testid=video-row][data-video-id="asset-external"][data-status=ready]').waitFor();
    assert.match(await videoRow(page, 'asset-external').textContent(), /1:15/);
    await logEntries(page, 'refresh:list:view').nth(1).waitFor();
  });

  let uploadedVideo;
  it('shows a simulated upload progressing to 100%, then the new video in the list', async () => {
    await page.getByRole('button', { name: 'Upload a sample video' }).click();
    const upload = page.locator('[data-testid=upload][data-state=completed]').first();
    await upload.waitFor();
    assert.equal(await upload.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
    assert.match(await upload.textContent(), /product-launch\.mp4/);
    // Every step arrived live: 0, 10, ..., 100.
    await countAtLeast(page, '[data-testid=log-entry][data-name=video_upload_progress]', 10);
    await logEntries(page, 'video_upload_started').first().waitFor();
    await logEntries(page, 'video_upload_completed').first().waitFor();

    uploadedVideo = await upload.getAttribute('data-video-id');
    assert.match(uploadedVideo, /^video-/);
    await videoRow(page, uploadedVideo).waitFor();
    assert.match(await videoRow(page, uploadedVideo).textContent(), /product-launch\.mp4/);
  });

  it('runs the processing pipeline of a video through every stage to ready', async () => {
    const row = videoRow(page, uploadedVideo);
    await row.getByRole('button', { name: 'Process' }).click();
    const done = row.locator('[data-testid=pipeline][data-status=ready]');
    await done.waitFor();
    for (const stage of ['downloading', 'transcoding', 'uploading', 'ready']) {
      assert.equal(await row.locator(`[data-stage=${stage}]`).getAttribute('data-state'), 'done', stage);
    }
    assert.equal(await done.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
    // The list follows the server's record (video:updated -> refresh:list:view).
    await page.locator(`[data-testid=video-row][data-video-id="${uploadedVideo}"][data-status=ready]`).waitFor();
    // Each stage reached the page as video_update events of its own stream.
    const updates = (await logEntries(page, 'video_update').allTextContents()).join('\n');
    for (const type of ['video_downloading', 'video_transcoding', 'video_uploading', 'video_status_update']) {
      assert.match(updates, new RegExp(type));
    }
    assert.equal(requests.filter((r) => r === `POST /videos/${uploadedVideo}/process`).length, 1);
    assert.equal(requests.filter((r) => r === `GET /videos/${uploadedVideo}/status`).length, 1);
  });

  it('simulates Mux webhooks through the signed path: a new asset, then ready', async () => {
    const panel = page.locator('section', { has: page.getByRole('heading', { name: 'Mux webhook' }) });
    await panel.locator('select[name=mux-type]').selectOption('video.asset.created');
    await panel.getByRole('button', { name: 'Simulate Mux webhook' }).click();
    const result = page.locator('[data-testid=mux-result]', { hasText: 'verified' });
    await result.waitFor();
    const asset = await result.getAttribute('data-asset-id');
    await videoRow(page, asset).waitFor();
    assert.equal(await videoRow(page, asset).getAttribute('data-status'), 'preparing');

    await panel.locator('select[name=mux-type]').selectOption('video.asset.ready');
    await panel.locator('select[name=mux-asset]').selectOption(asset);
    await panel.getByRole('button', { name: 'Simulate Mux webhook' }).click();
    await page.locator(`[data-testid=video-row][data-video-id="${asset}"][data-status=ready]`).waitFor();
    await page.locator('[data-testid=log-entry][data-name=video_status_ready]', { hasText: asset }).first().waitFor();
  });

  it('sends test events to all, this client, and (signed in) this user, session and broadcast', async () => {
    // Each send checks the server's answer (how many streams it reached) and the log.
    const send = (target, message, id) => sendTestEvent(page, { target, id, message: `${message} ${randomUUID()}` });
    assert.match(await send('all', 'to all'), /delivered to 1 client$/);
    // The client id is filled in with this page's.
    assert.match(await send('client', 'to me'), /delivered to 1 client$/);

    await page.locator('input[name=user]').fill('ana');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-testid=identity]', { hasText: 'signed in as ana' }).waitFor();
    await until('the stream to reconnect as ana', async () => {
      const s = await stats(server);
      return s.authenticated_clients === 1 && s.clients_by_route['/api/events'] === 1;
    });
    await connection(page, 'open').waitFor();
    assert.match(await send('user', 'to ana', 'ana'), /delivered to 1 client$/);
    // The session id is filled in with this page's.
    assert.match(await send('session', 'to my session'), /delivered to 1 client$/);
    assert.match(await send('broadcast', 'to signed-in clients'), /delivered to 1 client$/);

    // Another user's event does not reach this page: the next event to everyone arrives
    // on the same stream after it, without it.
    const forBen = `to ben ${randomUUID()}`;
    const answer = await sendTestEvent(page, { target: 'user', id: 'ben', message: forBen, arrives: false });
    assert.match(answer, /delivered to 0 clients$/);
    await send('all', 'after ben');
    assert.equal(await page.locator('[data-testid=log-entry]', { hasText: forBen }).count(), 0);
  });

  it('starts, pauses, resumes and stops a demo stream, and shows its events', async () => {
    const tile = stream(page, 'default');
    const count = async () => Number(await tile.locator('[data-testid=stream-count]').getAttribute('data-count'));
    await page.locator('[data-testid=stream][data-stream=default][data-state=running]').waitFor();
    await until('a first tick', async () => (await count()) > 0);

    await tile.getByRole('button', { name: 'Pause' }).click();
    await page.locator('[data-testid=stream][data-stream=default][data-state=paused]').waitFor();
    await tile.getByRole('button', { name: 'Resume' }).click();
    await page.locator('[data-testid=stream][data-stream=default][data-state=running]').waitFor();
    const resumed = await count();
    await until('a tick after resume', async () => (await count()) > resumed);

    await tile.getByRole('button', { name: 'Stop' }).click();
    await page.locator('[data-testid=stream][data-stream=default][data-state=stopped]').waitFor();
    assert.equal(await tile.getByRole('button', { name: 'Start' }).isEnabled(), true);
    assert.equal(await tile.getByRole('button', { name: 'Resume' }).isEnabled(), false);
    await tile.getByRole('button', { name: 'Start' }).click();
    await page.locator('[data-testid=stream][data-stream=default][data-state=running]').waitFor();
    // A stopped stream starts counting again: its first event is #1 (it had sent more
    // than one before, so this is the new run's).
    await tile.locator('[data-testid=stream-last]', { hasText: /^Tick #1$/ }).waitFor();
  });

  it('has a debug switch that passes debug: true to the bridge', async () => {
    const toggle = page.locator('input[name=debug]');
    assert.equal(await toggle.isEnabled(), true);
    assert.equal(await toggle.isChecked(), false);
    // Each switch opens a new stream, the old one closed.
    const reopened = async (opened) => {
      await until('a new stream', async () => {
        const s = await stats(server);
        return s.connections_total > opened && s.clients_by_route['/api/events'] === 1;
      });
      await connection(page, 'open').waitFor();
    };
    const before = debugMessages.length;
    let opened = (await stats(server)).connections_total;
    await toggle.check();
    await reopened(opened);
    // The bridge with debug on says what it does on console.debug.
    await until('the bridge to log with console.debug', () => debugMessages.length > before);
    await sendTestEvent(page, { target: 'all', message: `debug on ${randomUUID()}` });

    opened = (await stats(server)).connections_total;
    await toggle.uncheck();
    await reopened(opened);
    const after = debugMessages.length;
    await sendTestEvent(page, { target: 'all', message: `debug off ${randomUUID()}` });
    assert.equal(debugMessages.length, after, 'the bridge still logs with debug off');
    assert.equal(await page.evaluate(() => localStorage.getItem('ssebus-demo-debug')), null);
  });

  it('logged no console error, and still has one stream open', async () => {
    assert.deepEqual(problems, []);
    const s = await stats(server);
    assert.equal(s.clients_by_route['/api/events'], 1);
  });

  it('fits the window from desktop down to 360 px: no sideways scroll, the connection control in view', async () => {
    await mkdir(artifacts, { recursive: true });
    const title = videoRow(page, uploadedVideo).locator('.video-title');
    const sizes = [
      { width: 1440, height: 900, shot: 'demo.png', fullPage: true },
      { width: 390, height: 844, shot: 'demo-phone.png', fullPage: false },
      { width: 360, height: 740 },
    ];
    for (const { width, height, shot, fullPage } of sizes) {
      await page.setViewportSize({ width, height });
      await page.evaluate(() => window.scrollTo(0, 0));
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      }));
      assert.equal(innerWidth, width);
      assert.ok(scrollWidth <= innerWidth, `at ${width} px the page is ${scrollWidth} px wide`);
      assert.ok(await onScreen(connection(page, 'open')), `at ${width} px the connection indicator is off screen`);
      const control = page.getByRole('button', { name: 'Disconnect' });
      assert.ok(await control.isVisible(), `at ${width} px Disconnect is hidden`);
      assert.ok(await onScreen(control), `at ${width} px Disconnect is off screen`);
      assert.equal(await lines(title), 1, `at ${width} px the file name wraps`);
      if (shot) {
        // build/artifacts/demo.png and demo-phone.png: what docs/ shows.
        const png = await page.screenshot({ path: join(artifacts, shot), fullPage });
        assert.equal(png.readUInt32BE(16), width, 'the screenshot is as wide as the window');
      }
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('after a restart with new secrets: reconnecting, Retry now, signed in again, Pause and Send work', async () => {
    const { port } = server;
    const stoppedAt = Date.now();
    await server.stop();
    const next = page.locator('[data-testid=connection][data-state=reconnecting] [data-testid=next-attempt]');
    await next.waitFor();
    const at = Number(await next.getAttribute('data-at'));
    const attempt = Number(await next.getAttribute('data-attempt'));
    assert.ok(attempt >= 1, `attempt ${attempt}`);
    // The backoff's next attempt: after the failure, and at most reconnect.maxMs (30 s) on.
    assert.ok(at >= stoppedAt && at <= Date.now() + 30_000, `the next attempt at ${new Date(at).toISOString()}`);
    assert.match(await next.textContent(), new RegExp(`attempt ${attempt} (at ${clock(at)}, in \\d+ s|running)$`));
    // With the stream down, the page does not know what the generators do.
    await page.locator('[data-testid=stream][data-stream=default][data-state=unknown]').waitFor();
    assert.equal(await stream(page, 'default').getByRole('button', { name: 'Pause' }).isEnabled(), false);

    // Retry now: an attempt at once, and the backoff starts over.
    await page.locator('[data-testid=next-attempt]:not([data-attempt="1"])').waitFor();
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.locator('[data-testid=connection][data-state=reconnecting] [data-attempt="1"]').waitFor();

    server = await startWithNewSecrets(port);
    // ana's token is signed with the old secret (401): the page signs in as ana again.
    await connection(page, 'open').waitFor();
    await page.locator('[data-testid=identity]', { hasText: 'signed in as ana' }).waitFor();
    await until('the stream to be back as ana', async () => {
      const s = await stats(server);
      return s.authenticated_clients === 1 && s.clients_by_route['/api/events'] === 1;
    });

    // The new server's publisher key, asked for once the stream is back.
    const configs = () => requests.filter((r) => r === 'GET /api/demo/config').length;
    const asked = configs();
    const tile = stream(page, 'default');
    await page.locator('[data-testid=stream][data-stream=default][data-state=running]').waitFor();
    await tile.getByRole('button', { name: 'Pause' }).click();
    await page.locator('[data-testid=stream][data-stream=default][data-state=paused]').waitFor();
    assert.equal(configs(), asked + 1);
    const toAll = await sendTestEvent(page, { target: 'all', message: `after the restart ${randomUUID()}` });
    assert.match(toAll, /delivered to 1 client$/);
    const toAna = await sendTestEvent(page, { target: 'user', id: 'ana', message: `to ana again ${randomUUID()}` });
    assert.match(toAna, /delivered to 1 client$/);
  });

  it('asks for the publisher key again when a request with it gets 401', async () => {
    // Disconnected, the page does not see the restart; its first request with the old key does.
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await connection(page, 'closed').waitFor();
    const { port } = server;
    await server.stop();
    server = await startWithNewSecrets(port);
    const message = `with the old key ${randomUUID()}`;
    const from = requests.length;
    assert.match(await sendTestEvent(page, { target: 'all', message, arrives: false }), /delivered to 0 clients$/);
    assert.deepEqual(
      requests.slice(from).filter((r) => r.startsWith('POST /api/sse-test') || r.startsWith('GET /api/demo/config')),
      ['POST /api/sse-test', 'GET /api/demo/config', 'POST /api/sse-test'],
    );
    await page.getByRole('button', { name: 'Connect' }).click();
    await connection(page, 'open').waitFor();
    await page.locator('[data-testid=identity]', { hasText: 'signed in as ana' }).waitFor();
    // While the server was down, only the failed attempts themselves were reported.
    const outage = /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|Failed to load resource/;
    const unexpected = problems.filter((p) => !outage.test(p));
    assert.deepEqual(unexpected, []);
  });
});

describe('the web demo under StrictMode (a development build of React)', () => {
  let server;

  before(async () => {
    // StrictMode mounts, unmounts and mounts again only in React's development build.
    await run(
      'npx',
      ['--no-install', 'vite', 'build', '--config', 'web-demo/vite.config.js', '--mode', 'development',
        '--outDir', devDir, '--logLevel', 'error'],
      { cwd: root, env: { ...process.env, NODE_ENV: 'development' } },
    );
    server = await startServer(serverArgs(devDir));
  });
  after(() => server?.stop());

  it('opens one /api/events connection, runs a pipeline once, and logs no console error', async () => {
    const { page, problems, requests, messages } = await openDashboard(browser, server);
    // React's development build says so (and only it runs StrictMode's double mount).
    assert.ok(messages.some((m) => m.includes('React DevTools')), 'not a development build of React');
    assert.deepEqual(
      requests.filter((r) => r.startsWith('GET /api/events') && !r.includes('stats')),
      ['GET /api/events'],
    );
    await until('the server to count the page', async () => {
      const s = await stats(server);
      return s.clients_by_route['/api/events'] === 1;
    });
    assert.equal((await stats(server)).connections_total, 1, 'StrictMode opened a second stream');

    await page.getByRole('button', { name: 'Upload a sample video' }).click();
    const upload = page.locator('[data-testid=upload][data-state=completed]').first();
    await upload.waitFor();
    const video = await upload.getAttribute('data-video-id');
    const row = videoRow(page, video);
    await row.getByRole('button', { name: 'Process' }).click();
    await row.locator('[data-testid=pipeline][data-status=ready]').waitFor();
    assert.equal(requests.filter((r) => r === `POST /videos/${video}/process`).length, 1);
    assert.equal(requests.filter((r) => r === `GET /videos/${video}/status`).length, 1);

    await sendTestEvent(page, { target: 'all', message: `strict ${randomUUID()}` });
    await until('the pipeline stream to close', async () => {
      const s = await stats(server);
      return s.active_clients === 1 && s.clients_by_route['/api/events'] === 1;
    });
    assert.deepEqual(problems, []);
  });
});

describe('the web demo in two tabs with the crossTab switch on', () => {
  let server;
  const tabs = [];
  const role = (page, name) => page.locator(`[data-testid=tab-role][data-role=${name}]`);
  const streamRequests = (tab) => tab.requests.filter((r) => r.startsWith('GET /api/events') && !r.includes('stats'));

  before(async () => {
    await run(join(root, 'scripts', 'build-demo'), [], { cwd: root });
    server = await startServer(serverArgs(distDir));
  });
  after(async () => {
    for (const tab of tabs) await tab.page.close();
    await server?.stop();
    await browser.context.clearCookies();
  });

  it('shares one /api/events stream: one tab leads, the other follows, both show every event once', async () => {
    const first = await openDashboard(browser, server);
    tabs.push(first);
    await role(first.page, 'solo').waitFor();
    await first.page.locator('input[name=crossTab]').check();
    await role(first.page, 'leader').waitFor();
    await connection(first.page, 'open').waitFor();
    await until('the switch to leave one stream', async () => (await stats(server)).clients_by_route['/api/events'] === 1);

    // The switch is remembered: the next tab opens with it on, and follows.
    const second = await openDashboard(browser, server);
    tabs.push(second);
    assert.equal(await second.page.locator('input[name=crossTab]').isChecked(), true);
    await role(second.page, 'follower').waitFor();
    assert.deepEqual(streamRequests(second), [], 'the follower opened a stream of its own');
    // Both tabs are one client to the server.
    const who = async (tab) => (await tab.page.locator('[data-testid=identity] .mono').textContent()).trim();
    assert.equal(await who(second), await who(first));

    const messages = [];
    for (const from of [first, second]) {
      const message = `to every tab ${randomUUID()}`;
      messages.push(message);
      assert.match(await sendTestEvent(from.page, { target: 'all', message }), /delivered to 1 client$/);
      for (const tab of [first, second]) await tab.page.locator('[data-testid=log-entry]', { hasText: message }).first().waitFor();
    }
    // Signing in from the follower: the one stream comes back as ana's (the leader
    // reconnects), and the leader's tab shows it too.
    await second.page.locator('input[name=user]').fill('ana');
    await second.page.getByRole('button', { name: 'Sign in' }).click();
    for (const tab of [first, second]) await tab.page.locator('[data-testid=identity]', { hasText: 'signed in as ana' }).waitFor();
    await until('the one stream to come back as ana', async () => {
      const s = await stats(server);
      return s.authenticated_clients === 1 && s.clients_by_route['/api/events'] === 1;
    });
    const toAna = `to ana ${randomUUID()}`;
    messages.push(toAna);
    assert.match(await sendTestEvent(first.page, { target: 'user', id: 'ana', message: toAna }), /delivered to 1 client$/);
    await second.page.locator('[data-testid=log-entry]', { hasText: toAna }).first().waitFor();

    // The demo streams tick in the follower too.
    const count = (tab) => tab.page.locator('[data-testid=stream][data-stream=default] [data-testid=stream-count]').getAttribute('data-count');
    const ticked = Number(await count(second));
    await until('a tick in the follower', async () => Number(await count(second)) > ticked);
    const s = await stats(server);
    assert.equal(s.clients_by_route['/api/events'], 1);
    assert.equal(s.active_clients, 1);
    for (const tab of [first, second]) {
      for (const message of messages) {
        assert.equal(await tab.page.locator('[data-testid=log-entry]', { hasText: message }).count(), 1, message);
      }
    }

    // Closing the leader hands the stream to the follower.
    await first.page.close();
    tabs.shift();
    await role(second.page, 'leader').waitFor();
    await connection(second.page, 'open').waitFor();
    const message = `after the hand-off ${randomUUID()}`;
    await until('the new leader to hold the one stream', async () => (await stats(server)).clients_by_route['/api/events'] === 1);
    assert.match(await sendTestEvent(second.page, { target: 'all', message }), /delivered to 1 client$/);
    assert.deepEqual([...first.problems, ...second.problems], []);

    await second.page.locator('input[name=crossTab]').uncheck();
    await role(second.page, 'solo').waitFor();
    assert.equal(await second.page.evaluate(() => localStorage.getItem('ssebus-demo-cross-tab')), null);
  });
});
