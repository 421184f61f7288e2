# Shared by tests/integration/monitor_*.sh: the platform helpers plus real notification sinks (an SMTP server and
# a webhook endpoint) and the monitoring template with short alarm periods.
# shellcheck source=platform_lib/common.bash
source "$(dirname "${BASH_SOURCE[0]}")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest (MLFAAS_SOURCE unset)}"
# Debian's python3 has the python3-* packages these tests use (aiosmtpd, prometheus-client), whatever else is on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

SINK_PIDS=()
monitor_cleanup() {
  stop_serve
  local pid
  for pid in "${SINK_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SINK_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap monitor_cleanup EXIT

# start_sink smtp|webhook [sink options]: starts the sink and sets SINK_PORT. It records to $WORK/<kind>.out.
start_sink() {
  local kind=$1 portfile="$WORK/$1.port"
  if [ "$kind" = smtp ]; then
    "$PY" "$MLFAAS_SOURCE/tests/tools/smtp_sink.py" --mbox "$WORK/smtp.out" --port-file "$portfile" \
      >"$WORK/smtp.log" 2>&1 &
  else
    "$PY" "$MLFAAS_SOURCE/tests/tools/webhook_sink.py" --out "$WORK/webhook.out" --port-file "$portfile" "${@:2}" \
      >"$WORK/webhook.log" 2>&1 &
  fi
  SINK_PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$portfile" ] && break; sleep 0.1; done
  [ -s "$portfile" ] || fail "$kind sink did not start: $(cat "$WORK/$kind.log")"
  SINK_PORT=$(cat "$portfile")
}

# monitor_template WEBHOOK_URL: the monitoring template with the webhook filled in, next to a copy of nothing else
# (CodeUri "." has no bootstrap, so the one built with mlfaas runs).
monitor_template() {
  sed "s#WEBHOOK_URL#$1#" "$MLFAAS_TEST_DATA/templates/monitor.yaml" >"$WORK/monitor.yaml"
  echo "$WORK/monitor.yaml"
}

# wait_for_text FILE TEXT SECONDS [ACTION]: waits until FILE contains TEXT, running ACTION (a command) between
# looks; fails after SECONDS.
wait_for_text() {
  local file=$1 text=$2 seconds=$3 action=${4:-}
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    if [ -f "$file" ] && grep -qF -- "$text" "$file"; then return 0; fi
    if [ -n "$action" ]; then $action; else sleep 0.2; fi
  done
  fail "no '$text' in $file within $seconds s"
}

# invoke FUNCTION PAYLOAD: Invoke API call; prints "STATUS FUNCTION_ERROR_HEADER".
invoke() {
  timeout 30 curl -sS -o /dev/null -D "$WORK/invoke.headers" -w '%{http_code}' -X POST \
    --data "$2" "$BASE/2015-03-31/functions/$1/invocations" || true
  printf ' %s\n' "$(grep -i '^x-amz-function-error:' "$WORK/invoke.headers" | tr -d '\r' | awk '{print $2}')"
}

# alarm_state NAME: the alarm's state as /api/dashboard reports it.
alarm_state() {
  timeout 10 curl -sS "$BASE/api/dashboard?window=60" |
    "$PY" -c "import json,sys; print(next((a['state'] for a in json.load(sys.stdin)['alarms'] if a['name']=='$1'), 'none'))"
}
