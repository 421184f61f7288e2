#!/usr/bin/env bash
# Issue 19's attacks on the public port, each written as the attack (tests/integration/platform_lib/
# front_attacks.py): a captured SigV4 signature replayed with another body; malformed request lines, oversized
# headers, bad chunk sizes and oversized bodies (API Gateway's 400/431/413, not a closed connection);
# Expect: 100-continue; numbers out of range and nesting 100k deep (400, never a function error or a crashed
# bootstrap); qualifiers and ARNs of other regions/accounts (404 like AWS); `--host localhost`; the start-up hint
# run as printed by the installed AWS CLI.
source "$(dirname "$0")/platform_lib/common.bash"
T="$MLFAAS_TEST_DATA/templates/diagnostic.yaml"
ATTACK="$(dirname "$0")/platform_lib/front_attacks.py"
export SIGV4_KEY=AKIDMLFAASFRONT SIGV4_SECRET=front-secret

MLFAAS_SECRET_ACCESS_KEY=$SIGV4_SECRET start_serve "$T" --access-key-id "$SIGV4_KEY"
for attack in sigv4 http bounds qualifiers; do
  timeout 120 python3 "$ATTACK" "$attack" "$PORT" || fail "attack '$attack'"
done
server_healthy "the attacks"
stop_serve

# --host localhost is resolved (it failed with "Invalid argument"), and the hint works with this AWS CLI.
start_serve "$T" --host localhost
code=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' "http://localhost:$PORT/_mlfaas/health")
assert_eq "$code" 200 "health over --host localhost"
grep -q "listening on http://localhost:$PORT" "$WORK/serve.out" || fail "no listening line for localhost"
if have_aws; then
  major=$(aws --version 2>&1 | sed -n 's|^aws-cli/\([0-9]*\)\..*|\1|p')
  hint=$(sed -n "s|^  try (AWS CLI v$major): ||p" "$WORK/serve.out")
  [ -n "$hint" ] || fail "no start-up hint for AWS CLI v$major: $(grep 'try' "$WORK/serve.out")"
  (cd "$WORK" && timeout 120 bash -c "$hint" >/dev/null) || fail "the start-up hint fails with AWS CLI v$major: $hint"
  grep -q '"sentence"' "$WORK/out.json" || fail "the hint's invoke answered $(cat "$WORK/out.json")"
fi
stop_serve
echo "PASS platform_front_hardening"
