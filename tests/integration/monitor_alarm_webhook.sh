#!/usr/bin/env bash
# Throttling (ReservedConcurrentExecutions 1 and parallel requests) raises the Throttles alarm (Sum over 2 s > 0,
# 1 of 2 datapoints): a webhook receives SNS's Notification body with CloudWatch's alarm JSON as its Message,
# even though its first answer is a 500 (the notifier retries). Unthrottled invocations return the alarm to OK,
# which is posted too.
source "$(dirname "$0")/monitor_lib.bash"

start_sink webhook --fail-first 1
HOOK_PORT=$SINK_PORT
TEMPLATE=$(monitor_template "http://127.0.0.1:$HOOK_PORT/alarms")
start_serve "$TEMPLATE" --smtp-url "smtp://127.0.0.1:9"
HOOKS="$WORK/webhook.out"

# hook_states: the alarm states posted successfully so far, e.g. "ALARM OK".
hook_states() {
  [ -f "$HOOKS" ] || return 0
  "$PY" -c "
import json, sys
for l in open('$HOOKS'):
    r = json.loads(l)
    if r['status'] == 200: print(json.loads(json.loads(r['body'])['Message'])['NewStateValue'], end=' ')"
}
# wait_for_state STATE SECONDS [ACTION]
wait_for_state() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    case " $(hook_states)" in *" $1 "*) return 0 ;; esac
    if [ -n "${3:-}" ]; then $3; else sleep 0.2; fi
  done
  fail "no $1 notification at the webhook within $2 s (got: $(hook_states))"
}

# Eight requests at once against a concurrency of one: all but the running one are throttled.
burst=()
for i in $(seq 1 8); do
  timeout 60 curl -sS -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    --data '{"ms": 1500}' "$BASE/limited" >"$WORK/burst.$i" &
  burst+=($!)
done
wait "${burst[@]}"
codes=$(cat "$WORK"/burst.* | sort | uniq -c | tr -s ' ' | tr '\n' ';')
echo "burst answers: $codes"
n429=$(cat "$WORK"/burst.* | grep -c '^429$' || true)
n200=$(cat "$WORK"/burst.* | grep -c '^200$' || true)
[ "$n429" -ge 1 ] && [ "$n200" -ge 1 ] || fail "expected some 200 and some 429, got $codes"

wait_for_state ALARM 40
grep -qF 'alarm Limited-Throttles: INSUFFICIENT_DATA -> ALARM' "$WORK/serve.out" || fail "transition not logged"

unthrottled() {
  code=$(timeout 30 curl -sS -o /dev/null -w '%{http_code}' -X POST --data '{"ms": 10}' "$BASE/limited" || true)
  assert_eq "$code" 200 "an unthrottled call"
  sleep 0.3
}
wait_for_state OK 40 unthrottled

"$PY" - "$HOOKS" <<'PY' || fail "webhook bodies are not SNS notifications of the two transitions"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["status"] == 500, "the sink's first answer should have been a 500"
delivered = [r for r in rows if r["status"] == 200]
states = []
for r in delivered:
    h, body = r["headers"], json.loads(r["body"])
    assert h["x-amz-sns-message-type"] == "Notification", h
    assert h["x-amz-sns-topic-arn"] == "arn:aws:sns:us-east-1:123456789012:monitor-hook", h
    assert body["Type"] == "Notification" and body["TopicArn"] == h["x-amz-sns-topic-arn"], body
    assert body["MessageId"] == h["x-amz-sns-message-id"], body
    msg = json.loads(body["Message"])
    assert msg["AlarmName"] == "Limited-Throttles", msg
    assert msg["Trigger"]["MetricName"] == "Throttles" and msg["Trigger"]["Period"] == 2, msg
    assert msg["Trigger"]["Dimensions"] == [{"value": "Limited", "name": "FunctionName"}], msg
    assert body["Subject"].startswith(msg["NewStateValue"] + ': "Limited-Throttles"'), body
    states.append((msg["OldStateValue"], msg["NewStateValue"]))
assert states[:2] == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")], states
# The first (refused) attempt and its retry carry the same notification.
assert json.loads(rows[0]["body"])["MessageId"] == json.loads(delivered[0]["body"])["MessageId"]
print("webhook deliveries:", states)
PY
grep -qE 'notify: webhook http://127.0.0.1:[0-9]+/alarms delivered \(ALARM: "Limited-Throttles".*2 attempts\)' \
  "$WORK/serve.out" || fail "the retried delivery is not logged"
server_healthy "the throttling burst"
echo "PASS: Throttles alarm posted on ALARM (after one retry) and on OK"
