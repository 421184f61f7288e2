#!/usr/bin/env bash
# The six classic-ML handlers in bootstrap under a real `mlfaas serve`: direct {"batch": [...]} invokes through
# the AWS CLI answer scikit-learn's predictions (tests/data/classic/expected.jsonl: labels/clusters/components
# exactly, GMM scores and PCA coordinates within 1e-6 relative), a single {"text"} works, seed B's SNS message
# reaches the kmeans function and its ML_ON_FAAS lines carry the experiment, message and batch size, and a
# function whose model is of another kind fails its INIT with a clear error.
source "$(dirname "$0")/platform_lib/common.bash"
have_aws || fail "the AWS CLI is required (tools/setup.sh core installs it)"

sed "s#Default: tests/data/classic/models#Default: $MLFAAS_TEST_DATA/classic/models#" \
  "$MLFAAS_TEST_DATA/experiment/classic_functions.yaml" >"$WORK/template.yaml"
start_serve "$WORK/template.yaml"

# The first 40 rows of the subset as one batch.
python3 - "$MLFAAS_TEST_DATA/classic/expected.jsonl" "$WORK/batch.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")][:40]
json.dump({"batch": [r["text"] for r in rows]}, open(sys.argv[2], "w", encoding="utf-8"))
PY

for fn in kmeans gmm pca logreg svm random-forest; do
  aws_invoke "$fn" "file://$WORK/batch.json" "$WORK/$fn.out" >"$WORK/$fn.cli" || fail "invoke $fn failed"
  grep -q FunctionError "$WORK/$fn.cli" && fail "$fn: function error: $(cat "$WORK/$fn.out")"
  python3 - "$MLFAAS_TEST_DATA/classic/expected.jsonl" "$WORK/$fn.out" "$fn" <<'PY' || fail "$fn: predictions differ from scikit-learn's"
import json, sys
expected = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")][:40]
got = json.load(open(sys.argv[2], encoding="utf-8"))
fn = sys.argv[3]
assert got["model"] == fn, got.get("model")
preds = got["predictions"]
assert len(preds) == len(expected), (len(preds), len(expected))
def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))
for i, (p, e) in enumerate(zip(preds, expected)):
    e = e[fn]
    assert set(p) == set(e), (i, p, e)
    for k, v in e.items():
        if k in ("label", "cluster", "component"):
            assert p[k] == v, (i, k, p[k], v)
        elif k == "score":
            assert close(p[k], v), (i, k, p[k], v)
        elif k == "projection":
            assert all(close(a, b) for a, b in zip(p[k], v)), (i, k, p[k], v)
print(fn, "ok:", len(preds), "predictions equal scikit-learn's")
PY
done

# One text: the prediction itself, not a batch.
aws_invoke logreg '{"text": "I am so happy today"}' "$WORK/one.out" >/dev/null || fail "single-text invoke failed"
json_get '"label" in j and "predictions" not in j' <"$WORK/one.out" | grep -q True || fail "single text answer: $(cat "$WORK/one.out")"

# A bad request is a 400 proxy answer, not a function error.
aws_invoke svm '{"batch": [1, 2]}' "$WORK/bad.out" >"$WORK/bad.cli" || fail "bad-request invoke failed"
assert_eq "$(json_get 'j["statusCode"]' <"$WORK/bad.out")" 400 "non-string batch item"

# Seed B's SNS message.
msg=$(python3 -c 'import json; print(json.dumps({"ExperimentId": "exp-handlers", "MessageId": "m-42", "Batch": ["so happy", "so sad", "angry now"]}))')
timeout 60 aws sns publish --endpoint-url "$BASE" --topic-arn arn:aws:sns:us-east-1:123456789012:classic-batches \
  --message "$msg" >"$WORK/pub.json" || fail "aws sns publish failed"
for _ in $(seq 1 300); do
  grep -q '"experimentId": *"exp-handlers".*"Processing completed"' "$WORK/logs/kmeans.log" 2>/dev/null && break
  sleep 0.1
done
line=$(grep '"experimentId": *"exp-handlers"' "$WORK/logs/kmeans.log" | grep '"Processing completed"') \
  || fail "no ML_ON_FAAS 'Processing completed' line for the SNS message: $(tail -5 "$WORK/logs/kmeans.log")"
echo "$line" | grep -q '"messageId": *"m-42"' || fail "messageId not logged: $line"
echo "$line" | grep -q '"batchSize": *3' || fail "batch size not logged: $line"
echo "$line" | grep -q '"functionName": *"kmeans"' || fail "function name not logged: $line"
echo "$line" | grep -q '"cpuCount": *[1-9]' || fail "cpuCount not logged: $line"
grep -q 'ML_ON_FAAS - .*"Initialization completed"' "$WORK/logs/kmeans.log" || fail "no INIT ML_ON_FAAS line"

# A model of the wrong kind: the INIT error names both kinds.
aws_invoke wrongmodel '{"text": "x"}' "$WORK/wrong.out" >"$WORK/wrong.cli" || true
grep -q 'holds a kmeans model, but the handler is svm' "$WORK/wrong.out" "$WORK/logs/wrongmodel.log" \
  || fail "wrong-kind model: $(cat "$WORK/wrong.out")"
server_healthy "the classic handlers"
echo "PASS"
