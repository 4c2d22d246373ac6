-- spanline.fuzz: seeded property-based testing (generators, check, shrinking).
--
-- Key idea: every run is a pure function of (seed, run number, size), so a
-- printed seed replays a failure exactly; a failure is shrunk on the recorded
-- choices (see fuzz/gen.lua) to a minimal counterexample before it is shown.
--   local fuzz = require("spanline.fuzz")
--   local ok, failure = fuzz.check(fuzz.gen.list(fuzz.gen.integer(0, 9)), function(xs) ... end)

local gen = require("spanline.fuzz.gen")
local shrink = require("spanline.fuzz.shrink")

local program = require("spanline.fuzz.program")

local fuzz = { gen = gen, program = program }
gen.program = program.generator

local show = require("spanline.fuzz.show")

-- A deterministic Lua-literal rendering (sorted keys, escaped bytes).
function fuzz.show(v) return show(v) end

-- ===== check =====

-- A default seed from the clock (and the address of a fresh table, so two
-- runs in the same second differ); always printed.
local function default_seed()
  local t = os.time()
  local addr = tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0
  local c = math.floor(os.clock() * 1e6)
  return (gen.mix64(t ~ (addr << 16) ~ c) & 0x7fffffffffff) + 1
end
fuzz.default_seed = default_seed

local function run_seed(seed, run) return gen.mix64(seed * 1000003 + run) end

-- Runs the property once on the value the choices produce. A property fails
-- by returning false (optionally with a message) or raising an error.
-- While shrinking (lenient), a candidate the generator cannot turn into a
-- value (a filter that keeps rejecting zeros) is just not a counterexample.
local function run_once(generator, property, src, size, lenient)
  local ok, value = pcall(gen.draw, src, generator, size)
  if not ok then
    if value == gen.OVERRUN or lenient then return nil end
    error(value, 0) -- a broken generator is a bug to report, not a failure
  end
  local pok, res, msg = pcall(property, value)
  local failed, err = false, nil
  if not pok then
    failed, err = true, tostring(res)
  elseif res == false then
    failed, err = true, msg and tostring(msg) or "property returned false"
  end
  return { failed = failed, error = err, value = value, choices = src.choices, spans = src.spans }
end

local function emit(opts, line)
  local p = opts.print
  if p == false then return end
  if type(p) == "function" then p(line) return end
  io.stderr:write(line, "\n")
end

-- fuzz.check(generator, property, opts) -> true, stats | false, failure
-- opts: seed, runs (100), max_size (100), max_shrinks (5000), print
-- (default: stderr; false: quiet; a function(line)), name (for messages),
-- run (only this run number: replays a reported failure).
function fuzz.check(generator, property, opts)
  opts = opts or {}
  if not gen.is_gen(generator) then error("bad argument #1 to 'check' (generator expected)", 2) end
  if type(property) ~= "function" then
    error("bad argument #2 to 'check' (function expected, got " .. type(property) .. ")", 2)
  end
  local seed = math.tointeger(opts.seed) or default_seed()
  local runs = opts.runs or 100
  local max_size = opts.max_size or 100
  local label = opts.name and (opts.name .. ": ") or ""
  emit(opts, string.format("fuzz: %sseed %d", label, seed))
  local t0 = os.clock()
  local first, last = 1, runs
  if opts.run then first, last = opts.run, opts.run end
  local done = 0
  for run = first, last do
    local size = math.min(max_size, run)
    local src = gen.source{ rng = gen.rng(run_seed(seed, run)) }
    local result = run_once(generator, property, src, size)
    done = done + 1
    if result and result.failed then
      local function replay(choices)
        return run_once(generator, property, gen.source{ replay = choices, limit = #choices }, size, true)
      end
      local best, steps, attempts = shrink.run(result, replay, opts)
      local failure = {
        seed = seed, run = run, size = size,
        value = best.value, original = result.value, error = best.error,
        original_error = result.error, shrinks = steps, attempts = attempts,
        choices = best.choices,
      }
      emit(opts, string.format("fuzz: %sFAILED at run %d (seed %d, size %d) after %d shrinks",
        label, run, seed, size, steps))
      emit(opts, "fuzz: error: " .. tostring(best.error))
      emit(opts, "fuzz: counterexample: " .. show(best.value))
      return false, failure
    end
  end
  local elapsed = os.clock() - t0
  return true, { seed = seed, runs = done, seconds = elapsed,
    runs_per_second = elapsed > 0 and done / elapsed or math.huge }
end

-- fuzz.assert_property(generator, property, opts): for busted specs; raises
-- with the seed, the run and the shrunk counterexample on failure.
function fuzz.assert_property(generator, property, opts)
  opts = opts or {}
  local ok, res = fuzz.check(generator, property, opts)
  if ok then return res end
  error(string.format("property %sfailed (seed %d, run %d, %d shrinks): %s\ncounterexample: %s\n"
    .. "replay: fuzz.check(..., { seed = %d })", opts.name and ("'" .. opts.name .. "' ") or "",
    res.seed, res.run, res.shrinks, tostring(res.error), show(res.value), res.seed), 2)
end

-- The built-in properties (fuzz/properties.lua).
fuzz.properties = require("spanline.fuzz.properties")

-- Generates one value for a seed (handy in the REPL and in tests).
function fuzz.sample(generator, opts)
  opts = opts or {}
  local src = gen.source{ rng = gen.rng(run_seed(opts.seed or 1, opts.run or 1)) }
  return gen.draw(src, generator, opts.size or 10)
end

return fuzz
