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
-- The selection runs in the C assembler (query.open's pid option, the
-- assembler's select_pid); here: the note and the option.

local processes = {}

-- "FILE holds N processes (pids 1, 2, 3): --pid N selects one", or nil.
-- state: { pids = { distinct pids in order }, more = more than listed }
-- (q:processes()).
function processes.note(path, state)
  local n = #state.pids
  if n < 2 and not state.more then return nil end
  local shown = {}
  for i = 1, math.min(n, 8) do shown[i] = tostring(state.pids[i]) end
  return string.format("%s holds %s%d processes (pids %s%s): --pid N selects one", path,
    state.more and "more than " or "", n, table.concat(shown, ", "),
    (n > 8 or state.more) and ", ..." or "")
end

-- The --pid option's value (nil when not given): an integer, or nil and a message.
function processes.pid_option(text)
  if text == nil then return nil end   -- no --pid: every process
  local n = math.tointeger(tonumber(text))
  if not n or n < 0 then return nil, "--pid needs a process id (an integer >= 0)" end
  return n
end

return processes
