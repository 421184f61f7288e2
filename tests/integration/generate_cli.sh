#!/usr/bin/env bash
# mlfaas generate on the llama2.c stories260K model: greedy text equal to the HF fixture's (streamed --prompt and
# --jsonl), a timing line on stderr, a bad JSONL line answered with an error while the others go on; tiny-llama's chat
# rows (HF dir and GGUF) through the chat template; a prompt longer than the context refused in one line with exit 2,
# a corrupt model file refused in one line with exit 2.
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model="$MLFAAS_TEST_DATA/../../models/stories260K"
fixture="$MLFAAS_TEST_DATA/llama/stories260K_expected.jsonl"
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { timeout 60 "$MLFAAS_BIN" generate --model "$model" "$@"; }

want_text() {  # the fixture's greedy text for a prompt
  python3 - "$fixture" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    row = json.loads(line)
    if row["prompt"] == sys.argv[2]:
        sys.stdout.write(row["greedy_text"])
PY
}

# 1. Greedy from "" and from "Once upon a time": 32 tokens, EOS ignored, as the fixture was made.
for prompt in "" "Once upon a time"; do
  got=$(run --prompt "$prompt" --max-new-tokens 32 --ignore-eos 2>"$work/stderr")
  want=$(want_text "$prompt")
  [ "$got" = "$want" ] || fail "prompt '$prompt': got '$got', want '$want'"
  grep -qE 'load [0-9.]+ ms \| prompt eval [0-9]+ tokens, .* tokens/s \| eval 31 runs, .* tokens/s' "$work/stderr" ||
    fail "timing line: $(cat "$work/stderr")"
done

# 2. --jsonl: prompts, ids and a bad line in between; every good line answered, the bad one with an error.
printf '%s\n' '{"prompt": "Once upon a time", "max_new_tokens": 32, "ignore_eos": true}' 'not json' \
  '{"input_ids": [1], "max_new_tokens": 32, "ignore_eos": true}' '{"input_ids": [1, 99999]}' \
  '{"prompt": "Once upon a time", "max_new_tokens": 32, "ignore_eos": true, "stop": ["little"]}' >"$work/in.jsonl"
run --jsonl <"$work/in.jsonl" >"$work/out.jsonl" || fail "--jsonl exit $?"
python3 - "$work/out.jsonl" "$fixture" <<'PY' || fail "--jsonl output"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
rows = {r["prompt"]: r for r in map(json.loads, open(sys.argv[2], encoding="utf-8"))}
assert len(out) == 5, out
once, empty = rows["Once upon a time"], rows[""]
assert out[0]["prompt_ids"] == once["input_ids"] and out[0]["generated_ids"] == once["greedy_new_ids"], out[0]
assert out[0]["text"] == once["greedy_text"] and out[0]["finish_reason"] == "length", out[0]
t = out[0]["timings"]
assert t["prompt_tokens"] == len(once["input_ids"]) and t["generated_tokens"] == 32, t
assert all(t[k] >= 0 for k in ("prefill_ms", "decode_ms", "load_ms")), t
assert out[1]["error"] and out[1]["line"] == 2, out[1]
assert out[2]["generated_ids"] == empty["greedy_new_ids"] and out[2]["text"] == empty["greedy_text"], out[2]
assert "out of range" in out[3]["error"], out[3]
cut = once["greedy_text"].index("little")
assert out[4]["text"] == once["greedy_text"][:cut] and out[4]["finish_reason"] == "stop", out[4]
PY

# 3. Chat rows of tiny-llama through --jsonl {"messages"} and --messages: the model's template, tokenized as HF 4.36
#    does (no BOS added), then the HF greedy ids; the same from the GGUF file, whose template comes from metadata.
tiny="$MLFAAS_TEST_DATA/llama/tiny-llama"
python3 - "$tiny/expected.jsonl" "$work/chat" <<'PY'
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1], encoding="utf-8")) if r["kind"] == "chat"]
with open(sys.argv[2] + ".in", "w", encoding="utf-8") as f:
    for r in rows: f.write(json.dumps({"messages": r["messages"], "max_new_tokens": 24}) + "\n")
with open(sys.argv[2] + ".want", "w", encoding="utf-8") as f:
    for r in rows: f.write(json.dumps([r["input_ids"], r["greedy_new_ids"]]) + "\n")
with open(sys.argv[2] + ".first", "w", encoding="utf-8") as f:
    f.write(json.dumps(rows[0]["messages"]))
PY
for m in "$tiny" "$tiny/model-f32.gguf"; do
  timeout 60 "$MLFAAS_BIN" generate --model "$m" --jsonl <"$work/chat.in" >"$work/chat.out" || fail "chat --jsonl on $m"
  python3 - "$work/chat.want" "$work/chat.out" <<'PY' || fail "chat rows on $m"
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(want) == len(got) == 5, (len(want), len(got))
for (ids, new), g in zip(want, got):
    assert g["prompt_ids"] == ids and g["generated_ids"] == new, g
PY
done
first=$(timeout 60 "$MLFAAS_BIN" generate --model "$tiny" --messages "$(cat "$work/chat.first")" --max-new-tokens 24 \
        2>/dev/null) || fail "--messages"
[ "$first" = "$(head -1 "$work/chat.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])')" ] ||
  fail "--messages streamed '$first'"

# 4. A prompt longer than the context: one line, exit 2.
long_prompt=$(printf 'Once upon a time %.0s' $(seq 40))
set +e
run --context 16 --prompt "$long_prompt" >"$work/out" 2>"$work/err"
code=$?
set -e
[ "$code" = 2 ] || fail "long prompt: exit $code"
[ "$(wc -l <"$work/err")" = 1 ] && grep -q "does not fit the context of 16" "$work/err" || fail "long prompt: $(cat "$work/err")"

# 5. A corrupt checkpoint (truncated) and a corrupt GGUF (header only): one line naming the file, exit 2.
mkdir "$work/broken"
head -c 100000 "$model/stories260K.bin" >"$work/broken/stories260K.bin"
cp "$model/tok512.bin" "$work/broken/"
printf 'GGUF\003\000\000\000' >"$work/broken.gguf"
for bad in "$work/broken" "$work/broken.gguf"; do
  set +e
  timeout 60 "$MLFAAS_BIN" generate --model "$bad" --prompt "hi" >"$work/out" 2>"$work/err"
  code=$?
  set -e
  [ "$code" = 2 ] || fail "$bad: exit $code ($(cat "$work/err"))"
  [ "$(wc -l <"$work/err")" = 1 ] && grep -q "broken" "$work/err" || fail "$bad: $(cat "$work/err")"
done
echo "generate_cli: ok"
