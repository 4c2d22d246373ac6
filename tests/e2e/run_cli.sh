#!/usr/bin/env bash
# run_cli.sh: `spanline run` end to end. An unmodified program
# (examples/inventory_app.lua) runs under --instrument and its span trees are
# checked; then arg passing, exit status, errors, os.exit, outputs and misuse.
set -euo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"

# check.lua FILE: reads a trace (JSONL or msgpack) with spanline.query into
# spans, then runs the Lua assertions given on stdin with `spans` (in start
# order), `named(name)` and `parent_of(span)`; a span has id, parent, name,
# status, error, start, finish (integer ns).
cat >"$tmp/check.lua" <<'EOF'
local query = require("spanline.query")
local q = assert(query.open(arg[1]))
local spans, by_id = {}, {}
for s in q:spans():iter() do
  assert(not by_id[s.id], "span assembled twice")
  spans[#spans + 1] = s
  by_id[s.id] = s
end
assert(q:bad_lines() == 0, "unreadable lines in the trace")
table.sort(spans, function(a, b)
  if a.start ~= b.start then return a.start < b.start end
  return a.id < b.id
end)
local env = setmetatable({ spans = spans }, { __index = _G })
function env.named(name)
  local out = {}
  for _, s in ipairs(spans) do if s.name == name then out[#out + 1] = s end end
  return out
end
function env.parent_of(s) return s.parent and by_id[s.parent] end
assert(load(io.read("a"), "=checks", "t", env))()
EOF
check() { lua5.4 "$tmp/check.lua" "$1" || fail "trace checks on $1"; }

# --- 1. the unmodified example under --instrument: output and trees ---------
expected=$(lua5.4 "$src/examples/inventory_app.lua" pear:2)
actual=$(spanline run --instrument 'inventory.*' --output "$tmp/inv.jsonl" \
  "$src/examples/inventory_app.lua" pear:2)
[ "$expected" = "$actual" ] || fail "stdout differs under spanline run"

check "$tmp/inv.jsonl" <<'EOF'
local function count(name) return #named(name) end
assert(count("inventory.Store.new") == 1)
assert(count("inventory.Store.receive") == 3, "receive")
assert(count("inventory.Store.ship") == 6, "ship: 5 orders + the failing one")
assert(count("inventory.Store.report") == 1)
for _, s in ipairs(spans) do
  assert(s.status ~= "open", "span without end: " .. s.name)
  assert(s.status ~= "abandoned", "abandoned: " .. s.name)
end
-- every stock.add happens inside Store.receive, a root span
for _, s in ipairs(named("inventory.stock.add")) do
  local p = parent_of(s)
  assert(p and p.name == "inventory.Store.receive", "stock.add parent")
  assert(p.parent == nil, "receive is a root")
end
-- Store.ship -> stock.take, and Store.ship -> pricing.quote -> pricing.discount
for _, s in ipairs(named("inventory.pricing.discount")) do
  local quote = parent_of(s)
  assert(quote and quote.name == "inventory.pricing.quote", "discount parent")
  local ship = parent_of(quote)
  assert(ship and ship.name == "inventory.Store.ship", "quote parent")
end
assert(count("inventory.pricing.discount") == 5)
for _, s in ipairs(named("inventory.stock.take")) do
  assert(parent_of(s).name == "inventory.Store.ship", "take parent")
end
-- exactly one failed order: ship and its take end with the error
local failed = {}
for _, s in ipairs(named("inventory.Store.ship")) do
  if s.status == "error" then failed[#failed + 1] = s end
end
assert(#failed == 1, "one failed ship")
local take
for _, s in ipairs(named("inventory.stock.take")) do
  if s.parent == failed[1].id then take = s end
end
assert(take and take.status == "error", "failed take")
assert(take.error:find("out of stock: plum", 1, true), "error message kept")
assert(failed[1].error:find("out of stock: plum", 1, true))
EOF

# the same trees as `spanline tree` prints them
tree=$(spanline tree "$tmp/inv.jsonl" 2>&1) || fail "spanline tree failed: $tree"
grep -q '^inventory.Store.ship .*ERROR: out of stock: plum' <<<"$tree" || fail "tree: failed ship"
grep -q '^└─ inventory.stock.add ' <<<"$tree" || fail "tree: stock.add under receive"
grep -q '^   └─ inventory.pricing.discount ' <<<"$tree" || fail "tree: discount under quote"

# --- 2. arg and ... are those lua5.4 gives the program ---------------------
expected=$(lua5.4 "$fixtures/run_prog.lua" args 'a b' '' --flag c)
actual=$(spanline run -o "$tmp/args.jsonl" "$fixtures/run_prog.lua" args 'a b' '' --flag c)
[ "$expected" = "$actual" ] || fail "arg differs: $actual"
out=$(cd "$tmp" && echo 'print(arg[0], ...)' | spanline run -o stdin.jsonl - x y)
[ "$out" = "$(printf -- '-\tx\ty')" ] || fail "script from stdin: $out"
# negative indices: the interpreter, as `lua5.4 SCRIPT` gives them; options
# of spanline run end at the script name (what follows is the program's)
cat >"$tmp/neg.lua" <<'EOF'
io.write(tostring(arg[-2]), " ", tostring(arg[-1]), " ", arg[0], " ", table.concat(arg, ","), "\n")
EOF
expected=$(cd "$tmp" && lua5.4 neg.lua --output y -o z)
neg=$(cd "$tmp" && spanline run --output=x.jsonl neg.lua --output y -o z)
[ "$neg" = "$expected" ] || fail "negative arg indices / options after the script: $neg, not $expected"
[ ! -e "$tmp/y" ] && [ ! -e "$tmp/z" ] || fail "options after the script taken by spanline run"

# --- 3. an error: lua5.4's message and status 1, the trace still complete ---
set +e
plain_err=$(lua5.4 "$fixtures/run_prog.lua" error boom 2>&1 >/dev/null); plain_rc=$?
run_err=$(spanline run --instrument run_mod -o "$tmp/err.jsonl" "$fixtures/run_prog.lua" error boom 2>&1 >/dev/null); run_rc=$?
set -e
[ "$plain_rc" = 1 ] && [ "$run_rc" = 1 ] || fail "error exit status $plain_rc / $run_rc"
[ "$(head -n1 <<<"$plain_err")" = "$(head -n1 <<<"$run_err")" ] || fail "error message: $run_err"
grep -q '^stack traceback:' <<<"$run_err" || fail "no traceback"
if grep -q "xpcall\|spanline/cmd/run.lua" <<<"$run_err"; then fail "spanline frames in the traceback"; fi
check "$tmp/err.jsonl" <<'EOF'
local work, f = named("run_mod.work")[1], named("run_mod.fail")[1]
assert(work and f, "both spans")
assert(f.parent == work.id)
assert(f.status == "error" and work.status == "error")
assert(f.error:find("boom", 1, true))
EOF

# --- 4. os.exit inside a traced call: status kept, trace closed -------------
set +e
out=$(spanline run --instrument run_mod -o "$tmp/exit.jsonl" "$fixtures/run_prog.lua" exit 5); rc=$?
set -e
[ "$rc" = 5 ] || fail "os.exit status $rc"
[ "$out" = "before exit" ] || fail "stdout before os.exit: $out"
check "$tmp/exit.jsonl" <<'EOF'
local work = named("run_mod.work")
assert(#work == 1 and work[1].status == "abandoned", "open span ended by close at os.exit")
EOF

# --- 4a. Ctrl-C (SIGINT): lua5.4 raises "interrupted!"; the trace is closed --
# (signalled once the program runs: lua.c handles SIGINT only from then on)
lua5.4 "$bin" run --instrument run_mod -o "$tmp/int.jsonl" "$fixtures/run_prog.lua" spin \
  >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 200); do grep -q spinning "$tmp/int.out" && break; sleep 0.05; done
kill -INT "$pid"
set +e
wait "$pid"; rc=$?
set -e
out=$(cat "$tmp/int.out")
[ "$rc" = 1 ] && [ "$out" = "spinning" ] || fail "SIGINT: status $rc, stdout $out"
grep -q "interrupted!" "$tmp/int.err" || fail "SIGINT message: $(cat "$tmp/int.err")"
check "$tmp/int.jsonl" <<'EOF'
local work = named("run_mod.work")
assert(#work == 1 and work[1].status == "error" and work[1].error:find("interrupted!", 1, true))
EOF

# --- 4b. coroutines made inside a span inherit it (patched coroutine.*) -----
spanline run --instrument run_mod -o "$tmp/co.jsonl" "$fixtures/run_prog.lua" co
check "$tmp/co.jsonl" <<'EOF'
local work = named("run_mod.work")
assert(#work == 2, "two work spans")
assert(work[1].parent == nil and work[2].parent == work[1].id, "inner call under outer across coroutines")
assert(work[1].status == "ok" and work[2].status == "ok")
EOF

# --- 4c. --sample: 0 keeps no trace, 1 keeps all, 0.5 some -----------------
for p in 0 1 0.5; do
  spanline run --sample "$p" --instrument run_mod -o "$tmp/s$p.jsonl" "$fixtures/run_prog.lua" many 400
done
n0=$(grep -c '"type":"start"' "$tmp/s0.jsonl" || true)
n1=$(grep -c '"type":"start"' "$tmp/s1.jsonl" || true)
nh=$(grep -c '"type":"start"' "$tmp/s0.5.jsonl" || true)
[ "$n0" = 0 ] && [ "$n1" = 400 ] || fail "sample 0 / 1 kept $n0 / $n1 of 400"
# 400 traces at p = 0.5: 200 +- 10 sigma (sigma = 10) never fails by chance
[ "$nh" -gt 100 ] && [ "$nh" -lt 300 ] || fail "sample 0.5 kept $nh of 400"

# --- 5. outputs: default name, stderr, fd:N, msgpack ------------------------
(cd "$tmp" && spanline run "$fixtures/run_prog.lua" args >/dev/null)
[ -e "$tmp/run_prog.spans.jsonl" ] || fail "default output file"
(cd "$tmp" && spanline run --instrument run_mod "$fixtures/run_prog.lua" error x >/dev/null 2>&1) || true
grep -q '"run_mod.fail"' "$tmp/run_prog.spans.jsonl" || fail "default output has the spans"

err=$(spanline run --instrument run_mod -o - "$fixtures/run_prog.lua" error x 2>&1 >/dev/null || true)
grep -q '"type":"start".*"run_mod.work"' <<<"$err" || fail "-o - writes to stderr"
spanline run --instrument run_mod --output fd:3 "$fixtures/run_prog.lua" error x 3>"$tmp/fd3.jsonl" 2>/dev/null || true
check "$tmp/fd3.jsonl" <<'EOF'
assert(#named("run_mod.fail") == 1, "fd:3 output")
EOF

spanline run --format msgpack --instrument run_mod -o "$tmp/t.msgpack" "$fixtures/run_prog.lua" error x 2>/dev/null || true
[ -s "$tmp/t.msgpack" ] || fail "msgpack output empty"
first=$(head -c1 "$tmp/t.msgpack" | od -An -tx1 | tr -d ' ')
[ "$first" != "7b" ] || fail "msgpack output looks like JSON"
check "$tmp/t.msgpack" <<'EOF'
local f = named("run_mod.fail")
assert(#f == 1 and f[1].status == "error" and parent_of(f[1]).name == "run_mod.work", "msgpack trace")
EOF

# --- 6. misuse: one line, status 2; a missing script: status 1 --------------
set +e
msg=$(spanline run 2>&1); rc=$?
[ "$rc" = 2 ] && [ "$(wc -l <<<"$msg")" = 1 ] || fail "no script: $rc $msg"
msg=$(spanline run --bogus x.lua 2>&1); rc=$?
[ "$rc" = 2 ] || fail "unknown option: $rc $msg"
msg=$(spanline run --sample 2 x.lua 2>&1); rc=$?
[ "$rc" = 2 ] || fail "bad sample: $rc $msg"
msg=$(spanline run --instrument 'inv[' x.lua 2>&1); rc=$?
[ "$rc" = 2 ] || fail "bad pattern: $rc $msg"
msg=$(spanline run -o fd:x x.lua 2>&1); rc=$?
[ "$rc" = 2 ] || fail "bad fd: $rc $msg"
msg=$(spanline run -o "$tmp/no/such/dir/t.jsonl" "$fixtures/run_prog.lua" args 2>&1); rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <<<"$msg")" = 1 ] && grep -q '^spanline run: ' <<<"$msg" \
  || fail "unwritable output: $rc $msg"
msg=$(cd "$tmp" && spanline run no_such_script.lua 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "cannot open no_such_script.lua" <<<"$msg" || fail "missing script: $rc $msg"
set -e
spanline run --help | grep -q -- '--instrument PATTERN' || fail "usage text"

# --- 7. the bundled demo (examples/shop.lua, uses the API directly) --------
(cd "$tmp" && lua5.4 "$src/examples/shop.lua" shop.jsonl >/dev/null) || fail "examples/shop.lua"
check "$tmp/shop.jsonl" <<'EOF2'
local batch = named("batch")
assert(#batch == 1 and batch[1].parent == nil and batch[1].status == "ok", "batch root")
local orders = named("order")
assert(#orders == 4, "four orders")
local errors = 0
for _, o in ipairs(orders) do
  assert(o.parent == batch[1].id, "orders run in worker coroutines under batch")
  if o.status == "error" then
    errors = errors + 1
    assert(o.error:find("out of stock: pear", 1, true))
  else
    assert(o.status == "ok")
  end
end
assert(errors == 1, "one failed order")
for _, g in ipairs(named("payment.gateway")) do
  local charge = parent_of(g)
  assert(charge and charge.name == "payment.charge", "gateway under charge")
  assert(parent_of(charge).name == "order", "charge under order")
  assert(g.status == "ok")
end
assert(#named("payment.gateway") == 3)
local reserves = named("stock.reserve")
assert(#reserves == 4)
for _, r in ipairs(reserves) do assert(parent_of(r).name == "order") end
local warm = named("cache.warmup")
assert(#warm == 1 and warm[1].status == "abandoned", "the span that never ends")
-- the workers interleave: order 2 (worker 2) starts before order 1 (worker 1) ends
assert(orders[1].start < orders[2].start and orders[2].start < orders[1].finish,
  "workers interleave")
EOF2

echo "run_cli: ok"
