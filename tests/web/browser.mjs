// browser.mjs: Debian's chromium, headless, driven by playwright-core, with
// a fresh profile per launch and every request and console message kept,
// so a test can assert that a page made no network request and logged no
// error.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.SPANLINE_CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function haveChromium() {
  return existsSync(CHROMIUM);
}

// The browser's environment: ours without the sanitizer run's preload
// (tests/sanitize/run preloads libasan for lua5.4; chromium's launcher
// script and the browser hang under it, and they are not what is tested).
function browserEnv() {
  const env = { ...process.env };
  for (const k of ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS']) delete env[k];
  return env;
}

// Launches a browser with a fresh profile; close() removes the profile.
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'spanline-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    env: browserEnv(),
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 850 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// A new page that records its console errors, page errors and requests.
export async function watchedPage(context) {
  const page = await context.newPage();
  const log = { errors: [], requests: [] };
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log.errors.push(m.type() + ': ' + m.text()); });
  page.on('pageerror', (e) => log.errors.push('pageerror: ' + e.message));
  page.on('request', (r) => log.requests.push(r.url()));
  return { page, log };
}
