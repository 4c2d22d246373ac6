-- export/folded.lua: collapsed stacks ("root;child;leaf 1234"), one line per
-- distinct stack, weighted by self time in nanoseconds: the input of
-- flamegraph.pl (`flamegraph.pl --countname=ns`) and speedscope.
--
-- Key idea: a span's stack is the names on its parent chain, which the
-- streaming assembler keeps linked while any of a parent's children is
-- open; self time (duration minus the union of the children's intervals) is
-- added to that stack. Only the per-stack totals are kept, so memory grows
-- with the distinct stacks, not with the file. Spans still open at the end
-- have no self time and are left out; a span whose parent was never seen
-- starts its own stack. Frame names lose ';' (it separates frames) and line
-- breaks (they separate lines): both become spaces.

local folded = { summary = "collapsed stacks weighted by self time (flamegraph.pl, speedscope)" }

local function frame(name)
  return (tostring(name or "?"):gsub("[;\r\n]", " "))
end

-- The stack of s, root first, joined with ';'.
local function stack_of(s)
  local names = {}
  local seen = {}
  local p = s
  while p and not seen[p] do
    seen[p] = true
    names[#names + 1] = frame(p.name)
    p = p.parent_span
  end
  local n = #names
  for i = 1, n // 2 do names[i], names[n + 1 - i] = names[n + 1 - i], names[i] end
  return table.concat(names, ";")
end
folded.stack_of = stack_of

-- folded.export(q, out, opts) -> true | nil, message, code
function folded.export(q, out)
  local spans = q.kind == "spans" and q or q:spans()
  local totals, keys = {}, {}
  local ok, err = pcall(function()
    for s in spans:iter() do
      local self_ns = s.self
      if s.status ~= "open" and self_ns and self_ns > 0 then
        local key = stack_of(s)
        local t = totals[key]
        if not t then
          keys[#keys + 1] = key
          t = 0
        end
        totals[key] = t + self_ns
      end
    end
  end)
  if not ok then return nil, tostring(err), "EIO" end
  table.sort(keys)
  for _, key in ipairs(keys) do
    out:write(key, " ", string.format("%d", totals[key]), "\n")
  end
  return true
end

return folded
