# e2e_env.sh: sourced by the tests/e2e/export_*.sh scripts that need Node:
# the CLI runner, fail(), and exit 77 (skip) without node or without the
# pinned npm packages (`npm ci --ignore-scripts --prefix tests/otlp`).
bin=${SPANLINE_BIN:-bin/spanline}
run() { lua5.4 "$bin" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
[ -d tests/otlp/node_modules/@opentelemetry/otlp-transformer ] || {
  echo "SKIP: the npm packages are missing: npm ci --ignore-scripts --prefix tests/otlp"; exit 77; }
