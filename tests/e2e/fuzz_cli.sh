#!/usr/bin/env bash
# fuzz_cli.sh: `spanline fuzz`: seed first, summary last, exit codes, a
# user's failing property shrunk and replayed identically, --dump output
# byte-identical for the same seed.
set -euo pipefail
: "${SPANLINE_BIN:?}"
sl() { lua5.4 "$SPANLINE_BIN" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# built-in properties pass; seed printed first, summary last
sl fuzz --seed 7 --runs 25 >"$tmp/ok.out" || fail "built-in properties failed: $(cat "$tmp/ok.out")"
[ "$(head -n 1 "$tmp/ok.out")" = "seed 7" ] || fail "first line: $(head -n 1 "$tmp/ok.out")"
tail -n 1 "$tmp/ok.out" | grep -Eq '^9 properties, 9 passed, 0 failed, 225 runs \(seed 7' \
  || fail "summary: $(tail -n 1 "$tmp/ok.out")"

# without --seed a seed is still printed first
sl fuzz --runs 2 --property ids >"$tmp/noseed.out"
head -n 1 "$tmp/noseed.out" | grep -Eq '^seed [0-9]+$' || fail "no seed line"
grep -q '^ok     ids ' "$tmp/noseed.out" || fail "--property did not run ids"
[ "$(grep -c '^ok' "$tmp/noseed.out")" = 1 ] || fail "--property ran more than one property"

# --list names the properties
sl fuzz --list | grep -q '^jsonl_msgpack ' || fail "--list"

# usage errors: exit 2, one line, no traceback
set +e
sl fuzz --property nope >"$tmp/e1" 2>&1; rc1=$?
sl fuzz --runs zero >"$tmp/e2" 2>&1; rc2=$?
sl fuzz --bogus >"$tmp/e3" 2>&1; rc3=$?
set -e
[ $rc1 = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 2 ] || fail "usage exit codes $rc1 $rc2 $rc3"
grep -q "unknown property 'nope'" "$tmp/e1" || fail "message: $(cat "$tmp/e1")"
grep -q -- "--runs expects an integer" "$tmp/e2" || fail "message: $(cat "$tmp/e2")"
! grep -q 'traceback' "$tmp/e1" "$tmp/e2" "$tmp/e3" || fail "traceback shown"

# a user's properties file with a planted bug: no program may start 3 spans
cat >"$tmp/props.lua" <<'LUA'
return {
  { name = "fewer_than_3_starts", check = function(ops)
      local n = 0
      for _, op in ipairs(ops) do if op.op == "start" then n = n + 1 end end
      return n < 3, n .. " starts"
    end },
  { name = "always", check = function() return true end },
}
LUA
set +e
sl fuzz --seed 42 --runs 50 --file "$tmp/props.lua" >"$tmp/f1.out" 2>&1; rc=$?
sl fuzz --seed 42 --runs 50 --file "$tmp/props.lua" >"$tmp/f2.out" 2>&1
set -e
[ $rc = 1 ] || fail "failing property exit code $rc"
[ "$(head -n 1 "$tmp/f1.out")" = "seed 42" ] || fail "seed line with --file"
grep -q '^FAILED fewer_than_3_starts .* to 3 operations$' "$tmp/f1.out" || fail "not shrunk to 3: $(cat "$tmp/f1.out")"
grep -q 'error: 3 starts' "$tmp/f1.out" || fail "error message"
[ "$(grep -c 'op = "start"' "$tmp/f1.out")" = 3 ] || fail "counterexample is not 3 starts"
grep -q '^ok     always ' "$tmp/f1.out" || fail "second property not run"
tail -n 1 "$tmp/f1.out" | grep -q '^2 properties, 1 passed, 1 failed' || fail "summary: $(tail -n 1 "$tmp/f1.out")"
cmp -s "$tmp/f1.out" "$tmp/f2.out" || fail "same seed, different output"

# a broken properties file: clear message, exit 2
echo 'return 42' >"$tmp/bad.lua"
set +e; sl fuzz --file "$tmp/bad.lua" >"$tmp/e4" 2>&1; rc=$?; set -e
[ $rc = 2 ] && grep -q 'must return a table' "$tmp/e4" || fail "bad file: $rc $(cat "$tmp/e4")"

# deterministic mode: the same seed writes the same bytes (pid aside)
sl fuzz --seed 99 --runs 15 --dump "$tmp/d1.jsonl" >"$tmp/d1.out"
sl fuzz --seed 99 --runs 15 --dump "$tmp/d2.jsonl" >"$tmp/d2.out"
sl fuzz --seed 98 --runs 15 --dump "$tmp/d3.jsonl" >/dev/null
[ -s "$tmp/d1.jsonl" ] || fail "empty dump"
cmp -s "$tmp/d1.out" "$tmp/d2.out" || fail "reports differ"
cmp -s <(grep -v '"type":"meta"' "$tmp/d1.jsonl") <(grep -v '"type":"meta"' "$tmp/d2.jsonl") \
  || fail "same seed, different trace bytes"
! cmp -s <(grep -v '"type":"meta"' "$tmp/d1.jsonl") <(grep -v '"type":"meta"' "$tmp/d3.jsonl") \
  || fail "different seeds, same trace bytes"
jq -c . "$tmp/d1.jsonl" >/dev/null || fail "dump is not valid JSON for jq"
echo "fuzz_cli: ok"
