// ssebus/core: loads and instantiates the WebAssembly module once per realm. The bus and
// the bridge's SSE parser live in the same module, so both import this loader.

import createSsebusCore from '../dist/ssebus_core.js';

const WASM_FILE = 'ssebus_core.wasm';

let corePromise = null;
let coreModule = null;

function isNode() {
  return typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';
}

async function instantiate() {
  const options = {};
  if (isNode()) {
    // Node cannot fetch() a file URL; hand the loader the bytes instead. The specifier is
    // built at run time so that bundlers leave it alone (browsers never reach this line).
    const fs = 'node:fs/promises';
    const { readFile } = await import(/* @vite-ignore */ fs);
    options.wasmBinary = await readFile(new URL('../dist/' + WASM_FILE, import.meta.url));
  }
  const module = await createSsebusCore(options);
  coreModule = module;
  return module;
}

export function loadCore() {
  if (corePromise === null) {
    corePromise = instantiate().catch((cause) => {
      corePromise = null; // a later call may try again (e.g. after a network error)
      throw new Error(
        `ssebus: could not load its WebAssembly module (${cause?.message ?? cause}); ` +
          `check that ${WASM_FILE} is served next to the package's JS`,
        { cause },
      );
    });
  }
  return corePromise;
}

/** The instantiated module, or null before the first load finished (for heap statistics). */
export function loadedCore() {
  return coreModule;
}
