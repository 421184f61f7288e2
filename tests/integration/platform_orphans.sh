#!/usr/bin/env bash
# Clean-up after `kill -9` of serve (issue 19): its 20 frozen instances outlive it; a restart ends them and is
# listening within 2 s, and leaves alone the instances of another serve that is still running.
source "$(dirname "$0")/platform_lib/common.bash"

TEMPLATE="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
# A killed process stays a zombie until its new parent reaps it: that is dead too.
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

# The live neighbour, with one warm instance.
mkdir -p "$WORK/live"
(cd "$WORK/live" && exec "$MLFAAS_BIN" serve --template "$TEMPLATE" --port 0 --port-file "$WORK/live/port" \
    --log-dir "$WORK/live/logs" --state-dir "$WORK/live/state" >"$WORK/live/serve.out" 2>&1) &
LIVE_PID=$!
trap 'kill -TERM $LIVE_PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 200); do [ -s "$WORK/live/port" ] && break; sleep 0.1; done
[ -s "$WORK/live/port" ] || fail "the live serve did not start"
LIVE="http://127.0.0.1:$(cat "$WORK/live/port")"
grep -q 'resources  cgroup' "$WORK/live/serve.out" || { echo "SKIP platform_orphans: no cgroups here"; exit 0; }
timeout 30 curl -sS -o /dev/null "$LIVE/2015-03-31/functions/Sleep/invocations" -d '{"ms": 1}' || fail "live serve"
live_instances=$(pgrep -P "$LIVE_PID" | tr '\n' ' ')
[ -n "$live_instances" ] || fail "no instance under the live serve"

# The one to kill: 20 instances at once, then idle (frozen).
start_serve "$TEMPLATE" --state-dir "$WORK/state" --freeze-after-ms 0
# A busy machine may finish one invocation before the last one arrives, which then reuses its instance: another
# round of 20 at once adds what is missing.
for round in 1 2 3; do
  clients=""
  for i in $(seq 1 20); do
    timeout 60 curl -sS -o /dev/null "$BASE/2015-03-31/functions/Sleep/invocations" -d '{"ms": 600}' &
    clients="$clients $!"
  done
  for c in $clients; do wait "$c" || fail "an invocation failed"; done
  orphans=$(pgrep -P "$SERVE_PID" | tr '\n' ' ')
  [ "$(echo $orphans | wc -w)" -ge 20 ] && break
done
[ "$(echo $orphans | wc -w)" -ge 20 ] || fail "only $(echo $orphans | wc -w) instances before kill -9"
sleep 0.3
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
for pid in $orphans; do alive "$pid" || fail "instance $pid did not outlive kill -9 (nothing to test)"; done

started=$(date +%s.%N)
start_serve "$TEMPLATE" --state-dir "$WORK/state"
elapsed=$(python3 -c "print(round($(date +%s.%N) - $started, 2))")
echo "restart with 20 orphans listening after ${elapsed} s"
python3 -c "import sys; sys.exit(0 if $elapsed < 2 else 1)" || fail "restart took ${elapsed} s with 20 orphans"
for pid in $orphans; do
  for _ in $(seq 1 20); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && fail "orphan $pid still alive after the restart"
done
for pid in $live_instances; do alive "$pid" || fail "the live serve's instance $pid was killed"; done
timeout 30 curl -sS -D "$WORK/live/headers" -o /dev/null -H 'X-Amz-Log-Type: Tail' \
  "$LIVE/2015-03-31/functions/Sleep/invocations" -d '{"ms": 1}' || fail "the live serve stopped answering"
grep -i '^X-Amz-Log-Result:' "$WORK/live/headers" | awk '{print $2}' | tr -d '\r' | base64 -d | grep -q 'Init Duration' \
  && fail "the live serve's instance was replaced"
echo "PASS platform_orphans"
