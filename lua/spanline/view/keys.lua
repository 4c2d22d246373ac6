-- keys.lua: the viewer's key map: one table that drives the dispatch of
-- keys (app:key), the help screen (?) and the footer's hints.
--
-- Key idea: a key is bound by adding an entry here, and the same entry
-- writes its line of help, so the help screen cannot list a key that does
-- nothing, nor miss one that does something. Actions are app methods
-- (view/app.lua), called with the app.

local fmt = require("spanline.view.fmt")

local keys = {}

-- How key names (view/term.lua decodes them) are shown to a user.
local SHOWN = {
  up = "↑", down = "↓", left = "←", right = "→", pgup = "PgUp", pgdn = "PgDn",
  home = "Home", ["end"] = "End", enter = "Enter", [" "] = "Space", esc = "Esc",
  ["ctrl-c"] = "Ctrl-C",
}

-- Entries in help order: help (what the keys do), bind (groups of key
-- names, each group with the app method it runs: one group per direction
-- of a pair such as up / down), foot (the entry's hint in the footer).
keys.MAP = {
  { help = "move up / down", foot = "↑↓ move",
    bind = { { "up", "k", run = "move_up" }, { "down", "j", run = "move_down" } } },
  { help = "page up / down",
    bind = { { "pgup", run = "page_up" }, { "pgdn", run = "page_down" } } },
  { help = "first / last row",
    bind = { { "g", "home", run = "first_row" }, { "G", "end", run = "last_row" } } },
  { help = "fold / unfold the span (or group × N, or bucket)", foot = "Enter fold",
    bind = { { "enter", " ", run = "toggle_fold" } } },
  { help = "fold / unfold; ← on a leaf goes to its parent",
    bind = { { "left", "h", run = "go_left" }, { "right", "l", run = "go_right" } } },
  { help = "collapse all / expand all",
    bind = { { "[", run = "collapse_all" }, { "]", run = "expand_all" } } },
  { help = "search names (Enter runs it, Esc cancels)", foot = "/ search",
    bind = { { "/", run = "start_search" } } },
  { help = "next / previous match",
    bind = { { "n", run = "next_match" }, { "N", run = "previous_match" } } },
  { help = "clear the search",
    bind = { { "esc", run = "clear_search" } } },
  { help = "toggle logical tree / time buckets", foot = "t mode",
    bind = { { "t", run = "toggle_mode" } } },
  { help = "bars per trace / all traces on one scale (logical)", foot = "s scale",
    bind = { { "s", run = "toggle_scale" } } },
  { help = "toggle follow (new records as they are written)", foot = "f follow",
    bind = { { "f", run = "toggle_follow" } } },
  { help = "this help (any key closes it)", foot = "? help",
    bind = { { "?", run = "show_help" } } },
  { help = "quit", foot = "q quit",
    bind = { { "q", "ctrl-c", run = "quit_view" } } },
}

-- What the bars mean (below the keys on the help screen).
keys.LEGEND = {
  "bars: █ ended  ▒ abandoned, or a group  █▶ did not end (still open)",
  "      ▶ ◀ the span goes on past the edge of the row's range",
  "      (its bucket in time mode; in logical mode its trace, or all of",
  "      them with s)",
}

-- The method a key name runs, from the map.
local ACTION = {}
for _, entry in ipairs(keys.MAP) do
  for _, group in ipairs(entry.bind) do
    for _, k in ipairs(group) do
      assert(ACTION[k] == nil, "key bound twice: " .. k)
      ACTION[k] = group.run
    end
  end
end

-- The name of the app method key k runs, or nil.
function keys.action(k)
  return ACTION[k]
end

-- An entry's keys as shown: "↑ k  ↓ j".
function keys.label(entry)
  local groups = {}
  for i, group in ipairs(entry.bind) do
    local names = {}
    for j, k in ipairs(group) do names[j] = SHOWN[k] or k end
    groups[i] = table.concat(names, " ")
  end
  return table.concat(groups, "  ")
end

-- The help screen's lines.
function keys.help_lines()
  local lines = { "spanline view: keys", "" }
  for _, entry in ipairs(keys.MAP) do
    lines[#lines + 1] = "  " .. fmt.pad(keys.label(entry), 14) .. " " .. entry.help
  end
  lines[#lines + 1] = ""
  for _, l in ipairs(keys.LEGEND) do lines[#lines + 1] = "  " .. l end
  return lines
end

-- The footer's hints: "↑↓ move  Enter fold  ...".
function keys.footer()
  local hints = {}
  for _, entry in ipairs(keys.MAP) do
    if entry.foot then hints[#hints + 1] = entry.foot end
  end
  return table.concat(hints, "  ")
end

return keys
