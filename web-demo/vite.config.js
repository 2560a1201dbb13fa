// The web demo, built with Vite: `npx vite build --config web-demo/vite.config.js` writes
// web-demo/dist, which `ssebus-server --static-dir web-demo/dist` serves at /.
//
// The demo imports `ssebus` and `ssebus/react` by name, as an application would. Here they
// resolve through the package's own `exports` in ../package.json instead of node_modules,
// so the demo always runs the package as it is in this checkout.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const packageDir = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', packageDir), 'utf8'));

function exported(subpath) {
  const entry = pkg.exports?.[subpath];
  const file = typeof entry === 'string' ? entry : (entry?.import ?? entry?.default);
  if (typeof file !== 'string') {
    throw new Error(`web-demo: package.json "exports" has no "${subpath}" entry for ${pkg.name}`);
  }
  return fileURLToPath(new URL(file, packageDir));
}

// During `vite` (dev), the API lives in a running ssebus-server: SSEBUS_SERVER is its
// origin (default http://127.0.0.1:8080, where `npm start` listens), to which the dev
// server proxies /api (the event streams included) and /videos. For example
//   SSEBUS_SERVER=http://127.0.0.1:9000 npx vite --config web-demo/vite.config.js
// `vite build` does not read it: the built page is served by ssebus-server itself.
const server = process.env.SSEBUS_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^ssebus$/, replacement: exported('.') },
      { find: /^ssebus\/react$/, replacement: exported('./react') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    proxy: {
      '/api': { target: server, changeOrigin: true },
      '/videos': { target: server, changeOrigin: true },
    },
  },
});
