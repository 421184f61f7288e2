#!/usr/bin/env bash
# `mlfaas serve` runs any provided.al2023 function, not only our bootstrap: a Node.js custom runtime (the shell
# `bootstrap` and Runtime API client of bench/function_peer/, with a small echo handler) answers through the
# Invoke API and an HTTP API route from one instance that survives a handler error; a handler module that cannot
# be loaded is an INIT error posted to /runtime/init/error (INIT_REPORT Status: error, Unhandled to the caller).
source "$(dirname "$0")/platform_lib/common.bash"
: "${MLFAAS_SOURCE:?run through ctest}"
command -v node >/dev/null || fail "node is missing (tools/setup.sh core installs it)"
mkdir -p "$WORK/fn"
cp "$MLFAAS_SOURCE/bench/function_peer/bootstrap" "$MLFAAS_SOURCE/bench/function_peer/runtime.mjs" \
  "$MLFAAS_TEST_DATA/node_function/index.mjs" "$WORK/fn/"
cat >"$WORK/template.yaml" <<YAML
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: provided.al2023, CodeUri: ./fn, MemorySize: 512, Timeout: 30}
Resources:
  NodeEcho:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      Events: {Api: {Type: HttpApi, Properties: {Path: /echo, Method: POST}}}
  NodeBroken:
    Type: AWS::Serverless::Function
    Properties: {Handler: missing.handler}
YAML
start_serve "$WORK/template.yaml"

invoke() {  # invoke FUNCTION PAYLOAD: headers and body of the Invoke API's answer
  timeout 60 curl -sS -D - -X POST "$BASE/2015-03-31/functions/$1/invocations" -d "$2"
}
out=$(invoke NodeEcho '{"sentence": "hi"}')
body=$(echo "$out" | tail -1)
echo "$body" | json_get 'j["event"]["sentence"] == "hi" and j["functionName"] == "NodeEcho" and j["memoryLimitInMB"] == "512" and 0 < j["remainingMs"] <= 30000' \
  | grep -qx True || fail "NodeEcho answered $out"
first_init=$(echo "$body" | json_get 'j["initAt"]')

out=$(invoke NodeEcho '{"fail": "out of range"}')
echo "$out" | grep -qi '^X-Amz-Function-Error: Unhandled' || fail "a throwing handler was not a function error: $out"
echo "$out" | tail -1 | json_get 'j["errorType"] == "RangeError" and j["errorMessage"] == "out of range" and isinstance(j["stackTrace"], list)' \
  | grep -qx True || fail "error shape: $out"

resp=$(curl_json POST /echo -H 'Content-Type: application/json' -d '{"sentence": "via the route"}')
assert_eq "$(echo "$resp" | tail -1)" 200 "route status"
echo "$resp" | head -1 | json_get 'j["event"]["requestContext"]["http"]["method"]' | grep -qx POST \
  || fail "the route did not deliver an HTTP API event: $resp"
again=$(invoke NodeEcho '{}' | tail -1 | json_get 'j["initAt"]')
assert_eq "$again" "$first_init" "the instance after a handler error (initAt)"

out=$(invoke NodeBroken '{}')
echo "$out" | grep -qi '^X-Amz-Function-Error: Unhandled' || fail "an INIT failure was not a function error: $out"
grep -q $'INIT_REPORT Init Duration: [0-9.]* ms\tPhase: init\tStatus: error' "$WORK/logs/NodeBroken.log" \
  || fail "no INIT_REPORT with Status: error: $(cut -f3- "$WORK/logs/NodeBroken.log")"
grep -q 'INIT failed' "$WORK/logs/NodeBroken.log" || fail "the runtime did not log its INIT failure"
server_healthy "Node.js functions"
echo "PASS platform_node_runtime"
