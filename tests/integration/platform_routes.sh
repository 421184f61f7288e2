#!/usr/bin/env bash
# API Gateway routes from the template with curl: seed A's path and CORS headers, preflight, REST (payload 1.0)
# routes with path parameters, and every bad input of SPEC §5 answered 4xx with a JSON error while the server
# stays healthy. The `sentences` diagnostic handler applies the text handlers' input rules without a model.
source "$(dirname "$0")/platform_lib/common.bash"

start_serve "$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
P=/sentimentAnalysisONNX

timeout 60 curl -sS -D "$WORK/h" -o "$WORK/b" -X POST "$BASE$P" -H 'Content-Type: application/json' \
  -d '{"sentence": "I am so happy today"}' || fail "route did not answer"
head -1 "$WORK/h" | grep -q ' 200' || fail "route status: $(head -1 "$WORK/h")"
assert_eq "$(json_get 'j["sentences"][0]' <"$WORK/b")" "I am so happy today" "route answer"
grep -qi '^Access-Control-Allow-Origin: \*' "$WORK/h" || fail "no CORS origin header"
grep -qi '^Access-Control-Allow-Headers: Content-Type' "$WORK/h" || fail "no CORS headers header"
grep -qi '^Access-Control-Allow-Methods: OPTIONS,POST' "$WORK/h" || fail "no CORS methods header"
grep -qi '^Content-Type: application/json' "$WORK/h" || fail "answer is not JSON"

out=$(curl_json POST $P -d '{"text": "seed A locust sends text"}')
assert_eq "$(echo "$out" | tail -1)" 200 "{text} status"
out=$(curl_json POST $P -d '{"batch": ["one", {"sentence": "two"}]}')
assert_eq "$(echo "$out" | head -1 | json_get 'j["count"]')" 2 "batch count"

# Preflight.
timeout 30 curl -sS -D "$WORK/h" -o /dev/null -X OPTIONS "$BASE$P" -H 'Origin: http://example.com' \
  -H 'Access-Control-Request-Method: POST' || fail "preflight did not answer"
head -1 "$WORK/h" | grep -Eq ' 20[04]' || fail "preflight status: $(head -1 "$WORK/h")"
grep -qi '^Access-Control-Allow-Methods: OPTIONS,POST' "$WORK/h" || fail "preflight without allowed methods"

# Bad inputs: 400 + {"error", "details"}; the server stays up after each.
bad() {  # bad NAME EXPECTED_ERROR curl-args...
  local name=$1 expected=$2
  shift 2
  local out code body
  out=$(curl_json POST $P "$@") || fail "$name: no answer"
  code=$(echo "$out" | tail -1)
  body=$(echo "$out" | sed '$d')
  assert_eq "$code" 400 "$name: status"
  assert_eq "$(echo "$body" | json_get 'j["error"]')" "$expected" "$name: error"
  echo "$body" | json_get 'j["details"]' >/dev/null || fail "$name: no details"
  server_healthy "$name"
}
bad "invalid JSON" "Invalid JSON" -d '{"sentence": '
bad "empty body" "Invalid JSON" -d ''
bad "missing sentence" "Missing sentence" -d '{"other": 1}'
bad "empty sentence" "Empty sentence" -d '{"sentence": "   "}'
bad "non-string sentence" "Invalid sentence" -d '{"sentence": 42}'
bad "array body" "Invalid request" -d '[1, 2]'
printf '{"sentence": "bad \xff\xfe bytes"}' >"$WORK/bad-utf8.json"
bad "invalid UTF-8" "Invalid UTF-8" --data-binary @"$WORK/bad-utf8.json"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$WORK/big.txt"
bad "10 MB body" "Request too large" --data-binary @"$WORK/big.txt"

# REST API (payload 1.0) with a path parameter.
out=$(curl_json POST /rest/abc -d '{"sentence": "rest"}')
assert_eq "$(echo "$out" | tail -1)" 200 "REST route status"
grep -q '"httpMethod":"POST"' "$WORK/logs/Sentences.log" 2>/dev/null || true

# Unknown path and wrong method: API Gateway's 404.
out=$(curl_json POST /nope -d '{}')
assert_eq "$(echo "$out" | tail -1)" 404 "unknown route"
assert_eq "$(echo "$out" | head -1)" '{"message":"Not Found"}' "unknown route body"
out=$(curl_json GET $P)
assert_eq "$(echo "$out" | tail -1)" 404 "wrong method"
server_healthy "routes"
echo "PASS platform_routes"
