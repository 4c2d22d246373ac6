-- processes.lua: which process wrote which records, for commands that read
-- a stream several processes wrote into (`spanline run --append`, forks,
-- programs sharing one file): `--pid N` keeps one process's records, and a
-- stream with several processes says so in one line.
--
-- Key idea: every process starts its output with a meta record carrying its
-- pid, so a start record belongs to the process whose meta record came last
-- before it; any other record belongs to the process of its span's start.
-- That is exact for processes that wrote one after the other, and as good
-- as the interleaving of their batches when they wrote at the same time.

local processes = {}

local MAX_PIDS = 1000   -- distinct pids remembered (the note says "more")

-- Wraps a record generator. pid: the process to keep, or nil to keep all.
-- Returns the new generator and a state table whose `pids` lists the
-- distinct pids of the meta records seen (in order; `more` if there were
-- more than MAX_PIDS).
function processes.select(gen, pid)
  local state = { pids = {}, more = false }
  local known = {}
  local current            -- pid of the last meta record
  local mine = {}          -- open span ids of the kept process
  local function note_pid(p)
    if p == nil or known[p] then return end
    if #state.pids >= MAX_PIDS then state.more = true return end
    known[p] = true
    state.pids[#state.pids + 1] = p
  end
  local function keep(rec)
    local t = rec.type
    if t == "meta" then
      current = math.tointeger(rec.pid) or rec.pid
      note_pid(current)
      return pid == nil or current == pid
    end
    if pid == nil then return true end
    if t == "start" then
      if current ~= pid then return false end
      mine[rec.id] = true
      return true
    end
    local id = rec.id
    if not mine[id] then return false end
    if t == "end" then mine[id] = nil end
    return true
  end
  return function()
    while true do
      local rec = gen()
      if rec == nil or keep(rec) then return rec end
    end
  end, state
end

-- "FILE holds N processes (pids 1, 2, 3): --pid N selects one", or nil.
function processes.note(path, state)
  local n = #state.pids
  if n < 2 and not state.more then return nil end
  local shown = {}
  for i = 1, math.min(n, 8) do shown[i] = tostring(state.pids[i]) end
  return string.format("%s holds %s%d processes (pids %s%s): --pid N selects one", path,
    state.more and "more than " or "", n, table.concat(shown, ", "),
    (n > 8 or state.more) and ", ..." or "")
end

-- The --pid option's value: an integer, or nil and a message.
function processes.pid_option(text)
  local n = math.tointeger(tonumber(text))
  if not n or n < 0 then return nil, "--pid needs a process id (an integer >= 0)" end
  return n
end

return processes
