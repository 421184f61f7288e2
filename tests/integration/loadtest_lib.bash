# Shared by the loadtest_*.sh integration tests (sourced, not a test itself: it does not end in .sh).
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_SOURCE:?}"
T="$(mktemp -d)"
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server NAME [server options...]: starts the emotion stand-in; sets NAME_URL.
start_server() {
  local name="$1"; shift
  /usr/bin/python3 "$MLFAAS_SOURCE/tests/integration/loadtest_server.py" --port-file "$T/$name.port" "$@" &
  SERVER_PIDS+=($!)
  for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
  [ -s "$T/$name.port" ] || fail "test server $name did not start"
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(cat "$T/$name.port")"
}

server_posts() {  # server_posts URL: POSTs the server received
  curl -s --max-time 5 "$1/count" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["posts"])'
}

# loadtest OUT ARGS...: runs mlfaas loadtest (bounded), stdout+stderr to $T/OUT.log; sets RC.
loadtest() {
  local out="$1"; shift
  set +e
  timeout 120 "$MLFAAS_BIN" loadtest "$@" >"$T/$out.log" 2>&1
  RC=$?
  set -e
}

# csv_value FILE ROW_NAME COLUMN: one cell of a Locust CSV file.
csv_value() {
  /usr/bin/python3 - "$@" <<'PY'
import csv, sys
path, row_name, column = sys.argv[1:]
for row in csv.DictReader(open(path, newline="")):
    if row["Name"] == row_name:
        print(row[column]); break
else:
    sys.exit(f"no row {row_name} in {path}")
PY
}
