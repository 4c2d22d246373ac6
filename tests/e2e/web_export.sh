#!/usr/bin/env bash
# Browser tests of the web page (tests/web/export.test.mjs) in headless Chromium;
# skipped (77) without node, chromium or `npm ci --prefix tests/web`.
exec "$(dirname "$0")/../web/run" export.test.mjs
