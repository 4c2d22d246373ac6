// The page's duration formatter (web/js/format.js) against the one it
// ports (lua/spanline/text.lua): the same text for the same nanoseconds,
// including printf's round-half-to-even ties and every unit boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import vm from 'node:vm';
import { ROOT, ENV } from './support.mjs';

function loadFormat() {
  const sandbox = { window: {}, BigInt, Date, Math, Number, String };
  vm.createContext(sandbox);
  vm.runInContext(readFileSync(join(ROOT, 'web/js/format.js'), 'utf8'), sandbox);
  return sandbox.window.Spanline.format;
}

// values around every threshold of text.duration, ties, and a spread
function samples() {
  const out = [0, 1, 999, 1000, 1125, 1135, 2500, 9994, 9995, 9996, 12345, 99949, 99950, 99951,
    999499, 999500, 999501, 1125000, 9995000, 99950000, 999499999, 999500000, 1125000000,
    59999499999, 59999500000, 60000000000, 3599499999999, 3599500000000, 3600000000000, 7265000000000,
    -1500, 0.4, 0.5, 1.5, 2.5, 1234.5];
  let x = 1;
  for (let i = 0; i < 400; i++) { x = (x * 1103515245 + 12345) % 2147483648; out.push(Math.floor(x * (10 ** (i % 13)) / 2147483648 * 10)); }
  for (let e = 3; e < 13; e++) for (const m of [1005, 1015, 1025, 2345, 9985, 9995]) out.push(m * 10 ** (e - 3) + (e > 3 ? 0 : 0));
  return out;
}

test('durations read exactly as spanline prints them', () => {
  const fmt = loadFormat();
  const values = samples();
  const lua = spawnSync('lua5.4', ['-e', `
    local text = require("spanline.text")
    for line in io.lines() do
      local v = math.tointeger(tonumber(line)) or tonumber(line)
      io.write(text.duration(v), "\\n")
    end`], { input: values.map(String).join('\n') + '\n', env: ENV, encoding: 'utf8' });
  assert.equal(lua.status, 0, lua.stderr);
  const want = lua.stdout.trimEnd().split('\n');
  assert.equal(want.length, values.length);
  const got = values.map((v) => fmt.duration(v));
  const diff = values.map((v, i) => [v, want[i], got[i]]).filter(([, w, g]) => w !== g);
  assert.deepEqual(diff, [], 'value, lua, js');
  assert.equal(fmt.duration(null), '-');
  assert.equal(fmt.duration(undefined, 'n/a'), 'n/a');
});

test('clock shows nanoseconds of epoch times beyond double precision', () => {
  const fmt = loadFormat();
  assert.equal(fmt.clock(1747119475768798828n, 0), '2025-05-13 06:57:55.768798828 UTC');
  assert.equal(fmt.clock(1747119475768798828n, 1201172), '2025-05-13 06:57:55.770000000 UTC');
  assert.equal(fmt.clock(1747119475000000000n, -1), '2025-05-13 06:57:54.999999999 UTC');
});

test('durations typed in the search parse with the CLI units', () => {
  const fmt = loadFormat();
  assert.equal(fmt.parseDuration('5ms'), 5e6);
  assert.equal(fmt.parseDuration('1.5s'), 1.5e9);
  assert.equal(fmt.parseDuration('250us'), 250e3);
  assert.equal(fmt.parseDuration('100'), 100);
  assert.ok(Number.isNaN(fmt.parseDuration('5 parsecs')));
});
