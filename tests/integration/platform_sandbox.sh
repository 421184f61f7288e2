#!/usr/bin/env bash
# The instance sandbox, tested as the attacks of issue 19 (docs/SECURITY.md): a function finds no descriptor of
# the platform (so cannot accept gateway connections or write other functions' logs through one), cannot reach
# serve's port, and its out-of-turn Runtime API calls are refused without disturbing it; from the host, the
# instance's Runtime API cannot be reached. Then the same with --instance-network host and with namespaces
# disabled: one warning, still no inherited descriptors, functions still work.
source "$(dirname "$0")/platform_lib/common.bash"

mkdir -p "$WORK/probe"
cp "$(dirname "$0")/platform_lib/probe_bootstrap.py" "$WORK/probe/bootstrap"
chmod 755 "$WORK/probe/bootstrap"
chmod 777 "$WORK/probe"  # so that only the read-only mount keeps the function from writing there
cat >"$WORK/template.yaml" <<'YAML'
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Probe:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      CodeUri: probe
      Handler: probe
      Timeout: 60
      MemorySize: 1024
      EphemeralStorage:
        Size: 600
      Environment:
        Variables:
          MODEL_PATH: MODEL_DIR_UNDER_TMP
  Other:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      CodeUri: probe
      Handler: probe
      Timeout: 60
      MemorySize: 1024
YAML
# 1024 MB (0.57 vCPU): at 128 MB a Python probe gets 0.07 vCPU, and under a loaded `ctest -j2` its start-up
# alone took 7-9 s.
# A model (or a whole checkout, as in CI) under /tmp stays visible, read-only, through the private /tmp.
model_dir="$(mktemp -d /tmp/mlfaas-sandbox-model.XXXXXX)"
trap 'rm -rf "$model_dir"; cleanup' EXIT
echo "weights" >"$model_dir/model.bin"
chmod -R a+rX "$model_dir"
sed -i "s|MODEL_DIR_UNDER_TMP|$model_dir|" "$WORK/template.yaml"

# probe PAYLOAD: the function's answer in $WORK/body; fails on a function error.
probe() {
  timeout 90 curl -sS -D "$WORK/headers" -o "$WORK/body" -X POST -H 'X-Amz-Log-Type: Tail' \
    "$BASE/2015-03-31/functions/Probe/invocations" -d "$1" || fail "invoke Probe did not answer"
  grep -qi '^X-Amz-Function-Error' "$WORK/headers" && fail "Probe failed: $(cat "$WORK/body")"
  true
}
was_cold() { grep -i '^X-Amz-Log-Result:' "$WORK/headers" | awk '{print $2}' | tr -d '\r' | base64 -d | grep -q 'Init Duration'; }
warnings() { grep -c 'warning: instances are not isolated' "$WORK/serve.out" || true; }

# check_fds: no descriptor above 2 in the function, no gateway connection accepted through one.
check_fds() {
  probe "{\"probe\": \"fds\", \"port\": $PORT}"
  json_get 'j["fds"]' <"$WORK/body" | grep -qx '{}' || fail "$1: the function holds descriptors: $(cat "$WORK/body")"
  json_get 'j["accepted"]' <"$WORK/body" | grep -qx '\[\]' || fail "$1: the function accepted: $(cat "$WORK/body")"
}

# --- isolated (the default here: this test needs a host that allows network namespaces)
start_serve "$WORK/template.yaml" --freeze-after-ms 3000
grep -q 'instances  isolated' "$WORK/serve.out" || fail "instances are not isolated on this host"
assert_eq "$(warnings)" 0 "isolation warnings"
timeout 90 curl -sS -o /dev/null -X POST "$BASE/2015-03-31/functions/Other/invocations" -d '{"probe": "x"}' \
  || fail "invoke Other did not answer"  # an instance of another function, whose log and socket are targets
check_fds isolated
assert_eq "$(json_get 'j["gateway"]' <"$WORK/body")" ConnectionRefusedError "isolated: connecting to serve's port"

