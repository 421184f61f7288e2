#!/usr/bin/env bash
# Graceful shutdown: SIGTERM while an invocation runs -> new requests are refused, the in-flight one still
# gets its answer, the instances and their cgroups are gone, and serve exits 0.
source "$(dirname "$0")/platform_lib/common.bash"

start_serve "$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
timeout 30 curl -s -o /dev/null -X POST "$BASE/2015-03-31/functions/Sleep/invocations" -d '{"ms": 1}'  # warm
(timeout 60 curl -s -o "$WORK/inflight.body" -w '%{http_code}' -X POST \
   "$BASE/2015-03-31/functions/Sleep/invocations" -d '{"ms": 700}' >"$WORK/inflight.code") &
client=$!
sleep 0.3
bootstraps=$(pgrep -P "$SERVE_PID" | tr '\n' ' ')
[ -n "$bootstraps" ] || fail "no instance processes under serve"
kill -TERM "$SERVE_PID"
wait "$client"
assert_eq "$(cat "$WORK/inflight.code")" 200 "in-flight invocation during shutdown"
json_get 'j["slept_ms"] >= 700' <"$WORK/inflight.body" | grep -q True || fail "in-flight answer: $(cat "$WORK/inflight.body")"
status=0
for _ in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVE_PID" 2>/dev/null && fail "serve still running 10 s after SIGTERM"
server_pid=$SERVE_PID
wait "$SERVE_PID" || status=$?
SERVE_PID=""
assert_eq "$status" 0 "serve's exit status after SIGTERM"
for pid in $bootstraps; do
  if kill -0 "$pid" 2>/dev/null; then fail "instance process $pid outlived the server"; fi
done
grep -q 'SIGTERM received' "$WORK/serve.out" || fail "no shutdown message"
grep -q 'mlfaas serve: stopped' "$WORK/serve.out" || fail "no final summary"
left=$(find /sys/fs/cgroup -maxdepth 5 -type d -name "mlfaas-$server_pid" 2>/dev/null || true)
[ -z "$left" ] || fail "cgroups left behind: $left"
echo "PASS platform_shutdown"
