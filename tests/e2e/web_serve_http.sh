#!/usr/bin/env bash
# `spanline serve` as an HTTP server, with curl: GET of the page and of the
# event stream answered, every other method refused (405), other paths 404,
# a foreign Host refused (403, DNS rebinding), malformed or oversized
# requests answered 400/431/505 without harm, a stalled connection holding
# nobody up, loopback by default and a warning for another address.
set -euo pipefail
BIN=${SPANLINE_BIN:-bin/spanline}
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cp "${SPANLINE_FIXTURES:-tests/fixtures}/view_basic.jsonl" "$tmp/t.jsonl"
"$BIN" serve "$tmp/t.jsonl" --port 0 >"$tmp/out" 2>"$tmp/err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/out" ] && break; sleep 0.1; done
url=$(head -n1 "$tmp/out")
[[ $url =~ ^http://127\.0\.0\.1:[0-9]+/$ ]] || fail "no loopback URL printed: '$url' $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "unexpected stderr on loopback: $(cat "$tmp/err")"
hostport=${url#http://}; hostport=${hostport%/}; port=${hostport#*:}

# curl is a client, not under test: never with the sanitizer runtime the
# suite may preload for lua5.4 (curl hangs with libasan preloaded)
curl() { env -u LD_PRELOAD curl "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$url")" = 200 ] || fail "GET / not 200"
curl -s "$url" >"$tmp/page.html"
grep -q 'id="spanline-data">{"v":1,"live":"events"}' "$tmp/page.html" || fail "page without the live data block"
[ "$(code "${url}index.html")" = 200 ] || fail "GET /index.html not 200"
for m in POST PUT DELETE PATCH OPTIONS; do
  [ "$(code -X "$m" "$url")" = 405 ] || fail "$m / not refused with 405"
  [ "$(code -X "$m" "${url}events")" = 405 ] || fail "$m /events not refused with 405"
done
[ "$(code -I "$url")" = 405 ] || fail "HEAD not refused with 405"
curl -s -i -X POST "$url" >"$tmp/405"
grep -qi '^Allow: GET' "$tmp/405" || fail "405 without Allow: GET"
[ "$(code "${url}nope")" = 404 ] || fail "unknown path not 404"
[ "$(code "${url}../../etc/passwd")" = 404 ] || fail "path traversal not 404"
[ "$(code -H 'Host: evil.example' "$url")" = 403 ] || fail "foreign Host not 403"
[ "$(code -H "Host: localhost:$port" "$url")" = 200 ] || fail "Host localhost refused"
[ "$(code -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$url")" = 431 ] || fail "oversized head not 431"

raw() {  # raw REQUEST: the status line the server answers to bytes sent as they are
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf '%b' "$1" >&3
  head -n1 <&3 | tr -d '\r'
  exec 3<&- 3>&-
}
[[ $(raw 'garbage\r\n\r\n') == "HTTP/1.1 400 "* ]] || fail "garbage not 400"
[[ $(raw 'GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n') == "HTTP/1.1 505 "* ]] || fail "HTTP/2.0 not 505"
[[ $(raw 'GET / HTTP/1.1\r\n\r\n') == "HTTP/1.1 400 "* ]] || fail "missing Host not 400"
[[ $(raw 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello') == "HTTP/1.1 413 "* ]] || fail "GET with a body not refused"

# a connection that never finishes its request holds nobody up
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.1\r\n' >&4
[ "$(code --max-time 5 "$url")" = 200 ] || fail "page not served while another request stalls"
# the stream answers with events (the snapshot first)
curl -s -N --max-time 2 "${url}events" >"$tmp/events" || true
grep -q '^event: snapshot$' "$tmp/events" || fail "no snapshot event on /events"
grep -q '^data: {"v":1,"snapshot":true' "$tmp/events" || fail "snapshot without spans batch"
exec 4<&- 4>&-

# another address only when asked, with a warning
"$BIN" serve "$tmp/t.jsonl" --port 0 --host 0.0.0.0 >"$tmp/out2" 2>"$tmp/err2" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/out2" ] && break; sleep 0.1; done
grep -q 'warning: listening on 0.0.0.0' "$tmp/err2" || fail "no warning for a non-loopback address: $(cat "$tmp/err2")"
# misuse
set +e
"$BIN" serve "$tmp/t.jsonl" --port 70000 2>"$tmp/e3"; [ $? = 2 ] || fail "--port 70000 not a usage error"
"$BIN" serve "$tmp/missing.jsonl" --port 0 2>"$tmp/e4"; [ $? = 1 ] || fail "missing file not an error"
grep -q 'cannot open' "$tmp/e4" || fail "missing file message: $(cat "$tmp/e4")"
set -e
echo "web_serve_http ok"
