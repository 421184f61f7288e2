#!/usr/bin/env bash
# `mlfaas classic predict` end to end: the subset's texts through the CLI must give scikit-learn's labels
# (tests/data/classic/expected.jsonl), and a missing model is a one-line error with exit status 2.
set -euo pipefail
data="$MLFAAS_TEST_DATA/classic"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"text": json.loads(line)["text"]}, ensure_ascii=False))
' "$data/expected.jsonl" > "$tmp/texts.jsonl"

for kind in svm kmeans; do
  timeout 60 "$MLFAAS_BIN" classic predict --model "$data/models/$kind" --jsonl < "$tmp/texts.jsonl" > "$tmp/$kind.jsonl"
  python3 -c '
import json, sys
kind, got_path, want_path = sys.argv[1:]
got = [json.loads(l) for l in open(got_path)]
want = [json.loads(l)[kind] for l in open(want_path, encoding="utf-8")]
assert len(got) == len(want) == 500, (len(got), len(want))
bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
assert not bad, f"{kind}: rows {bad[:5]} differ from scikit-learn"
' "$kind" "$tmp/$kind.jsonl" "$data/expected.jsonl"
done

# Plain lines (no --jsonl) are texts as they are.
printf 'I am so happy today\nthis is awful\n' | timeout 30 "$MLFAAS_BIN" classic predict --model "$data/models/logreg" > "$tmp/plain.jsonl"
[ "$(wc -l < "$tmp/plain.jsonl")" -eq 2 ] || { echo "expected 2 predictions"; exit 1; }
grep -q '"label"' "$tmp/plain.jsonl"

set +e
echo hi | "$MLFAAS_BIN" classic predict --model "$tmp/nope" 2> "$tmp/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "missing model: exit $rc, expected 2"; exit 1; }
grep -q "nope/model.json: file not found" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo '{"text": 5}' | "$MLFAAS_BIN" classic predict --model "$data/models/svm" --jsonl 2> "$tmp/err2" && exit 1
grep -q "line 1" "$tmp/err2"
echo "classic_cli: ok"
