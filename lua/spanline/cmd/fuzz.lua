-- cmd/fuzz.lua: `spanline fuzz`: runs spanline's built-in properties (or a
-- user's properties file) on generated span programs with a printed seed.
--
-- The seed is printed first and the summary last; a failure prints the
-- shrunk program and exits 1, and `--seed N` replays the run exactly. The
-- report itself is deterministic (timings only with --timing).

local args = require("spanline.cli.args")

local USAGE = [[
usage: spanline fuzz [--seed N] [--runs N] [--property NAME] [--size N] [--file PROPS.lua]
                     [--list] [--timing] [--dump FILE]

Runs seeded property-based tests of the tracer: random span programs (start,
event, set, finish, error, abandon, spawn/resume/yield across coroutines) are
run through a tracer with deterministic ids and clock, and the output is
checked. A failure is shrunk to a minimal program; the seed reproduces it.

  --seed N        PRNG seed (default: from the clock; always printed first)
  --runs N        programs per property (default 100)
  --size N        largest program, in operations (default 40)
  --property NAME run only this property (repeatable); --list shows them
  --file F.lua    run the properties F.lua returns instead: a list of
                  { name = "...", check = function(ops) ... end, gen = generator? }
                  or a table name -> check function (gen: span programs)
  --timing        also print runs per second for each property
  --dump FILE     write the JSONL every run wrote to FILE (ids from the seed,
                  a counter clock: the same seed gives the same bytes, apart
                  from the pid in meta records); programs then pass at most one
                  attribute per table, as Lua's table order differs per process
exit status: 0 all passed, 1 a property failed, 2 usage error
]]

local function fail_usage(msg)
  io.stderr:write("spanline fuzz: ", msg, "\n")
  return 2
end

local function int_opt(v, name, min)
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < min then return nil, "--" .. name .. " expects an integer >= " .. min .. ", got '" .. v .. "'" end
  return n
end

-- Loads a user's properties file into the list shape.
local function load_file(path, default_gen)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local ok, res = pcall(chunk)
  if not ok then return nil, path .. ": " .. tostring(res) end
  if type(res) ~= "table" then return nil, path .. " must return a table of properties" end
  local out = {}
  local function add(name, p)
    if type(p) == "function" then p = { check = p } end
    if type(p) ~= "table" or type(p.check or p.property) ~= "function" then
      error(path .. ": property '" .. tostring(name) .. "' has no check function", 0)
    end
    out[#out + 1] = { name = p.name or tostring(name), check = p.check or p.property,
      gen = p.gen or p.generator or default_gen, description = p.description }
  end
  local lok, lerr = pcall(function()
    if #res > 0 then
      for i, p in ipairs(res) do add(type(p) == "table" and p.name or i, p) end
    else
      local names = {}
      for k in pairs(res) do names[#names + 1] = k end
      table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(names) do add(k, res[k]) end
    end
  end)
  if not lok then return nil, lerr end
  return out
end

local function run(argv)
  local opts, pos = args.parse(argv, { ["--seed"] = "value", ["--runs"] = "value", ["--size"] = "value",
    ["--property"] = "list", ["--file"] = "value", ["--list"] = "flag", ["--timing"] = "flag",
    ["--dump"] = "value",
    aliases = { ["-s"] = "--seed", ["-n"] = "--runs", ["-p"] = "--property" } })
  if not opts then return fail_usage(pos) end
  if #pos > 0 then return fail_usage("unexpected argument '" .. pos[1] .. "'") end
  local seed, err = int_opt(opts.seed, "seed", 1)
  if err then return fail_usage(err) end
  local runs, err2 = int_opt(opts.runs, "runs", 1)
  if err2 then return fail_usage(err2) end
  local size, err3 = int_opt(opts.size, "size", 1)
  if err3 then return fail_usage(err3) end

  local fuzz = require("spanline.fuzz")
  local gen = fuzz.properties.generator{ max_attrs = opts.dump and 1 or nil }
  local props
  if opts.file then
    local perr
    props, perr = load_file(opts.file, gen)
    if not props then
      io.stderr:write("spanline fuzz: cannot load ", opts.file, ": ", tostring(perr), "\n")
      return 2
    end
  else
    props = {}
    for _, p in ipairs(fuzz.properties.list) do
      local g = gen
      if p.gen_opts then
        local o = { max_attrs = opts.dump and 1 or nil }
        for k, v in pairs(p.gen_opts) do o[k] = v end
        g = fuzz.properties.generator(o)
      end
      props[#props + 1] = { name = p.name, check = p.check, gen = g, description = p.description }
    end
  end
  if opts.list then
    for _, p in ipairs(props) do
      io.stdout:write(string.format("%-18s %s\n", p.name, p.description or ""))
    end
    return 0
  end
  if opts.property then
    local chosen = {}
    for _, name in ipairs(opts.property) do
      local found
      for _, p in ipairs(props) do if p.name == name then found = p end end
      if not found then return fail_usage("unknown property '" .. name .. "' (see --list)") end
      chosen[#chosen + 1] = found
    end
    props = chosen
  end

  local dump
  if opts.dump then
    local derr
    dump, derr = io.open(opts.dump, "wb")
    if not dump then
      io.stderr:write("spanline fuzz: cannot open ", opts.dump, ": ", tostring(derr), "\n")
      return 1
    end
    fuzz.properties.on_output = function(bytes, format)
      if format == "jsonl" then dump:write(bytes) end
    end
  end

  seed = seed or fuzz.default_seed()
  runs = runs or 100
  size = size or 40
  local out = io.stdout
  out:write("seed ", seed, "\n")
  out:flush()
  local failed, total_runs = 0, 0
  for _, p in ipairs(props) do
    local ok, res = fuzz.check(p.gen, p.check, { seed = seed, runs = runs, max_size = size, print = false })
    if ok then
      total_runs = total_runs + res.runs
      out:write(string.format("ok     %-18s %d runs", p.name, res.runs))
      if opts.timing then out:write(string.format(" (%.0f runs/s)", res.runs_per_second)) end
      out:write("\n")
    else
      failed = failed + 1
      total_runs = total_runs + res.run
      out:write(string.format("FAILED %-18s at run %d (size %d), shrunk in %d steps from %d to %d operations\n",
        p.name, res.run, res.size, res.shrinks, type(res.original) == "table" and #res.original or 0,
        type(res.value) == "table" and #res.value or 0))
      out:write("  error: ", tostring(res.error), "\n")
      out:write("  counterexample: ", (fuzz.show(res.value):gsub("\n", "\n  ")), "\n")
    end
    out:flush()
  end
  if dump then
    fuzz.properties.on_output = nil
    dump:close()
  end
  out:write(string.format("%d properties, %d passed, %d failed, %d runs (seed %d; replay with --seed %d)\n",
    #props, #props - failed, failed, total_runs, seed, seed))
  return failed > 0 and 1 or 0
end

return { summary = "property-based tests of the tracer with a printed seed", usage = USAGE, run = run }
