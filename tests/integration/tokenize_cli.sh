#!/usr/bin/env bash
# mlfaas tokenize against Hugging Face's fixture rows (every row, grouped by max_length), bad input lines
# (error object for that line, processing continues, exit 0), bad vocabularies (one error line, exit 2).
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vocab="$MLFAAS_TEST_DATA/vocab/bert-base-uncased.txt"
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { timeout 60 "$MLFAAS_BIN" tokenize "$@"; }

# 1. Fixture rows: split by max_length, run the CLI per group, compare line by line.
for fixture in bert_tokenizer ten_sentences_tokenizer; do
  python3 - "$MLFAAS_TEST_DATA/tokenizer/$fixture.jsonl" "$work/$fixture" <<'PY'
import json, sys
groups = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        row = json.loads(line)
        groups.setdefault(row["max_length"], []).append(row)
for length, rows in groups.items():
    with open(f"{sys.argv[2]}.{length}.in", "w", encoding="utf-8") as f:
        for r in rows: f.write(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n")
    with open(f"{sys.argv[2]}.{length}.want", "w", encoding="utf-8") as f:
        for r in rows: f.write(json.dumps({k: r[k] for k in ("input_ids", "token_type_ids", "attention_mask")}) + "\n")
PY
  for input in "$work/$fixture".*.in; do
    length=${input%.in}; length=${length##*.}
    run --vocab "$vocab" --max-length "$length" --jsonl <"$input" >"${input%.in}.got"
    python3 - "${input%.in}.want" "${input%.in}.got" <<'PY' || fail "$fixture max_length $length differs"
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(want) == len(got), (len(want), len(got))
bad = [i + 1 for i, (w, g) in enumerate(zip(want, got)) if w != g]
assert not bad, f"rows differ: {bad[:10]}"
print(f"{sys.argv[1]}: {len(got)} rows identical")
PY
  done
done

# 2. Bad lines get an error object with their line number; the good lines around them still come out.
printf '%s\n' '{"text": "Hello, World!"}' 'not json' '{"txt": "x"}' '' '{"text": 5}' '[1,2]' \
  '{"text": "[MASK] again"}' >"$work/bad.in"
run --vocab "$vocab" --jsonl <"$work/bad.in" >"$work/bad.out" || fail "exit code $? on bad lines"
python3 - "$work/bad.out" <<'PY' || fail "bad-line handling"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
assert len(out) == 7, out
assert out[0]["input_ids"] == [101, 7592, 1010, 2088, 999, 102], out[0]
for line in (2, 3, 4, 5, 6):
    assert out[line - 1].get("line") == line and out[line - 1]["error"], out[line - 1]
assert out[6]["input_ids"] == [101, 103, 2153, 102], out[6]
PY

# 3. --model reads the folder's own vocabulary (different special ids) and --max-length truncates.
got=$(echo '{"text": "I am incredibly happy and excited about the new project!"}' |
      run --model "$MLFAAS_TEST_DATA/models/bert-tiny-cls" --max-length 5 --jsonl)
[ "$got" = '{"input_ids":[12,61,2009,2010,13],"token_type_ids":[0,0,0,0,0],"attention_mask":[1,1,1,1,1]}' ] ||
  fail "--model/--max-length gave $got"

# 4. A bad vocabulary is one error line naming the file and exit code 2.
printf '[PAD]\n[CLS]\n[SEP]\nhello\n' >"$work/no_unk.txt"
: >"$work/empty.txt"
for case in "$work/no_unk.txt:has no [UNK]" "$work/empty.txt:empty vocabulary" "$work/missing.txt:cannot open"; do
  file=${case%%:*}; want=${case#*:}
  set +e
  err=$(echo '{"text": "x"}' | run --vocab "$file" --jsonl 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" = 2 ] || fail "$file: exit code $rc, want 2"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "$file: more than one error line: $err"
  case "$err" in *"$file"*"$want"*) ;; *) fail "$file: message '$err' lacks '$want'";; esac
done
echo "tokenize CLI: all checks passed"
