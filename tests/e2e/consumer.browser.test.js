// The package as an application gets it: `npm pack` in a checkout that was never built
// (its prepack step builds the WebAssembly), installed into a new Vite + React project,
// built there, served by ssebus-server, and a hook receives a published event in Chromium;
// with crossTab, two tabs of the app share one connection.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { publish, startServer } from '../support/server.js';
import { launchChromium } from './chromium.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

// The toolchain at the versions this repository uses, so that npm finds their tarballs in
// its cache (npm ci put them there); what the cache lacks, such as the registry's metadata
// on a machine that only ever ran npm ci, comes from the registry.
async function installedVersion(name) {
  const pkg = JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8'));
  return `${name}@${pkg.version}`;
}

const files = {
  'package.json': JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
  'vite.config.js': `import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
export default defineConfig({ plugins: [react()] });
`,
  'index.html': `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>consumer</title><link rel="icon" href="data:," /></head>
  <body><div id="root"></div><script type="module" src="/src/main.jsx"></script></body>
</html>
`,
  'src/main.jsx': `import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { EventBusProvider, useEventBusOn, useEventSource } from 'ssebus/react';

const map = { 'greeting:sent': ['greeting', 'refresh'] };
// /?crossTab: the tabs of the browser share one connection.
const options = new URLSearchParams(location.search).has('crossTab') ? { map, crossTab: true } : { map };

function App() {
  const { status, role } = useEventSource('/api/events', options);
  const [greeting, setGreeting] = useState('none');
  useEventBusOn('greeting', (payload, meta) => setGreeting(payload.text + ' via ' + meta.serverEvent));
  return (
    <main>
      <p id="status">{status}</p>
      <p id="role">{role}</p>
      <p id="greeting">{greeting}</p>
    </main>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <EventBusProvider>
      <App />
    </EventBusProvider>
  </StrictMode>,
);
`,
};

describe('a new Vite + React project that installs the packed package', () => {
  let dir;
  let app;
  let server;
  let browser;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssebus-consumer-'));
    // A clean checkout: the sources npm pack and the module's build read, no dist/, no
    // build/; node_modules as `npm ci` would leave it.
    const clone = join(dir, 'clone');
    const sources = ['package.json', 'README.md', 'LICENSE', 'CMakeLists.txt', 'CMakePresets.json', 'js', 'scripts', 'wasm'];
    for (const f of sources) await cp(join(root, f), join(clone, f), { recursive: true });
    await symlink(join(root, 'node_modules'), join(clone, 'node_modules'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: clone,
      maxBuffer: 16 * 1024 * 1024,
    });
    const packed = JSON.parse(stdout)[0];
    const tarball = join(dir, packed.filename);
    const contents = packed.files.map((f) => f.path);
    assert.ok(contents.includes('dist/ssebus_core.wasm') && contents.includes('dist/ssebus_core.js'), contents.join(', '));
    app = join(dir, 'app');
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(app, name, '..'), { recursive: true });
      await writeFile(join(app, name), text);
    }
    const toolchain = await Promise.all(['react', 'react-dom', 'vite', '@vitejs/plugin-react'].map(installedVersion));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...toolchain], { cwd: app });
    await run(join(app, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], { cwd: app });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds with the WebAssembly module as an asset of its own', async () => {
    const assets = await readdir(join(app, 'dist', 'assets'));
    assert.ok(assets.some((f) => /^ssebus_core-.*\.wasm$/.test(f)), `no .wasm among ${assets.join(', ')}`);
  });

  it('receives an event published to ssebus-server in a hook, in Chromium', async () => {
    server = await startServer(['--quiet', '--static-dir', join(app, 'dist')]);
    browser = await launchChromium();
    const page = await browser.context.newPage();
    const problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${server.url}/`);
    await page.locator('#status', { hasText: /^open$/ }).waitFor({ timeout: 20_000 });

    const sent = await publish(server, { event: 'greeting:sent', data: { text: 'hello' } });
    assert.equal(sent.status, 202);
    assert.equal(sent.body.delivered, 1);
    await page.locator('#greeting', { hasText: /^hello via greeting:sent$/ }).waitFor({ timeout: 20_000 });
    assert.deepEqual(problems, []);
  });

  it('shares one connection between two tabs with crossTab on', async () => {
    for (const page of browser.context.pages()) await page.close();
    const stats = async () => (await fetch(`${server.url}/api/events/stats`)).json();
    await until('the first tab\'s stream to close', async () => (await stats()).active_clients === 0);
    const problems = [];
    const tabs = [];
    for (let i = 0; i < 2; i++) {
      const page = await browser.context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${server.url}/?crossTab`);
      await page.locator('#status', { hasText: /^open$/ }).waitFor({ timeout: 20_000 });
      tabs.push(page);
    }
    await tabs[0].locator('#role', { hasText: /^leader$/ }).waitFor({ timeout: 20_000 });
    await tabs[1].locator('#role', { hasText: /^follower$/ }).waitFor({ timeout: 20_000 });
    const s = await stats();
    assert.equal(s.clients_by_route['/api/events'], 1);
    assert.equal(s.active_clients, 1);

    const sent = await publish(server, { event: 'greeting:sent', data: { text: 'hello, tabs' } });
    assert.equal(sent.status, 202);
    assert.equal(sent.body.delivered, 1);
    for (const page of tabs) {
      await page.locator('#greeting', { hasText: /^hello, tabs via greeting:sent$/ }).waitFor({ timeout: 20_000 });
    }
    assert.deepEqual(problems, []);
  });
});
