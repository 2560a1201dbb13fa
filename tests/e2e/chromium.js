// Debian's Chromium driven by playwright-core; the one way the browser tests launch it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

// `ignoreDefaultArgs`: Playwright's default flags to leave out, for a test that needs what
// they turn off (e.g. '--disable-back-forward-cache').
export async function launchChromium({ ignoreDefaultArgs } = {}) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'ssebus-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    ...(ignoreDefaultArgs === undefined ? {} : { ignoreDefaultArgs }),
    args: [
      '--no-sandbox', // required when running as root
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
