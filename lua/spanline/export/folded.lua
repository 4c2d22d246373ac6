-- export/folded.lua: collapsed stacks ("root;child;leaf 1234"), one line per
-- distinct stack, weighted by self time in nanoseconds: the input of
-- flamegraph.pl (`flamegraph.pl --countname=ns`) and speedscope.
--
-- Key idea: spans arrive in end order, children before their parents, and
-- a child's stack is only known once its root has arrived. So stacks are
-- walked from each root when it arrives (its subtree is linked by then:
-- spans().children), and a child that ends after its root went is walked
-- under its parent's known stack. Only the per-stack totals are kept, so
-- memory grows with the distinct stacks (and the open traces the query
-- holds), not with the file. Spans still open have no self time; a span
-- whose parent was never seen starts its own stack. Frame names lose ';'
-- (it separates frames) and line breaks (they separate lines): both become
-- spaces.

local folded = { summary = "collapsed stacks weighted by self time (flamegraph.pl, speedscope)" }

local function frame(name)
  return (tostring(name or "?"):gsub("[;\r\n]", " "))
end

-- The stack of s, root first, joined with ';' (s and its parent_span chain).
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
  local walked = setmetatable({}, { __mode = "k" })

  local function add(key, s)
    local self_ns = s.status ~= "open" and s.self
    if not self_ns or self_ns <= 0 then return end
    local t = totals[key]
    if not t then
      keys[#keys + 1] = key
      t = 0
    end
    totals[key] = t + self_ns
  end

  -- s and its subtree, s's stack being prefix;name (prefix false: a root;
  -- iterative: deep chains)
  local function walk(s, prefix)
    local todo = { s, prefix }
    while #todo > 0 do
      local pre = table.remove(todo)
      local x = table.remove(todo)
      if not walked[x] then
        walked[x] = true
        local key = pre and (pre .. ";" .. frame(x.name)) or frame(x.name)
        add(key, x)
        for _, c in ipairs(x.children or {}) do
          todo[#todo + 1] = c
          todo[#todo + 1] = key
        end
      end
    end
  end

  local ok, err = pcall(function()
    for s in spans:iter() do
      local p = s.parent_span
      if p and walked[p] then
        walk(s, stack_of(p))                 -- ended after its root went
      elseif not p and (s.parent == nil or s.orphan) then
        walk(s, false)                       -- a root: its subtree is linked now
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
