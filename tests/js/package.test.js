// The published artifact: `npm pack`, installed into an empty project, works there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the npm package', () => {
  let dir;
  let tarball;
  let packed;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssebus-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root });
    packed = JSON.parse(stdout)[0];
    tarball = join(dir, packed.filename);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('contains the allow-listed files and nothing else', () => {
    const files = packed.files.map((f) => f.path).sort();
    assert.deepEqual(files, [
      'LICENSE',
      'README.md',
      'dist/ssebus_core.js',
      'dist/ssebus_core.wasm',
      'js/bridge-debug.js',
      'js/bridge-eventsource.js',
      'js/bridge-fetch.js',
      'js/bridge-options.js',
      'js/bridge-policy.js',
      'js/bridge-tabs.js',
      'js/bridge.js',
      'js/core.js',
      'js/index.d.ts',
      'js/index.js',
      'js/react.d.ts',
      'js/react.js',
      'js/store.js',
      'js/util.js',
      'package.json',
    ]);
  });

  it('is never packed without its WebAssembly: npm pack without dist/ fails and says what to run', async () => {
    // A checkout that was never built, with the build step off (as on a machine without
    // Emscripten); the consumer test packs a clean checkout with the build step on.
    const clone = join(dir, 'unbuilt');
    for (const f of ['package.json', 'README.md', 'LICENSE', 'js', 'scripts']) {
      await cp(join(root, f), join(clone, f), { recursive: true });
    }
    await symlink(join(root, 'node_modules'), join(clone, 'node_modules'));
    const out = join(dir, 'unbuilt-out');
    await run('mkdir', ['-p', out]);
    await assert.rejects(
      run('npm', ['pack', '--json', '--pack-destination', out], {
        cwd: clone,
        env: { ...process.env, SSEBUS_PREPACK_BUILD: '0' },
      }),
      (error) => {
        assert.match(error.stderr, /dist\/ssebus_core\.js dist\/ssebus_core\.wasm missing/);
        assert.match(error.stderr, /Build it first, then pack again: scripts\/build/);
        return true;
      },
    );
    assert.deepEqual(await readdir(out), [], 'no tarball was written');
  });

  it('installs into an empty project and works there', async () => {
    const app = join(dir, 'app');
    await run('mkdir', ['-p', app]);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app });
    assert.ok((await readdir(join(app, 'node_modules', 'ssebus', 'dist'))).includes('ssebus_core.wasm'));
    await writeFile(
      join(app, 'main.js'),
      `import { createEventBus } from 'ssebus';
       const bus = await createEventBus();
       const seen = [];
       bus.on('video:*', (p, meta) => seen.push(meta.name + ' ' + p.videoId));
       bus.emit('video_created', { videoId: 'v1' });
       bus.destroy();
       console.log(JSON.stringify(seen));`,
    );
    const { stdout } = await run('node', ['main.js'], { cwd: app });
    assert.deepEqual(JSON.parse(stdout), ['video_created v1']);

    // React is an optional peer: a user of the bus alone does not get it.
    assert.ok(!(await readdir(join(app, 'node_modules'))).includes('react'), 'React is not installed for the bus');

    // ssebus/react, once the app installs React.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', 'react'], { cwd: app });
    await writeFile(
      join(app, 'react.js'),
      `import * as hooks from 'ssebus/react';
       console.log(JSON.stringify([Object.keys(hooks).sort(), typeof window]));`,
    );
    const react = await run('node', ['react.js'], { cwd: app });
    assert.deepEqual(JSON.parse(react.stdout), [
      [
        'EventBridge',
        'EventBusProvider',
        'MAX_HELD_EMITS',
        'useEventBus',
        'useEventBusEmit',
        'useEventBusMulti',
        'useEventBusOn',
        'useEventBusOnce',
        'useEventSource',
        'useSSE',
      ],
      'undefined',
    ]);
  });
});
