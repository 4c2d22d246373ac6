# run_env.sh: what the `spanline run` e2e scripts share (sourced, not a
# test): where the sources, the CLI and the fixtures are, a scratch
# directory removed at exit, fail MESSAGE, and spanline ARGS... run with
# lua5.4 as the tests run it.
src=${SPANLINE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
bin=${SPANLINE_BIN:-$src/bin/spanline}
fixtures=${SPANLINE_FIXTURES:-$src/tests/fixtures}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
spanline() { lua5.4 "$bin" "$@"; }
