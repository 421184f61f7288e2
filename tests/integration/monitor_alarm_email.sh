#!/usr/bin/env bash
# A function made to fail raises its Errors alarm (template: Sum of Errors over 2 s > 0, TreatMissingData ignore):
# the transition is logged and an e-mail reaches a real SMTP server (aiosmtpd); successful invocations then return
# the alarm to OK, which is mailed too. SNS Publish to the same topic is mailed as well.
source "$(dirname "$0")/monitor_lib.bash"

if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
  echo "SKIP: python3-aiosmtpd is not installed (tools/setup.sh installs it)"
  exit 0
fi
start_sink smtp
SMTP_PORT=$SINK_PORT
TEMPLATE=$(monitor_template "http://127.0.0.1:9/unused")
start_serve "$TEMPLATE" --smtp-url "smtp://127.0.0.1:$SMTP_PORT" --smtp-from alarms@mlfaas.test
MBOX="$WORK/smtp.out"

state=$(alarm_state Flaky-Errors)
assert_eq "$state" INSUFFICIENT_DATA "Flaky-Errors before any invocation"

for _ in 1 2 3; do
  got=$(invoke Flaky '{"mode": "exit", "code": 3}')
  assert_eq "$got" "200 Unhandled" "a crashing invocation"
done
wait_for_text "$MBOX" 'Subject: ALARM: "Flaky-Errors" in US East (N. Virginia)' 30
grep -qF "From alarms@mlfaas.test TO oncall@example.com" "$MBOX" || fail "envelope: $(head -1 "$MBOX")"
grep -qF '"NewStateValue": "ALARM"' "$MBOX" || fail "the mail lacks CloudWatch's alarm JSON"
grep -qF '"OldStateValue": "INSUFFICIENT_DATA"' "$MBOX" || fail "the mail lacks the old state"
grep -qF 'alarm Flaky-Errors: INSUFFICIENT_DATA -> ALARM' "$WORK/serve.out" || fail "transition not logged"
assert_eq "$(alarm_state Flaky-Errors)" ALARM "Flaky-Errors after the failures"
grep -qF 'OK: "Flaky-Errors"' "$MBOX" && fail "an OK mail came before any successful invocation"

succeed() {
  got=$(invoke Flaky '{"mode": "none"}')
  assert_eq "$got" "200 " "a successful invocation"
  sleep 0.3
}
wait_for_text "$MBOX" 'Subject: OK: "Flaky-Errors" in US East (N. Virginia)' 40 succeed
grep -qF '"NewStateValue": "OK"' "$MBOX" || fail "the OK mail lacks its alarm JSON"
grep -qF 'alarm Flaky-Errors: ALARM -> OK' "$WORK/serve.out" || fail "OK transition not logged"
alarm_line=$(grep -n 'Subject: ALARM: "Flaky-Errors"' "$MBOX" | head -1 | cut -d: -f1)
ok_line=$(grep -n 'Subject: OK: "Flaky-Errors"' "$MBOX" | head -1 | cut -d: -f1)
[ "$alarm_line" -lt "$ok_line" ] || fail "the OK mail came before the ALARM mail"
grep -qF 'notify: e-mail to oncall@example.com delivered' "$WORK/serve.out" || fail "delivery not logged"

# SNS Publish reaches the topic's e-mail subscriber through the same notifier.
code=$(timeout 30 curl -sS -o /dev/null -w '%{http_code}' -X POST \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  --data-urlencode Action=Publish \
  --data-urlencode TopicArn=arn:aws:sns:us-east-1:123456789012:monitor-mail \
  --data-urlencode Subject=deploy-note --data-urlencode 'Message=published by the monitoring test' "$BASE/")
assert_eq "$code" 200 "SNS Publish"
wait_for_text "$MBOX" 'published by the monitoring test' 20
grep -qF 'Subject: deploy-note' "$MBOX" || fail "published mail lacks its subject"

# The transitions are stored with the metrics (the store writes at most 200 ms after the fact).
sleep 0.5
stored=$("$PY" -c "
import sqlite3
c = sqlite3.connect('file:$WORK/.mlfaas/metrics.db?mode=ro', uri=True)
print(','.join(f'{o}>{n}' for o, n in c.execute(
    \"select old_state, new_state from alarm_history where alarm='Flaky-Errors' order by ts_ms\")))")
assert_eq "$stored" "INSUFFICIENT_DATA>ALARM,ALARM>OK" "stored transitions of Flaky-Errors"
server_healthy "the alarm cycle"
echo "PASS: Errors alarm mailed on ALARM and on OK; SNS Publish mailed"
