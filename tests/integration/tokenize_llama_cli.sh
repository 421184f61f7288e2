#!/usr/bin/env bash
# mlfaas tokenize with Llama models: Hugging Face's 400 tokenizer rows through a tokenizer.model directory and
# through GGUF metadata, stories260K's rows through the llama2.c directory and its checkpoint path, bad lines (error object, processing
# continues, exit 0) and a damaged tokenizer.model (one error line naming it, exit 2).
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
llama="$MLFAAS_TEST_DATA/llama"
stories="$MLFAAS_TEST_DATA/../../models/stories260K"
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { timeout 60 "$MLFAAS_BIN" tokenize "$@"; }

# Writes FIXTURE's TEXT_KEY values as {"text"} lines to $2.in and their input_ids as {"input_ids"} lines to $2.want.
split_fixture() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
with open(sys.argv[2] + ".in", "w", encoding="utf-8") as f:
    for r in rows: f.write(json.dumps({"text": r[sys.argv[3]]}, ensure_ascii=False) + "\n")
with open(sys.argv[2] + ".want", "w") as f:
    for r in rows: f.write(json.dumps({"input_ids": r["input_ids"]}) + "\n")
PY
}
same_lines() {
  python3 - "$1" "$2" <<'PY'
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(want) == len(got), (len(want), len(got))
bad = [i + 1 for i, (w, g) in enumerate(zip(want, got)) if w != g]
assert not bad, f"rows differ: {bad[:10]}"
print(f"{sys.argv[1]}: {len(got)} rows identical")
PY
}

# 1. HF LlamaTokenizer rows (special-token literals, U+2581, byte fallback, empty text).
split_fixture "$llama/tokenizer_expected.jsonl" "$work/hf" text
run --model "$llama/tokenizer" --jsonl <"$work/hf.in" >"$work/hf.got"
same_lines "$work/hf.want" "$work/hf.got" || fail "tokenizer_expected.jsonl rows differ"
run --model "$llama/tiny-llama/model-f32.gguf" --jsonl <"$work/hf.in" >"$work/gguf.got"
same_lines "$work/hf.want" "$work/gguf.got" || fail "tokenizer_expected.jsonl rows differ through GGUF"

# 2. stories260K (llama2.c run.c encoding), by directory and by checkpoint path.
split_fixture "$llama/stories260K_expected.jsonl" "$work/stories" prompt
for model in "$stories" "$stories/stories260K.bin"; do
  run --model "$model" --jsonl <"$work/stories.in" >"$work/stories.got"
  same_lines "$work/stories.want" "$work/stories.got" || fail "stories260K rows differ with --model $model"
done

# 3. Bad lines: an error object with the line number; the lines around them still come out.
printf '%s\n' '{"text": "Hello world"}' 'not json' '{"txt": "x"}' '{"text": 5}' '{"text": "<s>hello"}' >"$work/bad.in"
run --model "$llama/tokenizer" --jsonl <"$work/bad.in" >"$work/bad.out" || fail "exit code $? on bad lines"
python3 - "$work/bad.out" <<'PY' || fail "bad-line handling"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
assert len(out) == 5, out
assert out[0] == {"input_ids": [1, 334, 358, 871, 516, 378]}, out[0]
for line in (2, 3, 4):
    assert out[line - 1].get("line") == line and out[line - 1]["error"], out[line - 1]
assert out[4] == {"input_ids": [1, 1, 263, 284, 871]}, out[4]
PY
# Text given as arguments; invalid UTF-8 is that text's error.
got=$(run --model "$llama/tokenizer" "Hello world" $'\xff')
[ "$got" = $'{"input_ids":[1,334,358,871,516,378]}\n{"error":"text is not valid UTF-8 (byte 0)","line":2}' ] ||
  fail "argument texts gave $got"

# 4. A damaged tokenizer.model: one error line naming the file, exit 2.
mkdir "$work/damaged"
head -c 7000 "$llama/tokenizer/tokenizer.model" >"$work/damaged/tokenizer.model"
set +e
err=$(echo '{"text": "x"}' | run --model "$work/damaged" --jsonl 2>&1 >/dev/null); rc=$?
set -e
[ "$rc" = 2 ] || fail "damaged model: exit code $rc, want 2"
[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "damaged model: more than one error line: $err"
case "$err" in *"$work/damaged/tokenizer.model"*) ;; *) fail "damaged model: message '$err' lacks the file";; esac
echo "tokenize Llama CLI: all checks passed"
