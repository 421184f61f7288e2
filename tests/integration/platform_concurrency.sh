#!/usr/bin/env bash
# Reserved concurrency 2: 20 parallel synchronous requests get some 429s (API Gateway's and the Invoke API's
# shapes), no 5xx, none hang; 20 Event invocations are all processed, never more than 2 at a time.
# Idle instances are reclaimed after --idle-timeout (the next call is a cold start again).
source "$(dirname "$0")/platform_lib/common.bash"

start_serve "$MLFAAS_TEST_DATA/templates/diagnostic.yaml" --idle-timeout 1.5

# Warm the two allowed instances' code path once.
out=$(curl_json POST /limited -d '{"ms": 1}')
assert_eq "$(echo "$out" | tail -1)" 200 "warm-up"

# (`wait` with no argument would also wait for the server: wait for the clients by pid.)
clients=()
for i in $(seq 1 20); do
  (timeout 60 curl -s -o "$WORK/sync-$i.body" -w '%{http_code}' -X POST "$BASE/limited" -d '{"ms": 1500}' \
     >"$WORK/sync-$i.code" || echo timeout >"$WORK/sync-$i.code") &
  clients+=($!)
done
wait "${clients[@]}"
ok=0 throttled=0
for i in $(seq 1 20); do
  code=$(cat "$WORK/sync-$i.code")
  case "$code" in
    200) ok=$((ok + 1)) ;;
    429) throttled=$((throttled + 1))
         assert_eq "$(cat "$WORK/sync-$i.body")" '{"message":"Too Many Requests"}' "429 body" ;;
    *) fail "request $i answered '$code' (expected 200 or 429): $(cat "$WORK/sync-$i.body")" ;;
  esac
done
echo "sync: $ok ok, $throttled throttled"
[ "$ok" -ge 2 ] || fail "fewer than 2 requests succeeded"
[ "$throttled" -ge 1 ] || fail "no request was throttled at reserved concurrency 2"

# The Invoke API throttles with TooManyRequestsException.
clients=()
for i in 1 2; do
  (timeout 60 curl -s -o /dev/null -X POST "$BASE/2015-03-31/functions/Limited/invocations" -d '{"ms": 800}') &
  clients+=($!)
done
sleep 0.4
timeout 30 curl -s -D "$WORK/th" -o "$WORK/tb" -X POST "$BASE/2015-03-31/functions/Limited/invocations" -d '{"ms": 1}'
wait "${clients[@]}"
head -1 "$WORK/th" | grep -q ' 429' || fail "Invoke API over the limit: $(head -1 "$WORK/th")"
grep -qi '^x-amzn-ErrorType: TooManyRequestsException' "$WORK/th" || fail "no TooManyRequestsException"
grep -q 'ReservedFunctionConcurrentInvocationLimitExceeded' "$WORK/tb" || fail "429 reason: $(cat "$WORK/tb")"

# 20 asynchronous events: all accepted at once, run at most 2 at a time.
before=$(grep -c $'\tREPORT RequestId' "$WORK/logs/Limited.log")
for i in $(seq 1 20); do
  code=$(timeout 30 curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Amz-Invocation-Type: Event' \
    "$BASE/2015-03-31/functions/Limited/invocations" -d '{"ms": 100}')
  assert_eq "$code" 202 "Event invoke $i"
done
for _ in $(seq 1 300); do
  [ $(( $(grep -c $'\tREPORT RequestId' "$WORK/logs/Limited.log") - before )) -ge 20 ] && break
  sleep 0.1
done
done_count=$(( $(grep -c $'\tREPORT RequestId' "$WORK/logs/Limited.log") - before ))
assert_eq "$done_count" 20 "asynchronous events processed"
# The log is written in event order by one thread: the running count of START minus END is the concurrency.
max=$(awk -F'\t' '$3 ~ /^START RequestId/ {n++; if (n > m) m = n} $3 ~ /^END RequestId/ {n--} END {print m}' \
  "$WORK/logs/Limited.log")
echo "max concurrency seen in the log: $max"
[ "$max" -le 2 ] || fail "Limited ran $max invocations at once (reserved concurrency 2)"
grep -q 'Status: error' "$WORK/logs/Limited.log" && fail "an invocation of Limited failed"

# Idle reclaim: after the idle timeout the next invocation is a cold start.
timeout 30 curl -s -o /dev/null -X POST "$BASE/2015-03-31/functions/Echo/invocations" -d '{}'
sleep 3
timeout 30 curl -s -D "$WORK/ih" -o /dev/null -X POST -H 'X-Amz-Log-Type: Tail' \
  "$BASE/2015-03-31/functions/Echo/invocations" -d '{}'
grep -i '^X-Amz-Log-Result:' "$WORK/ih" | awk '{print $2}' | tr -d '\r' | base64 -d | grep -q 'Init Duration' \
  || fail "after the idle timeout the instance was not reclaimed (no cold start)"
server_healthy "concurrency"
echo "PASS platform_concurrency"