# The jail: not root, code read-only, /tmp of EphemeralStorage's size, alone in its PID namespace.
probe '{"probe": "jail"}'
[ "$(json_get 'j["uid"]' <"$WORK/body")" -ne 0 ] || fail "the function runs as root: $(cat "$WORK/body")"
assert_eq "$(json_get 'j["code_write"]' <"$WORK/body")" EROFS "writing into the code directory"
[ -e "$WORK/probe/written-by-the-function" ] && fail "the function wrote into its code directory"
assert_eq "$(json_get 'j["tmp_mb"]' <"$WORK/body")" 600 "/tmp size (EphemeralStorage.Size)"
assert_eq "$(json_get 'j["model_read"]' <"$WORK/body")" "weights" "MODEL_PATH under /tmp, seen through the private /tmp"
assert_eq "$(json_get 'j["tmp_past_size"]' <"$WORK/body")" "No space left on device" "/tmp past its size"
assert_eq "$(json_get 'j["pid"]' <"$WORK/body")" 1 "the function's pid in its namespace"
json_get 'all(p < 10 for p in j["processes"])' <"$WORK/body" | grep -qx True \
  || fail "the function sees other processes: $(json_get 'j["processes"]' <"$WORK/body")"

# The instance's own Runtime API address, from the host: nothing answers there.
pid=""
for s in $(pgrep -P "$SERVE_PID"); do pid=$(pgrep -P "$s" || true); [ -n "$pid" ] && break; done
[ -n "$pid" ] || fail "no function process below its supervisor"
address=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^AWS_LAMBDA_RUNTIME_API=//p')
assert_eq "$address" 127.0.0.1:9001 "AWS_LAMBDA_RUNTIME_API"
python3 - "$address" <<'PY' || fail "the instance's Runtime API answered from the host"
import socket, sys
host, port = sys.argv[1].split(":")
try:
    s = socket.create_connection((host, int(port)), timeout=1)
    s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(1)
    sys.exit(1 if s.recv(100).startswith(b"HTTP/1.1 200") else 0)
except OSError:
    sys.exit(0)
PY

# Out-of-turn Runtime API calls from inside, during an invocation: refused, and the instance keeps working.
probe '{"probe": "runtime-api"}'
assert_eq "$(json_get 'j["second_next"]' <"$WORK/body")" 403 "next during an invocation"
assert_eq "$(json_get 'j["foreign_response"]' <"$WORK/body")" 400 "response for another request id"
assert_eq "$(json_get 'j["foreign_error"]' <"$WORK/body")" 400 "error for another request id"
assert_eq "$(json_get 'j["init_error"]' <"$WORK/body")" 403 "init/error after INIT"
sleep 1
probe '{"probe": "late-next"}'
was_cold && fail "the instance was replaced after the refused calls"
assert_eq "$(json_get 'j["late_next"]["status"]' <"$WORK/body")" 403 "a second next while one waits"
grep -q 'INIT_REPORT.*Status: error' "$WORK/logs/Probe.log" && fail "the forged init/error was logged"
stat -c %a "$WORK/logs/Probe.log" | grep -qx '6[04]0' || fail "log file mode: $(stat -c %a "$WORK/logs/Probe.log")"
stop_serve

# --- host network, on request: the function reaches serve's port, but still inherits nothing.
start_serve "$WORK/template.yaml" --instance-network host
grep -q 'instances  host' "$WORK/serve.out" || fail "--instance-network host not in the banner"
check_fds host
assert_eq "$(json_get 'j["gateway"]' <"$WORK/body")" connected "host: connecting to serve's port"
stop_serve

# --- namespaces unavailable (forced): one warning naming what is exposed, and functions still work.
MLFAAS_DISABLE_NAMESPACES=1 start_serve "$WORK/template.yaml"
assert_eq "$(warnings)" 1 "warnings without namespaces"
grep 'warning: instances are not isolated' "$WORK/serve.out" | grep -q 'Runtime API' \
  || fail "the warning does not say what is exposed"
check_fds unisolated
probe '{"probe": "runtime-api"}'
assert_eq "$(json_get 'j["init_error"]' <"$WORK/body")" 403 "unisolated: init/error after INIT"
echo "PASS platform_sandbox"
