#!/usr/bin/env bash
# The Invoke API with the real AWS CLI: cold then warm invocations, --log-type Tail with the REPORT line
# (Init Duration only on the cold start, measured Max Memory Used), DryRun, Event, unknown function, bad JSON,
# and SNS Publish (aws sns publish) delivered to the subscribed function.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"

start_serve "$MLFAAS_TEST_DATA/templates/diagnostic.yaml" --async-retry-delay-ms 200

# Cold start: the runtime's INIT takes >= 150 ms (MLFAAS_DIAG_INIT_MS), and REPORT says so.
aws_invoke Echo '{"hello": "world", "n": 1}' "$WORK/out1.json" --log-type Tail >"$WORK/cli1.json" \
  || fail "aws lambda invoke (cold) failed"
assert_eq "$(json_get 'j["hello"]' <"$WORK/out1.json")" world "echoed payload"
assert_eq "$(json_get 'j["StatusCode"]' <"$WORK/cli1.json")" 200 "StatusCode"
json_get 'j["LogResult"]' <"$WORK/cli1.json" | base64 -d >"$WORK/tail1.txt"
grep -q '^START RequestId: .* Version: \$LATEST$' "$WORK/tail1.txt" || fail "no START line in the tail"
grep -q '^END RequestId: ' "$WORK/tail1.txt" || fail "no END line in the tail"
report=$(grep '^REPORT RequestId: ' "$WORK/tail1.txt") || fail "no REPORT line in the tail"
echo "$report" | grep -Pq '\tDuration: [0-9]+\.[0-9]{2} ms\tBilled Duration: [0-9]+ ms\tMemory Size: 128 MB\tMax Memory Used: [0-9]+ MB\tInit Duration: [0-9]+\.[0-9]{2} ms$' \
  || fail "REPORT line of the cold start has the wrong shape: $report"
init_ms=$(echo "$report" | sed -E 's/.*Init Duration: ([0-9.]+) ms.*/\1/')
python3 -c "import sys; sys.exit(0 if float('$init_ms') >= 150 else 1)" || fail "Init Duration $init_ms < 150 ms of INIT"
used=$(echo "$report" | sed -E 's/.*Max Memory Used: ([0-9]+) MB.*/\1/')
[ "$used" -ge 1 ] && [ "$used" -le 128 ] || fail "Max Memory Used $used MB is not a measured value"
grep -q 'ML_ON_FAAS - {.*"logMessage": *"Processing completed"' "$WORK/tail1.txt" || fail "no ML_ON_FAAS line"
grep -q '"_aws":' "$WORK/tail1.txt" || fail "no EMF line"

# Warm: same instance, no Init Duration.
aws_invoke Echo '{"n": 2}' "$WORK/out2.json" --log-type Tail >"$WORK/cli2.json" || fail "warm invoke failed"
json_get 'j["LogResult"]' <"$WORK/cli2.json" | base64 -d >"$WORK/tail2.txt"
report2=$(grep '^REPORT RequestId: ' "$WORK/tail2.txt") || fail "no REPORT line on the warm invoke"
if echo "$report2" | grep -q 'Init Duration'; then fail "warm REPORT has an Init Duration: $report2"; fi
grep -q '"isColdStart": *false' "$WORK/tail2.txt" || fail "the runtime did not see a warm start"

# DryRun: 204, nothing runs.
code=$(timeout 30 curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Amz-Invocation-Type: DryRun' \
  "$BASE/2015-03-31/functions/Echo/invocations" -d '{}')
assert_eq "$code" 204 "DryRun status"

# Unknown function: ResourceNotFoundException through the CLI.
if aws_invoke NoSuchFunction '{}' "$WORK/none.json" 2>"$WORK/none.err"; then fail "unknown function succeeded"; fi
grep -q ResourceNotFoundException "$WORK/none.err" || fail "unknown function: $(cat "$WORK/none.err")"

# A payload that is not JSON: InvalidRequestContentException (400).
code=$(timeout 30 curl -s -o "$WORK/bad.json" -w '%{http_code}' -X POST "$BASE/2015-03-31/functions/Echo/invocations" -d '{nope')
assert_eq "$code" 400 "non-JSON payload"
grep -q 'Could not parse request body into json' "$WORK/bad.json" || fail "non-JSON payload answer: $(cat "$WORK/bad.json")"

# Event: 202 at once, runs in the background.
aws_invoke Subscriber '{"event": "async-1"}' "$WORK/ev.json" --invocation-type Event >"$WORK/ev-cli.json" \
  || fail "Event invoke failed"
assert_eq "$(json_get 'j["StatusCode"]' <"$WORK/ev-cli.json")" 202 "Event StatusCode"

# SNS: publish to the template's topic; the subscribed function receives the SNS event.
arn="arn:aws:sns:us-east-1:123456789012:mlfaas-test-topic"
timeout 60 aws sns publish --endpoint-url "$BASE" --topic-arn "$arn" --message '{"ExperimentId": "exp-7", "MessageId": "m-1", "Batch": ["a", "b"]}' \
  >"$WORK/pub.json" || fail "aws sns publish failed"
json_get 'j["MessageId"]' <"$WORK/pub.json" | grep -Eq '^[0-9a-f-]{36}$' || fail "publish gave no MessageId"
if timeout 30 aws sns publish --endpoint-url "$BASE" --topic-arn "arn:aws:sns:us-east-1:123456789012:nope" \
   --message x 2>"$WORK/pub.err"; then fail "publish to an unknown topic succeeded"; fi
grep -q NotFound "$WORK/pub.err" || fail "unknown topic: $(cat "$WORK/pub.err")"

# Both asynchronous events reach the Subscriber's log.
for _ in $(seq 1 100); do
  [ "$(grep -c $'\tREPORT RequestId' "$WORK/logs/Subscriber.log" 2>/dev/null)" -ge 2 ] && break
  sleep 0.2
done
[ "$(grep -c $'\tREPORT RequestId' "$WORK/logs/Subscriber.log")" -ge 2 ] || fail "Subscriber did not run twice"
grep -q '"experimentId": *"exp-7"' "$WORK/logs/Subscriber.log" || fail "SNS message's ExperimentId not in ML_ON_FAAS"
grep -q '"batchSize": *2' "$WORK/logs/Subscriber.log" || fail "SNS batch size not logged"
# A failing asynchronous event is retried twice (three attempts in all), then dropped.
timeout 60 aws sns publish --endpoint-url "$BASE" --topic-arn "arn:aws:sns:us-east-1:123456789012:FailTopic" \
  --message '{"message": "always fails"}' >/dev/null || fail "publish to FailTopic failed"
attempts() { grep -c $'\tREPORT RequestId.*Status: error' "$WORK/logs/Fail.log" 2>/dev/null || true; }
for _ in $(seq 1 100); do [ "$(attempts)" -ge 3 ] && break; sleep 0.1; done
sleep 1.5
assert_eq "$(attempts)" 3 "attempts of a failing SNS event"
assert_eq "$(grep -o $'\tSTART RequestId: [0-9a-f-]*' "$WORK/logs/Fail.log" | sort -u | wc -l)" 1 \
  "retries keep the event's request id"
server_healthy "invoke tests"

stop_serve
grep -q 'Echo .* 2 invocations' "$WORK/serve.out" || fail "shutdown summary missing"
echo "PASS platform_invoke"
