#!/usr/bin/env bash
# `mlfaas eval` on 300 EmoContext test rows: its metrics must equal an independent computation (the SemEval-2019
# Task 3 formulas, written again in Python) from its own per-row predictions, and those predictions must equal
# `mlfaas predict` on the same texts.
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
model="$MLFAAS_TEST_DATA/models/bert-tiny-cls"
data="$MLFAAS_TEST_DATA/emocontext/test_sample.txt"
timeout 120 "$MLFAAS_BIN" eval --model "$model" --data emocontext "$data" --json --predictions "$T/pred.jsonl" > "$T/metrics.json"
timeout 120 "$MLFAAS_BIN" eval --model "$model" --data emocontext "$data" > "$T/table.txt"
grep -q "micro-F1 (happy, sad, angry)" "$T/table.txt"
/usr/bin/python3 - "$data" "$T/pred.jsonl" "$T/metrics.json" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][1:]
pred = [json.loads(l) for l in open(sys.argv[2])]
m = json.load(open(sys.argv[3]))
assert len(rows) == len(pred) == m["rows"] == 300, (len(rows), len(pred), m["rows"])
labels = ["others", "happy", "sad", "angry"]
for r, p in zip(rows, pred):
    assert r[0] == p["id"] and r[4] == p["label"], (r, p)
    assert abs(sum(p["probabilities"].values()) - 1) < 1e-6
    assert p["predicted"] == max(p["probabilities"], key=p["probabilities"].get)
tp = fp = fn = 0
for c in labels[1:]:
    tp += sum(1 for p in pred if p["label"] == c and p["predicted"] == c)
    fp += sum(1 for p in pred if p["label"] != c and p["predicted"] == c)
    fn += sum(1 for p in pred if p["label"] == c and p["predicted"] != c)
P = tp / (tp + fp) if tp + fp else 0.0
R = tp / (tp + fn) if tp + fn else 0.0
F = 2 * P * R / (P + R) if P + R else 0.0
acc = sum(p["label"] == p["predicted"] for p in pred) / len(pred)
assert abs(F - m["micro_f1"]) < 1e-12 and abs(acc - m["accuracy"]) < 1e-12, (F, m["micro_f1"], acc, m["accuracy"])
conf = [[sum(1 for p in pred if p["label"] == t and p["predicted"] == q) for q in labels] for t in labels]
assert conf == m["confusion"], (conf, m["confusion"])
print(f"eval: micro-F1 {F:.4f}, accuracy {acc:.4f} agree with an independent computation")
PY
# the same predictions through `mlfaas predict`
/usr/bin/python3 -c '
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][1:]
for r in rows[:40]: print(json.dumps({"text": r[1] + " " + r[2] + " " + r[3]}))' "$data" > "$T/texts.jsonl"
timeout 60 "$MLFAAS_BIN" predict --model "$model" --jsonl < "$T/texts.jsonl" > "$T/predict.jsonl"
/usr/bin/python3 -c '
import json, sys
a = [json.loads(l)["predicted"] for l in open(sys.argv[1])][:40]
b = [json.loads(l)["label"] for l in open(sys.argv[2])]
assert a == b, (a, b)' "$T/pred.jsonl" "$T/predict.jsonl"
# errors: unknown dataset kind, unlabelled file, missing file
set +e
"$MLFAAS_BIN" eval --model "$model" --data semeval "$data" 2>"$T/e1"; rc1=$?
printf 'id\tturn1\tturn2\tturn3\n1\ta\tb\tc\n' > "$T/unlabelled.txt"
"$MLFAAS_BIN" eval --model "$model" --data emocontext "$T/unlabelled.txt" 2>"$T/e2"; rc2=$?
"$MLFAAS_BIN" eval --model "$model" --data emocontext "$T/nope.txt" 2>"$T/e3"; rc3=$?
set -e
[ "$rc1" = 2 ] && grep -q "emocontext FILE" "$T/e1"
[ "$rc2" = 2 ] && grep -q "has no label" "$T/e2"
[ "$rc3" = 2 ] && grep -q "nope.txt" "$T/e3"
echo "eval: all checks passed"
