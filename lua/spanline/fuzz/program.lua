-- fuzz/program.lua: span programs as data, their model, and an interpreter.
--
-- Key idea: a program is a plain list of operations (start, event, set,
-- finish, error, abandon, spawn, resume, yield; and call, return, raise:
-- a span held by tracer:with around the rest of the program until a
-- return, or an error raised through it), so it prints, shrinks and
-- replays like any value. One stepping function (`step`) defines what each
-- operation means; the generator uses it to emit only meaningful operations,
-- `model` uses it to compute the expected span tree, and `run` uses it to
-- drive a real tracer from real coroutines (a resume is a coroutine.resume,
-- a yield a coroutine.yield).

local gen = require("spanline.fuzz.gen")

local program = {}

local KINDS = { "start", "event", "set", "finish", "error", "abandon", "spawn", "resume", "yield",
  "call", "return", "raise" }
local WEIGHTS = { start = 5, event = 2, set = 2, finish = 4, error = 1, abandon = 1, spawn = 1,
  resume = 2, yield = 2, call = 3, ["return"] = 2, raise = 1 }
program.KINDS = KINDS
-- call/return/raise run through tracer:with, whose span's parent is the
-- tracer's current span: only meaningful with context tracking, so they are
-- generated only when asked for (opts.kinds).
program.DEFAULT_KINDS = { "start", "event", "set", "finish", "error", "abandon", "spawn", "resume", "yield" }

-- ===== the model =====

-- state: cos[k] = { stack = {span indices}, inherit = span index or nil },
-- chain = the coroutines being run (the last one is running), spans = model spans.
function program.new_state()
  return { cos = { { stack = {}, frames = {}, inherit = nil } }, chain = { 1 }, spans = {}, seq = 0 }
end

