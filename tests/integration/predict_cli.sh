#!/usr/bin/env bash
# mlfaas predict on the fixture models: HF's logits come back (from input_ids lines), bad lines give an error object
# and processing continues, model problems exit 2.
set -euo pipefail
bin=${MLFAAS_BIN:?}
data=${MLFAAS_TEST_DATA:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Classifier: every expected.jsonl row (it carries input_ids) reproduces HF's logits and label.
"$bin" predict --model "$data/models/mobilebert-tiny-cls" --jsonl < "$data/models/mobilebert-tiny-cls/expected.jsonl" > "$tmp/out.jsonl"
python3 - "$data/models/mobilebert-tiny-cls/expected.jsonl" "$tmp/out.jsonl" <<'PY'
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(want) == len(got), (len(want), len(got))
worst = 0.0
for w, g in zip(want, got):
    assert g["label"] == w["predicted_label"], (g, w["predicted_label"])
    assert list(g["probabilities"]) == ["others", "happy", "sad", "angry"], g["probabilities"]
    assert abs(sum(g["probabilities"].values()) - 1) < 1e-5
    worst = max(worst, max(abs(a - b) for a, b in zip(g["logits"], w["logits"])))
assert worst <= 1e-4, worst
print(f"predict: {len(got)} rows, max |logit diff| {worst:.3g}")
PY

# Bad lines: an error object naming the line, later lines still answered.
printf '%s\n' '{"input_ids":[12,40,14,13]}' 'not json' '{"input_ids":[12,99999,13]}' '{"input_ids":[12,40,13]}' \
  | "$bin" predict --model "$data/models/bert-tiny-mlm" --jsonl > "$tmp/mlm.jsonl"
[ "$(wc -l < "$tmp/mlm.jsonl")" = 4 ] || fail "expected 4 output lines"
sed -n 1p "$tmp/mlm.jsonl" | grep -q '"position":2' || fail "masked LM output lacks the [MASK] position"
sed -n 2p "$tmp/mlm.jsonl" | grep -q '"line":2' || fail "bad JSON line not reported"
sed -n 3p "$tmp/mlm.jsonl" | grep -q '"line":3' || fail "out-of-vocabulary id not reported"
sed -n 4p "$tmp/mlm.jsonl" | grep -q '"masks":\[\]' || fail "line after errors not processed"

# Base model: [CLS] vector, --full adds every row.
echo '{"input_ids":[12,40,13]}' | "$bin" predict --model "$data/models/bert-tiny-base" --jsonl --full > "$tmp/base.jsonl"
python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); assert len(d["cls"])==64 and len(d["last_hidden_state"])==3 and len(d["pooler_output"])==64' "$tmp/base.jsonl"

# Model problems exit 2 with one line naming the file.
set +e
"$bin" predict --model "$tmp/missing" --jsonl < /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc = 2 ] || fail "missing model: exit $rc, expected 2"
grep -q "missing" "$tmp/err" || fail "error does not name the path"
mkdir "$tmp/broken" && cp "$data/models/bert-tiny-cls/config.json" "$tmp/broken/"
head -c 1000 "$data/models/bert-tiny-cls/model.safetensors" > "$tmp/broken/model.safetensors"
set +e
"$bin" predict --model "$tmp/broken" --jsonl < /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc = 2 ] || fail "truncated weights: exit $rc, expected 2"
set +e
"$bin" predict --model "$data/models/bert-tiny-cls" --precision int4 --jsonl < /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc = 2 ] && grep -q "int4" "$tmp/err" || fail "an unknown precision should be refused with exit 2"
# int8 runs and stays near the reference logits. The bound is loose: this tiny random-weight model (hidden 32) has
# few terms per dot product to average quantization noise out (measured 0.19); the real gates are in
# int8_accuracy.sh on the shipped model.
head -5 "$data/models/bert-tiny-cls/expected.jsonl" | "$bin" predict --model "$data/models/bert-tiny-cls" --precision int8 --jsonl > "$tmp/int8.jsonl"
/usr/bin/python3 - "$data/models/bert-tiny-cls/expected.jsonl" "$tmp/int8.jsonl" <<'PY' || fail "int8 logits too far from fp32"
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])][:5]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(got) == 5
d = max(abs(a - b) for r, g in zip(ref, got) for a, b in zip(r["logits"], g["logits"]))
assert 0 < d < 0.4, d
PY
# Forcing the portable kernels gives the same answers; an unknown level is refused.
head -5 "$data/models/bert-tiny-cls/expected.jsonl" | MLFAAS_ISA=portable "$bin" predict --model "$data/models/bert-tiny-cls" --jsonl > "$tmp/portable.jsonl"
head -5 "$data/models/bert-tiny-cls/expected.jsonl" | "$bin" predict --model "$data/models/bert-tiny-cls" --jsonl > "$tmp/best.jsonl"
python3 - "$tmp/portable.jsonl" "$tmp/best.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 5
assert max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra["logits"], rb["logits"])) < 1e-5
PY
set +e
MLFAAS_ISA=avx9000 "$bin" predict --model "$data/models/bert-tiny-cls" --jsonl < /dev/null 2> "$tmp/err"; rc=$?
set -e
[ $rc = 2 ] && grep -q "MLFAAS_ISA" "$tmp/err" || fail "unknown MLFAAS_ISA should be refused with exit 2"
echo "predict_cli: ok"
