-- query.lua: the analysis layer: stream -> spans -> where/group/stats/tree.
--
-- Key idea: a query is a pull-based chain of generators. `open` yields
-- records; `spans` runs them through an assembler that yields each span when
-- it ends (children before parents; spans still open at EOF last, with
-- status "open") and then forgets it, so where/map/limit/top/stats/histogram
-- run in memory bounded by the open spans (plus 8 bytes per duration per
-- group for exact percentiles). sort_by, collect, tree, traces and
-- critical_path hold every span they see (whole traces).
--
-- Late children in spans(): a span started after its parent ended (another
-- coroutine) is linked into parent.children only while the streaming
-- assembler still knows the parent, i.e. while the parent or one of its
-- already-linked descendants is still open. Once a parent and every child
-- it had ended, it is handed out and forgotten (that is what keeps memory
-- bounded by the open spans), so a child starting after that is yielded as
-- an orphan (orphan = true, depth 0, parent = the parent's id). tree(),
-- traces() and critical_path() over a spans() query re-link such children
-- by parent id among the spans they hold (over a records query they
-- re-assemble with nothing forgotten), so their trees are whole either way.
-- A parent cycle in the input is cut (asm.cycles counts it; the span that
-- would close it stays an orphan with cycle = true).
--
-- Span fields: id, trace, parent, name, start, finish (nil while open), dur,
-- status ("ok"|"error"|"abandoned"|"open"), error, attrs, events ({name, ts,
-- attrs}), lane, children, depth, self, orphan (parent not seen),
-- remote_parent (parent given as a 16-hex W3C span-id), parent_span, line,
-- cycle (true when a parent link was refused because it closed a cycle).
-- Empty attrs, events and children are one shared read-only table.
-- Percentiles are nearest-rank: pN = the ceil(N/100 * n)-th smallest value.


local chain = require("spanline.query.chain")
require("spanline.query.stats")
require("spanline.query.trees")

return chain
