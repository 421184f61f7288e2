#!/usr/bin/env bash
# GET /metrics parses with the Prometheus client library's own parser and counts what was invoked; the metrics
# survive a restart of serve; a kill -9 loses at most the records of the last second before it.
source "$(dirname "$0")/monitor_lib.bash"

"$PY" -c 'import prometheus_client' 2>/dev/null || {
  echo "SKIP: python3-prometheus-client is not installed (tools/setup.sh installs it)"
  exit 0
}
TEMPLATE=$(monitor_template "http://127.0.0.1:9/unused")
STATE="$WORK/state"
serve_with_state() { start_serve "$TEMPLATE" --state-dir "$STATE" --smtp-url smtp://127.0.0.1:9; }

# prom_value METRIC FUNCTION: the sample's value, parsed by prometheus_client.
prom_value() {
  timeout 20 curl -sS "$BASE/metrics" >"$WORK/metrics.txt" || fail "GET /metrics failed"
  "$PY" - "$WORK/metrics.txt" "$1" "$2" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text, name, fn = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
values = {}
for family in text_string_to_metric_families(text):  # raises on anything that is not exposition format
    for s in family.samples:
        if s.labels.get("function") == fn:
            values[s.name] = s.value
print(int(values.get(name, 0)) if float(values.get(name, 0)).is_integer() else values[name])
PY
}

serve_with_state
for _ in $(seq 1 20); do assert_eq "$(invoke Echo '{"n": 1}')" "200 " "Echo"; done
for _ in 1 2; do assert_eq "$(invoke Flaky '{"mode": "exit"}')" "200 Unhandled" "Flaky crash"; done
sleep 0.5  # the store writes every 200 ms
assert_eq "$(prom_value mlfaas_invocations_total Echo)" 20 "Echo invocations"
assert_eq "$(prom_value mlfaas_errors_total Echo)" 0 "Echo errors"
assert_eq "$(prom_value mlfaas_invocations_total Flaky)" 2 "Flaky invocations"
assert_eq "$(prom_value mlfaas_errors_total Flaky)" 2 "Flaky errors"
assert_eq "$(prom_value mlfaas_cold_starts_total Flaky)" 2 "Flaky cold starts (each crash ends the instance)"
assert_eq "$(prom_value mlfaas_duration_milliseconds_count Echo)" 20 "Echo duration histogram count"
grep -q '^# TYPE mlfaas_duration_milliseconds histogram' "$WORK/metrics.txt" || fail "no duration histogram"
cost=$(prom_value mlfaas_cost_usd_total Echo)
"$PY" -c "assert 0 < float('$cost') < 1e-3" || fail "Echo cost $cost"
"$MLFAAS_BIN" metrics --db "$STATE/metrics.db" --function Echo --since 10m >"$WORK/summary.txt" ||
  fail "mlfaas metrics failed"
grep -q Echo "$WORK/summary.txt" || fail "mlfaas metrics does not list Echo: $(cat "$WORK/summary.txt")"

# A clean restart keeps everything.
stop_serve
serve_with_state
assert_eq "$(prom_value mlfaas_invocations_total Echo)" 20 "Echo invocations after a restart"
assert_eq "$(prom_value mlfaas_errors_total Flaky)" 2 "Flaky errors after a restart"

# kill -9 while a client keeps invoking: every answer older than one second before the kill must be recorded.
: >"$WORK/answers"
(
  while true; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST --data '{}' \
      "$BASE/2015-03-31/functions/Echo/invocations" 2>/dev/null || true)
    [ "$code" = 200 ] && date +%s.%N >>"$WORK/answers"
  done
) &
CLIENT=$!
sleep 3
instances=$(pgrep -P "$SERVE_PID" || true)
kill_at=$(date +%s.%N)
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
kill "$CLIENT" 2>/dev/null || true
wait "$CLIENT" 2>/dev/null || true
answered=$(wc -l <"$WORK/answers")
older=$(awk -v k="$kill_at" '$1 < k - 1.0' "$WORK/answers" | wc -l)
[ "$answered" -ge 20 ] || fail "only $answered answers in 3 s"

serve_with_state
recorded=$(( $(prom_value mlfaas_invocations_total Echo) - 20 ))
echo "kill -9: $answered answered before the kill, $older of them more than 1 s before it, $recorded recorded"
[ "$recorded" -ge "$older" ] || fail "lost records older than one second ($recorded recorded < $older)"
# The store may hold one more: an invocation recorded whose answer was cut off by the kill.
[ "$recorded" -le $((answered + 1)) ] || fail "more records ($recorded) than invocations ($answered)"
server_healthy "restart after kill -9"
# The killed server's instances (frozen ones never notice) are ended by the next start, not left behind. Without
# cgroups there is nothing to find them by: end them here.
if grep -q 'running unenforced' "$WORK/serve.out"; then
  for pid in $instances; do kill -KILL "$pid" 2>/dev/null || true; kill -CONT "$pid" 2>/dev/null || true; done
fi
for pid in $instances; do
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "instance $pid of the killed server is still running"
done
echo "PASS: Prometheus text parses; metrics survive restart and kill -9"
