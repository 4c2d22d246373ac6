// support.mjs: what the web tests share besides the browser: running the
// spanline CLI, reading fixtures independently of spanline (plain JSON
// per line), and temporary directories.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.SPANLINE_BIN || join(ROOT, 'bin/spanline');
export const FIXTURES = process.env.SPANLINE_FIXTURES || join(ROOT, 'tests/fixtures');

// The environment the CLI needs when run outside ctest (source tree + build/).
export const ENV = {
  ...process.env,
  LUA_PATH: process.env.LUA_PATH || `${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;;`,
  LUA_CPATH: process.env.LUA_CPATH || `${ROOT}/build/?.so;;`,
};

// Runs `spanline ARGS...`; returns { status, stdout, stderr }.
export function spanline(...args) {
  const r = spawnSync(BIN, args, { env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return r;
}

export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'spanline-web-'));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// The records of a spanline/1 JSONL file, parsed here (not by spanline).
export function records(file) {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// Exports FILE to OUT.html and fails loudly when the command does.
export function exportHtml(file, out) {
  const r = spanline('export', file, '--to', 'html', '-o', out);
  if (r.status !== 0) throw new Error(`spanline export failed (${r.status}): ${r.stderr}`);
  return r;
}
