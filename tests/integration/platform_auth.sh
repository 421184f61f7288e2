#!/usr/bin/env bash
# Authentication of the AWS APIs: a non-loopback bind needs --allow-remote and credentials; with credentials
# the Invoke API and SNS accept only SigV4 signatures made with them (the AWS CLI signs), while API routes stay
# public as on API Gateway.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"
T="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"

code=0
timeout 30 "$MLFAAS_BIN" serve --template "$T" --host 0.0.0.0 --port 0 >"$WORK/r.out" 2>&1 || code=$?
assert_eq "$code" 2 "non-loopback without --allow-remote"
grep -q -- '--allow-remote' "$WORK/r.out" || fail "refusal does not name --allow-remote: $(cat "$WORK/r.out")"
code=0
timeout 30 "$MLFAAS_BIN" serve --template "$T" --host 0.0.0.0 --allow-remote --port 0 >"$WORK/r.out" 2>&1 || code=$?
assert_eq "$code" 2 "--allow-remote without credentials"
grep -q -- '--access-key-id' "$WORK/r.out" || fail "refusal does not ask for credentials: $(cat "$WORK/r.out")"

MLFAAS_SECRET_ACCESS_KEY=s3cret start_serve "$T" --access-key-id AKIDMLFAASTEST
export AWS_ACCESS_KEY_ID=AKIDMLFAASTEST AWS_SECRET_ACCESS_KEY=s3cret
aws_invoke Echo '{"signed": true}' "$WORK/out.json" >/dev/null || fail "a correctly signed invoke was refused"
assert_eq "$(json_get 'j["signed"]' <"$WORK/out.json")" True "signed invoke answer"
timeout 60 aws sns publish --endpoint-url "$BASE" --topic-arn arn:aws:sns:us-east-1:123456789012:mlfaas-test-topic \
  --message '{"x": 1}' >/dev/null || fail "a correctly signed publish was refused"

if AWS_SECRET_ACCESS_KEY=wrong aws_invoke Echo '{}' "$WORK/bad.json" 2>"$WORK/bad.err"; then fail "wrong secret accepted"; fi
grep -q InvalidSignatureException "$WORK/bad.err" || fail "wrong secret: $(cat "$WORK/bad.err")"
if AWS_ACCESS_KEY_ID=AKIDOTHER aws_invoke Echo '{}' "$WORK/bad.json" 2>"$WORK/bad.err"; then fail "unknown key accepted"; fi
grep -q UnrecognizedClientException "$WORK/bad.err" || fail "unknown key: $(cat "$WORK/bad.err")"
code=$(timeout 30 curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/2015-03-31/functions/Echo/invocations" -d '{}')
assert_eq "$code" 403 "unsigned invoke"
if AWS_SECRET_ACCESS_KEY=wrong timeout 60 aws sns publish --endpoint-url "$BASE" \
   --topic-arn arn:aws:sns:us-east-1:123456789012:mlfaas-test-topic --message x 2>"$WORK/sns.err"; then
  fail "unsigned publish accepted"
fi
grep -q SignatureDoesNotMatch "$WORK/sns.err" || fail "bad SNS signature: $(cat "$WORK/sns.err")"
out=$(curl_json POST /sentimentAnalysisONNX -d '{"sentence": "routes are public"}')
assert_eq "$(echo "$out" | tail -1)" 200 "public API route"
echo "PASS platform_auth"
