#!/usr/bin/env bash
# `experiment run --target aws` against moto_server, an independent implementation of the AWS APIs that checks
# requests against AWS's service models: an IAM role created with boto3, then `--deploy-only` creates one Lambda
# function (zip from `mlfaas package`'s code, memory, timeout, environment, reserved concurrency, SNS permission)
# and one SNS topic with its lambda subscription per configuration of experiments/smoke.yaml; boto3 reads them
# back. Also: the plan and the refusal to spend money on AWS without a terminal or --yes.
# Skipped (exit 77) where the default python3 has no moto.
set -euo pipefail
: "${MLFAAS_BIN:?run through ctest (MLFAAS_BIN unset)}"
: "${MLFAAS_SOURCE:?run through ctest (MLFAAS_SOURCE unset)}"
PY=${MLFAAS_MOTO_PYTHON:-python3}
if ! "$PY" -c 'import moto.server, boto3' 2>/dev/null; then
  echo "SKIP: $PY has no moto/boto3 (the default pyenv python3 has them)"
  exit 77
fi
[ -x "$(dirname "$MLFAAS_BIN")/bootstrap" ] || { echo "FAIL: no bootstrap next to $MLFAAS_BIN (build it)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlfaas-experiment-aws.XXXXXX")
MOTO_PID=
cleanup() { [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$MLFAAS_SOURCE"

# Credentials and region only from the environment: nothing of the user's ~/.aws is read.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE="$WORK/none" AWS_CONFIG_FILE="$WORK/none"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION

# No terminal, no --yes, an endpoint that costs money: the plan, then a refusal before any call.
set +e
timeout 60 "$MLFAAS_BIN" experiment run experiments/smoke.yaml --target aws --endpoint-url http://aws.invalid \
  --role-arn arn:aws:iam::123456789012:role/x --out "$WORK/refused" </dev/null >"$WORK/refused.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "expected exit 1 without a terminal or --yes, got $rc: $(cat "$WORK/refused.out")"
grep -q "6 configurations" "$WORK/refused.out" || fail "no plan: $(cat "$WORK/refused.out")"
grep -q 'bill at most \$' "$WORK/refused.out" || fail "no bill in the plan: $(cat "$WORK/refused.out")"
grep -q "rerun with --yes" "$WORK/refused.out" || fail "no refusal: $(cat "$WORK/refused.out")"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl -sf -o /dev/null "$URL/moto-api/" && break
  sleep 0.2
done
curl -sf -o /dev/null "$URL/moto-api/" || fail "moto_server did not start: $(tail -3 "$WORK/moto.log")"

ROLE=$("$PY" - "$URL" <<'PYEOF'
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1])
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}
print(iam.create_role(RoleName="mlfaas-experiment", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
PYEOF
)

timeout 240 "$MLFAAS_BIN" experiment run experiments/smoke.yaml --target aws --endpoint-url "$URL" \
  --role-arn "$ROLE" --deploy-only --yes --out "$WORK/run" </dev/null >"$WORK/deploy.out" 2>&1 ||
  fail "deploy-only failed: $(tail -5 "$WORK/deploy.out")"
grep -q "6 configurations deployed" "$WORK/deploy.out" || fail "unexpected output: $(cat "$WORK/deploy.out")"

# Deploying again finds everything in place and brings it to the spec (ResourceConflictException -> update).
timeout 240 "$MLFAAS_BIN" experiment run experiments/smoke.yaml --target aws --endpoint-url "$URL" \
  --role-arn "$ROLE" --deploy-only --yes --out "$WORK/run" </dev/null >"$WORK/deploy2.out" 2>&1 ||
  fail "second deploy-only failed: $(tail -5 "$WORK/deploy2.out")"

"$PY" - "$URL" "$ROLE" <<'PYEOF' || fail "moto does not hold what the spec asks for"
import json, sys, boto3
url, role = sys.argv[1], sys.argv[2]
lam = boto3.client("lambda", endpoint_url=url)
sns = boto3.client("sns", endpoint_url=url)
want = {f"smoke-{fn}-m{m}-c2-b20": (fn, m) for fn in ("kmeans", "logreg", "random-forest") for m in (256, 1769)}
functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
assert set(functions) == set(want), sorted(functions)
topics = {t["TopicArn"].rsplit(":", 1)[1]: t["TopicArn"] for t in sns.list_topics()["Topics"]}
assert set(topics) == set(want), sorted(topics)
for name, (fn, memory) in want.items():
    f = functions[name]
    problems = []
    for key, value in (("MemorySize", memory), ("Timeout", 60), ("Handler", fn), ("Runtime", "provided.al2023"),
                       ("Role", role), ("PackageType", "Zip")):
        if f.get(key) != value: problems.append(f"{key}={f.get(key)!r}, want {value!r}")
    env = f.get("Environment", {}).get("Variables", {})
    if env.get("MLFAAS_EXPERIMENT") != f"smoke-{fn}-m{memory}-c2-b20": problems.append(f"environment {env}")
    if f.get("Architectures") != ["x86_64"]: problems.append(f"Architectures {f.get('Architectures')}")
    if f.get("CodeSize", 0) < 100_000: problems.append(f"CodeSize {f.get('CodeSize')}: no package")
    conc = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    if conc != 2: problems.append(f"ReservedConcurrentExecutions={conc}")
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    if not any(s.get("Principal", {}).get("Service") == "sns.amazonaws.com" for s in policy["Statement"]):
        problems.append(f"no permission for SNS: {policy}")
    subs = sns.list_subscriptions_by_topic(TopicArn=topics[name])["Subscriptions"]
    if [(s["Protocol"], s["Endpoint"]) for s in subs] != [("lambda", f["FunctionArn"])]:
        problems.append(f"subscriptions {subs}")
    if problems:
        print(name, "; ".join(problems), file=sys.stderr)
        sys.exit(1)
print(f"moto holds {len(want)} functions, topics and lambda subscriptions as the spec asks")
PYEOF
echo "PASS"
