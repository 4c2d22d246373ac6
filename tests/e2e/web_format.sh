#!/usr/bin/env bash
# The page's duration formatter against lua/spanline/text.lua (tests/web/format.test.mjs);
# skipped (77) without node, chromium or `npm ci --prefix tests/web`.
exec "$(dirname "$0")/../web/run" format.test.mjs
