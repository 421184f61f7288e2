#!/usr/bin/env bash
# A timeout, a crash and a memory-limit kill each fail exactly one invocation with Lambda's error shape
# (X-Amz-Function-Error, errorType); the next invocation succeeds on a fresh instance (a new cold start).
# Also: a handler exception ends on /error, and through API routes a timeout is a 504 and a crash a 502.
source "$(dirname "$0")/platform_lib/common.bash"

start_serve "$MLFAAS_TEST_DATA/templates/diagnostic.yaml"

# invoke FUNCTION PAYLOAD: leaves the body in $WORK/body, headers in $WORK/headers.
invoke() {
  timeout 60 curl -sS -D "$WORK/headers" -o "$WORK/body" -X POST -H 'X-Amz-Log-Type: Tail' \
    "$BASE/2015-03-31/functions/$1/invocations" -d "$2" || fail "invoke $1 did not answer"
}
function_error() { grep -i '^X-Amz-Function-Error:' "$WORK/headers" | tr -d '\r' | awk '{print $2}'; }
error_type() { json_get 'j.get("errorType", "")' <"$WORK/body"; }
was_cold() { grep -i '^X-Amz-Log-Result:' "$WORK/headers" | awk '{print $2}' | tr -d '\r' | base64 -d | grep -q 'Init Duration'; }

# --- timeout: Sleep has Timeout 1 s
invoke Sleep '{"ms": 10}'
[ -z "$(function_error)" ] || fail "Sleep warm-up failed: $(cat "$WORK/body")"
start=$(date +%s.%N)
invoke Sleep '{"ms": 5000}'
elapsed=$(python3 -c "print($(date +%s.%N) - $start)")
assert_eq "$(function_error)" Unhandled "timeout: X-Amz-Function-Error"
assert_eq "$(error_type)" Sandbox.Timedout "timeout: errorType"
json_get 'j["errorMessage"]' <"$WORK/body" | grep -q 'Task timed out after 1.00 seconds' || fail "timeout message: $(cat "$WORK/body")"
python3 -c "import sys; sys.exit(0 if $elapsed < 4 else 1)" || fail "the timeout took ${elapsed}s (limit 1 s)"
grep -q $'Status: timeout' "$WORK/logs/Sleep.log" || fail "no 'Status: timeout' in the REPORT"
invoke Sleep '{"ms": 10}'
[ -z "$(function_error)" ] || fail "after a timeout the next invocation failed: $(cat "$WORK/body")"
was_cold || fail "after a timeout the next invocation did not get a fresh instance"

# --- crash: the runtime process dies mid-invocation
invoke Crash '{"mode": "none"}'
[ -z "$(function_error)" ] || fail "Crash warm-up failed: $(cat "$WORK/body")"
invoke Crash '{"mode": "segv"}'
assert_eq "$(function_error)" Unhandled "crash: X-Amz-Function-Error"
assert_eq "$(error_type)" Runtime.ExitError "crash: errorType"
json_get 'j["errorMessage"]' <"$WORK/body" | grep -q 'Runtime exited with error: signal: segmentation fault' \
  || fail "crash message: $(cat "$WORK/body")"
invoke Crash '{"mode": "none"}'
[ -z "$(function_error)" ] || fail "after a crash the next invocation failed: $(cat "$WORK/body")"
was_cold || fail "after a crash the next invocation did not get a fresh instance"
invoke Crash '{"mode": "exit", "code": 3}'
assert_eq "$(error_type)" Runtime.ExitError "exit: errorType"
json_get 'j["errorMessage"]' <"$WORK/body" | grep -q 'exit status 3' || fail "exit message: $(cat "$WORK/body")"

# --- memory: Alloc has 128 MB; 400 MB cannot fit
invoke Alloc '{"mb": 8}'
[ -z "$(function_error)" ] || fail "Alloc 8 MB failed: $(cat "$WORK/body")"
if grep -q 'resources  cgroup' "$WORK/serve.out"; then
  invoke Alloc '{"mb": 400}'
  assert_eq "$(function_error)" Unhandled "OOM: X-Amz-Function-Error"
  assert_eq "$(error_type)" Runtime.OutOfMemory "OOM: errorType"
  grep -q 'Error Type: Runtime.OutOfMemory' "$WORK/logs/Alloc.log" || fail "no OOM REPORT"
  invoke Alloc '{"mb": 8}'
  [ -z "$(function_error)" ] || fail "after the OOM kill the next invocation failed: $(cat "$WORK/body")"
  was_cold || fail "after the OOM kill the next invocation did not get a fresh instance"
  used=$(grep $'\tREPORT' "$WORK/logs/Alloc.log" | tail -1 | sed -E 's/.*Max Memory Used: ([0-9]+) MB.*/\1/')
  [ "$used" -ge 8 ] && [ "$used" -le 128 ] || fail "Max Memory Used after allocating 8 MB: $used MB"
else
  echo "NOTE: no cgroups on this host: memory limit not enforced, OOM case skipped"
fi

# --- a handler exception: /error, errorType = the exception class
invoke Fail '{"message": "boom"}'
assert_eq "$(function_error)" Unhandled "handler error: X-Amz-Function-Error"
assert_eq "$(error_type)" std::runtime_error "handler error: errorType"
assert_eq "$(json_get 'j["errorMessage"]' <"$WORK/body")" boom "handler error: errorMessage"

# --- API Gateway shapes: 504 on timeout, 502 on a crash
out=$(curl_json POST /slow -d '{"ms": 5000}')
assert_eq "$(echo "$out" | tail -1)" 504 "route timeout status"
assert_eq "$(echo "$out" | head -1)" '{"message":"Endpoint request timed out"}' "route timeout body"
out=$(curl_json POST /crash -d '{"mode": "abort"}')
assert_eq "$(echo "$out" | tail -1)" 502 "route crash status"
assert_eq "$(echo "$out" | head -1)" '{"message":"Internal server error"}' "route crash body"
server_healthy "failures"
echo "PASS platform_failures"
