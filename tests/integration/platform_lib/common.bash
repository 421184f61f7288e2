# Shared by tests/integration/platform_*.sh: start `mlfaas serve` on a free port, call it with real clients,
# and always stop it. Every client call is bounded by `timeout`.
set -euo pipefail

: "${MLFAAS_BIN:?run through ctest (MLFAAS_BIN unset)}"
: "${MLFAAS_TEST_DATA:?run through ctest (MLFAAS_TEST_DATA unset)}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlfaas-platform.XXXXXX")
SERVE_PID=""
PORT=""
export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$WORK/serve.out" ]; then echo "--- serve output (tail)" >&2; tail -40 "$WORK/serve.out" >&2; fi
  exit 1
}

stop_serve() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
  SERVE_PID=""
}

cleanup() {
  stop_serve
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_serve TEMPLATE [serve options...]: sets PORT and BASE.
start_serve() {
  local template=$1
  shift
  rm -f "$WORK/port"
  (cd "$WORK" && exec "$MLFAAS_BIN" serve --template "$template" --port 0 --port-file "$WORK/port" \
      --log-dir "$WORK/logs" "$@" >"$WORK/serve.out" 2>&1) &
  SERVE_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$WORK/port" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || fail "mlfaas serve exited during start-up"
    sleep 0.1
  done
  [ -s "$WORK/port" ] || fail "mlfaas serve did not start within 20 s"
  PORT=$(cat "$WORK/port")
  BASE="http://127.0.0.1:$PORT"
}

# instance_pid FUNCTION: the host pid of a process of one of the function's instances (the pid a function
# reports is its own PID namespace's, 1, where the server is root).
instance_pid() {
  local p
  for p in $(pgrep -P "$SERVE_PID") $(for s in $(pgrep -P "$SERVE_PID"); do pgrep -P "$s" || true; done); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "AWS_LAMBDA_FUNCTION_NAME=$1"; then echo "$p"; return; fi
  done
}

have_aws() { command -v aws >/dev/null 2>&1; }

# The AWS CLI v2 needs --cli-binary-format to take a raw JSON payload; v1 takes it raw and rejects the flag.
aws_payload_flags() {
  if aws --version 2>&1 | grep -q '^aws-cli/1\.'; then echo ""; else echo "--cli-binary-format raw-in-base64-out"; fi
}

# aws_invoke FUNCTION PAYLOAD OUTFILE [more aws options...]: prints the CLI's JSON answer.
aws_invoke() {
  local fn=$1 payload=$2 out=$3
  shift 3
  # shellcheck disable=SC2046
  timeout 120 aws lambda invoke --endpoint-url "$BASE" --function-name "$fn" $(aws_payload_flags) \
    --payload "$payload" "$@" "$out"
}

# curl_json METHOD PATH [curl options...]: prints the body, then the status code on the last line.
curl_json() {
  local method=$1 path=$2
  shift 2
  timeout 120 curl -sS -X "$method" -w '\n%{http_code}' "$@" "$BASE$path"
}

json_get() {  # json_get 'expression over j' < json
  python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

assert_eq() {
  [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

server_healthy() {
  local code
  code=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' "$BASE/_mlfaas/health" || true)
  [ "$code" = 200 ] || fail "server not healthy after: $1 (health answered '$code')"
}
