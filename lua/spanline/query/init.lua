-- spanline.query: the analysis layer: stream -> spans -> where/group/stats/tree.
--
-- Key idea: a query is a pull-based chain of steps over a source that
-- starts a new pass each time it is iterated (a path is read again; see
-- query/chain.lua). `open` yields records; `spans` runs them through the
-- C assembler (query/spans.lua), which hands each span out when it ends
-- (children before parents; spans still open at the end last, with status
-- "open") and then forgets it, so where/map/limit/top/stats/histogram run
-- in memory bounded by the open spans (plus 8 bytes per duration per
-- group for exact percentiles). each_trace, tree and critical_path hold
-- one whole trace at a time; traces, sort_by and collect hold everything.
--
-- Late children in spans(): a span started after its parent ended (another
-- coroutine) is linked to it while the assembler still knows the parent,
-- i.e. while a child of it has not been handed out yet. Once a parent and
-- every child it had were handed out it is forgotten (that is what keeps
-- memory bounded by the open spans), so a child starting after that is
-- yielded as an orphan (orphan = true, depth 0, parent = the parent's id).
-- tree() and traces() over a spans() query re-link such children by
-- parent id among the spans they hold (over a records query the trace is
-- handed out whole), so their trees are whole either way. A parent cycle
-- in the input is cut (q:cycles() counts it; the span that would close it
-- stays an orphan with cycle = true); a second start or end record for one
-- id is counted (q:duplicates()) and marks the span duplicate = true.
--
-- Span fields: id, trace, parent, name, start, finish (nil while open), dur,
-- status ("ok"|"error"|"abandoned"|"open"), error, attrs (always a table,
-- decoded on first read), events ({name, ts, attrs}), lane, children
-- (sorted by start in trees; handed-out order in spans()), depth, self,
-- orphan (parent not seen), remote_parent (parent given as a 16-hex W3C
-- span-id), parent_span, line, cycle, duplicate. Empty events and children
-- are one shared read-only table (query.EMPTY).
-- Percentiles are nearest-rank: pN = the ceil(N/100 * n)-th smallest value.

local chain = require("spanline.query.chain")
require("spanline.query.stats")
require("spanline.query.trees")

return chain
