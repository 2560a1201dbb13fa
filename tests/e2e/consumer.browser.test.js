// The package as an application gets it: `npm pack` in a checkout that was never built
// (its prepack step builds the WebAssembly), installed into a new Vite + React project,
// built there, served by ssebus-server, and a hook receives a published event in Chromium.
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

const options = { map: { 'greeting:sent': ['greeting', 'refresh'] } };

function App() {
  const { status } = useEventSource('/api/events', options);
  const [greeting, setGreeting] = useState('none');
  useEventBusOn('greeting', (payload, meta) => setGreeting(payload.text + ' via ' + meta.serverEvent));
  return (
    <main>
      <p id="status">{status}</p>
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
});