local function top(state)
  local co = state.cos[state.chain[#state.chain]]
  return co.stack[#co.stack], co
end

local function on_chain(state, k)
  for _, c in ipairs(state.chain) do if c == k then return true end end
  return false
end

-- Is op meaningful in this state?
function program.valid(state, op)
  local kind = op.op
  if kind == "start" or kind == "spawn" or kind == "call" then return true end
  if kind == "return" or kind == "raise" then
    local co = state.cos[state.chain[#state.chain]]
    return #co.frames > 0
  end
  if kind == "yield" then return #state.chain > 1 end
  if kind == "resume" then
    return state.cos[op.co] ~= nil and not on_chain(state, op.co)
  end
  local t, co = top(state)
  if t == nil then return false end
  -- a span held by a call ends only through its return or raise
  if kind ~= "event" and kind ~= "set" and co.frames[#co.frames] == t then return false end
  return true
end

local function remove(stack, i)
  for k = #stack, 1, -1 do
    if stack[k] == i then table.remove(stack, k) return end
  end
end

-- Applies op to the model; returns the index of the span it touched (and,
-- for start, the parent's index).
function program.step(state, op)
  local kind = op.op
  local k = state.chain[#state.chain]
  local t, co = top(state)
  state.seq = state.seq + 1
  if kind == "start" or kind == "call" then
    local parent = t or co.inherit
    local i = #state.spans + 1
    local pdepth = parent and state.spans[parent].depth or 0
    state.spans[i] = { index = i, name = op.name, parent = parent, co = k, depth = pdepth + 1,
      status = "open", attrs = {}, events = {}, started = state.seq, children = {} }
    for key, v in pairs(op.attrs or {}) do state.spans[i].attrs[key] = v end
    if parent then table.insert(state.spans[parent].children, i) end
    co.stack[#co.stack + 1] = i
    if kind == "call" then co.frames[#co.frames + 1] = i end
    return i, parent
  elseif kind == "return" or kind == "raise" then
    -- ends the innermost call's span, wherever it is on the stack (spans
    -- started inside and left open stay current)
    local f = table.remove(co.frames)
    remove(co.stack, f)
    state.spans[f].status = kind == "return" and "ok" or "error"
    state.spans[f].error = kind == "raise" and op.message or nil
    state.spans[f].ended = state.seq
    return f
  elseif kind == "event" then
    table.insert(state.spans[t].events, { name = op.name, attrs = op.attrs or {}, seq = state.seq })
    return t
  elseif kind == "set" then
    state.spans[t].attrs[op.key] = op.value
    return t
  elseif kind == "finish" or kind == "error" or kind == "abandon" then
    co.stack[#co.stack] = nil
    if kind ~= "abandon" then
      state.spans[t].status = kind == "finish" and "ok" or "error"
      state.spans[t].error = op.message
      state.spans[t].ended = state.seq
    end
    return t
  elseif kind == "spawn" then
    state.cos[#state.cos + 1] = { stack = {}, frames = {}, inherit = t or co.inherit }
  elseif kind == "resume" then
    state.chain[#state.chain + 1] = op.co
  elseif kind == "yield" then
    state.chain[#state.chain] = nil
  end
end

-- The expected outcome of a program: spans in creation order, each with
-- parent, depth, coroutine, status ("ok", "error", or "abandoned" for spans
-- never finished: the tracer ends them at close), attrs and events.
function program.model(ops)
  local state = program.new_state()
  for _, op in ipairs(ops) do
    if program.valid(state, op) then program.step(state, op) end
  end
  -- at the end the running coroutines unwind, innermost first: their calls
  -- return normally; anything else still open is abandoned at close
  for c = #state.chain, 1, -1 do
    local co = state.cos[state.chain[c]]
    for f = #co.frames, 1, -1 do
      state.seq = state.seq + 1
      local sp = state.spans[co.frames[f]]
      sp.status, sp.ended = "ok", state.seq
      remove(co.stack, co.frames[f])
    end
    co.frames = {}
  end
  for _, s in ipairs(state.spans) do
    if s.status == "open" then s.status = "abandoned" end
  end
  return state.spans, state
end

function program.depth(ops)
  local d = 0
  for _, s in ipairs((program.model(ops))) do d = math.max(d, s.depth) end
  return d
end

-- ===== the generator =====

-- fuzz.gen.program(opts): opts.name (string generator), opts.attrs (table
-- generator), opts.value (scalar generator), opts.max_coroutines (4),
-- opts.kinds (subset of KINDS to use), opts.max (most operations; default size).
function program.generator(opts)
  opts = opts or {}
  local name_g = opts.name or gen.string{ min = 1, max = 12 }
  local value_g = opts.value or gen.scalar()
  local key_g = opts.key or gen.string{ min = 1, max = 8 }
  local attrs_g = opts.attrs or gen.table(key_g, value_g, { max = 3 })
  local msg_g = opts.message or gen.string{ max = 12 }
  local max_cos = opts.max_coroutines or 4
  local kinds, weights, total = {}, {}, 0
  for _, kind in ipairs(KINDS) do
    local allowed = false
    for _, k in ipairs(program.DEFAULT_KINDS) do if k == kind and not opts.kinds then allowed = true end end
    for _, k in ipairs(opts.kinds or {}) do if k == kind then allowed = true end end
    if allowed then
      kinds[#kinds + 1] = kind
      weights[#weights + 1] = WEIGHTS[kind]
      total = total + WEIGHTS[kind]
    end
  end

  local function draw_op(src, size, state)
    local r = src:draw(total - 1)
    local kind
    for i, w in ipairs(weights) do
      if r < w then kind = kinds[i] break end
      r = r - w
    end
    local op = { op = kind }
    if kind == "resume" then
      local cands = {}
      for k = 1, #state.cos do
        if not on_chain(state, k) then cands[#cands + 1] = k end
      end
      if #cands == 0 then return nil end
      op.co = cands[1 + src:draw(#cands - 1)]
    elseif kind == "spawn" and #state.cos >= max_cos then
      return nil
    end
    if not program.valid(state, op) then return nil end
    if kind == "event" then
      op.name = gen.draw(src, name_g, size)
      op.attrs = gen.draw(src, attrs_g, size)
    elseif kind == "set" then
      op.key = gen.draw(src, key_g, size)
      op.value = gen.draw(src, value_g, size)
    elseif kind == "error" or kind == "raise" then
      op.message = gen.draw(src, msg_g, size)
    elseif kind == "call" then
      op.name = gen.draw(src, name_g, size)
    end
    return op
  end

  return gen.new(function(src, size)
    local state = program.new_state()
    local ops = {}
    local max = opts.max or size
    local avg = math.max(1, math.min(max, size) // 2)
    while true do
      local first = src:mark_start()
      if not gen.more(src, #ops, 0, max, avg) then break end
      -- an operation that does not fit the state falls back to start, the
      -- simplest one, so every choice list still means a valid program
      local op = draw_op(src, size, state)
      if op == nil or op.op == "start" then
        op = { op = "start", name = gen.draw(src, name_g, size), attrs = gen.draw(src, attrs_g, size) }
      end
      program.step(state, op)
      ops[#ops + 1] = op
      src:mark_stop(first)
    end
    return ops
  end, "program")
end

-- ===== the interpreter =====

-- The calls a program makes; replace any of them to drive another tracer.
program.api = {
  start = function(tracer, name, attrs, parent)
    if parent then return tracer:start(name, attrs, { parent = parent }) end
    return tracer:start(name, attrs, { root = true })
  end,
  event = function(span, name, attrs) span:event(name, attrs) end,
  set = function(span, key, value) span:set(key, value) end,
  finish = function(span) span:finish() end,
  error = function(span, message) span:finish("error", message) end,
}

-- Runs ops against tracer: coroutine 1 runs the program, `spawn` creates a
-- coroutine, `resume k` resumes it, `yield` yields back to the resumer. The
-- parent of each span is given explicitly (the model's), so the tree does
-- not depend on context rules; opts.api overrides calls. With opts.context,
-- spans are started without a parent (the tracer's current span of the
-- running coroutine must be the model's parent) and coroutines are created
-- with opts.create (spanline.coroutine.create: they inherit the creator's
-- current span); `abandon` does not fit that mode, and `call` (a
-- tracer:with span around the following operations, ended by `return` or
-- by the error a `raise` throws through it) needs it. Returns the span
-- handles in creation order (abandoned spans stay referenced until the
-- tracer closes, so no collection timing leaks into the output).
function program.run(ops, tracer, opts)
  local api = (opts and opts.api) or program.api
  local in_context = opts and opts.context
  local create = (opts and opts.create) or coroutine.create
  local state = program.new_state()
  local handles = {}
  local cos = {}
  local cursor = 0

  local RAISED = {}
  local body
  local raising -- the message of a `raise` on its way to the call's pcall
  -- the function a call runs inside tracer:with: the rest of the program
  -- up to a `return` op (or the end), or a `raise` op, which raises
  local function in_call(i)
    return function()
      handles[i] = tracer:current()
      if body(true) == RAISED then error(raising, 0) end
    end
  end

  body = function(inside_call)
    while true do
      cursor = cursor + 1
      local op = ops[cursor]
      if op == nil then return end
      if program.valid(state, op) then
        local kind = op.op
        local i, parent = program.step(state, op)
        if kind == "return" then
          assert(inside_call)
          return
        elseif kind == "raise" then
          assert(inside_call)
          raising = op.message
          return RAISED
        elseif kind == "call" then
          local ok, err = pcall(tracer.with, tracer, op.name, in_call(i))
          if not ok then
            if raising == nil or err ~= raising then error(err, 0) end
            raising = nil
          end
        elseif kind == "start" then
          if in_context then
            handles[i] = tracer:start(op.name, op.attrs)
          else
            handles[i] = api.start(tracer, op.name, op.attrs, parent and handles[parent])
          end
        elseif kind == "event" then
          api.event(handles[i], op.name, op.attrs)
        elseif kind == "set" then
          api.set(handles[i], op.key, op.value)
        elseif kind == "finish" then
          api.finish(handles[i])
        elseif kind == "error" then
          api.error(handles[i], op.message)
        elseif kind == "spawn" then
          cos[#state.cos] = create(body)
        elseif kind == "resume" then
          local ok, err = coroutine.resume(cos[op.co])
          if not ok then error(err, 0) end
        elseif kind == "yield" then
          coroutine.yield()
        end
      end
    end
  end

  cos[1] = create(body)
  local ok, err = coroutine.resume(cos[1])
  if not ok then error(err, 0) end
  return handles, state
end

return program
