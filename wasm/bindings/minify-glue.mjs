// Minifies Emscripten's JS glue in place (Debian's Emscripten has no Closure Compiler, so
// -Oz leaves the glue readable): a quarter fewer bytes on every page that loads ssebus.
// Uses rolldown's minifier, which comes with the project's Vite.
import { readFileSync, writeFileSync } from 'node:fs';

import { minifySync } from 'rolldown/experimental';

const file = process.argv[2];
const source = readFileSync(file, 'utf8');
const { code, errors } = minifySync(file, source, { compress: true, mangle: true });
if (errors?.length) {
  console.error(`minify-glue: ${file}: ${errors.map((e) => e.message).join('; ')}`);
  process.exit(1);
}
writeFileSync(file, code);
