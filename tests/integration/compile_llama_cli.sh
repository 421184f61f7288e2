#!/usr/bin/env bash
# `mlfaas compile` for Llama models end to end: stories260K (llama2.c) and tiny-llama (HF directory, GGUF) compiled
# at f32, q8_0 (--precision int8) and q4_0 (int4), in the default interleaved layout and with --layout rows,
# generate exactly what their source generates at that precision, `tokenize` reads the compiled tokenizer, predict
# refuses a Llama .mlf (pointing at generate), --layout is refused for a BERT model, and damaged files (interleaved
# weights included) are refused by generate with one line and exit status 2.
set -euo pipefail
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
stories="$MLFAAS_TEST_DATA/../../models/stories260K"
tiny="$MLFAAS_TEST_DATA/llama/tiny-llama"
gen() { timeout 60 "$MLFAAS_BIN" generate --max-new-tokens 24 --ignore-eos --threads 2 "$@" 2>/dev/null; }

declare -A alias=([f32]=f32 [q8_0]=int8 [q4_0]=int4)
for source in "$stories" "$tiny" "$tiny/model-f32.gguf"; do
  for p in f32 q8_0 q4_0; do
    out="$T/model.$p.mlf"
    timeout 60 "$MLFAAS_BIN" compile --model "$source" --precision "${alias[$p]}" --out "$out" --quiet >"$T/compile"
    timeout 60 "$MLFAAS_BIN" compile --model "$source" --precision "${alias[$p]}" --layout rows --out "$T/rows.mlf" \
      --quiet >"$T/compile.rows"
    # q8_0 and q4_0 linears are interleaved by default; f32 weights and --layout rows keep rows.
    interleaved=" (linears 16-row interleaved)"; [ "$p" = f32 ] && interleaved=""
    grep -qF "weights ${p^^}$interleaved, " "$T/compile" || fail "$source $p: $(cat "$T/compile")"
    grep -qF "weights ${p^^}, " "$T/compile.rows" || fail "$source $p --layout rows: $(cat "$T/compile.rows")"
    want=$(gen --model "$source" --precision "$p" --prompt "Once upon a time")
    got=$(gen --model "$out" --prompt "Once upon a time")
    [ "$got" = "$want" ] || fail "$source $p: compiled file generates '$got', the source '$want'"
    got=$(gen --model "$T/rows.mlf" --prompt "Once upon a time")
    [ "$got" = "$want" ] || fail "$source $p: compiled file (--layout rows) generates '$got', the source '$want'"
    echo "ok   $(basename "$source") $p: $(stat -c %s "$out") bytes ($(stat -c %s "$T/rows.mlf") in rows), same text"
  done
done

# --layout is a Llama choice: a BERT-family model is refused in one line.
set +e
timeout 30 "$MLFAAS_BIN" compile --model "$MLFAAS_TEST_DATA/models/bert-tiny-cls" --layout rows --out "$T/b.mlf" \
  --quiet >/dev/null 2>"$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "layout is for Llama models" "$T/err" ||
  fail "--layout on BERT: exit $rc: $(cat "$T/err")"
echo "ok   --layout on a BERT model: $(cat "$T/err")"

# The compiled tokenizer through `tokenize --jsonl`.
timeout 60 "$MLFAAS_BIN" compile --model "$tiny" --out "$T/tiny.mlf" --quiet >/dev/null
printf '%s\n' '{"text": "Hello world"}' '{"text": " <s>[INST] Ünïcödé 日本語 </s>"}' '{"text": ""}' >"$T/in.jsonl"
timeout 30 "$MLFAAS_BIN" tokenize --model "$tiny" --jsonl <"$T/in.jsonl" >"$T/tok.dir"
timeout 30 "$MLFAAS_BIN" tokenize --model "$T/tiny.mlf" --jsonl <"$T/in.jsonl" >"$T/tok.mlf"
cmp -s "$T/tok.dir" "$T/tok.mlf" || fail "tokenize differs: $(diff "$T/tok.dir" "$T/tok.mlf" | head -3)"
echo "ok   tokenize --model FILE.mlf gives the directory's ids"

# A quantized source cannot be re-encoded.
set +e
timeout 30 "$MLFAAS_BIN" compile --model "$T/model.q4_0.mlf" --precision q8_0 --out "$T/x.mlf" --quiet >/dev/null 2>"$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "already quantized" "$T/err" || fail "re-encode: exit $rc: $(cat "$T/err")"
echo "ok   re-encoding quantized weights: $(cat "$T/err")"

# Damaged and foreign files: one line naming the file, exit 2 (generate), and predict on a Llama file.
/usr/bin/python3 - "$T/model.q4_0.mlf" "$T" <<'PY'
import os, struct, sys
good, out = sys.argv[1], sys.argv[2]
blob = bytearray(open(good, "rb").read())
def write(name, data):
    open(os.path.join(out, name), "wb").write(bytes(data))
def fnv(b, h=0xcbf29ce484222325):
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
count, = struct.unpack_from("<I", blob, 20)
names, names_size = struct.unpack_from("<QQ", blob, 32)
def record(name):
    for i in range(count):
        r = 128 + 64 * i
        no, ns = struct.unpack_from("<II", blob, r + 16)
        if blob[names + no:names + no + ns] == name.encode():
            return r
    raise KeyError(name)
def fixed(b):
    struct.pack_into("<Q", b, 56, fnv(b[names:names + names_size], fnv(b[128:128 + 64 * count])))
    return b
write("truncated.mlf", blob[: len(blob) // 2])
t = bytearray(blob); t[128 + 3] ^= 1; write("checksum.mlf", t)
t = bytearray(blob); off, = struct.unpack_from("<Q", t, record("meta/architecture")); t[off:off + 5] = b"gpt99"
write("architecture.mlf", t)
t = bytearray(blob); t[record("blk.0.attn_q.weight") + 24] = 7; write("weight_type.mlf", fixed(t))  # q4_0_x16 -> q8_0
# An interleaved weight whose 172 rows lack the padding to 176 (the row layout's size), and one of rank 3.
t = bytearray(blob); r = record("blk.0.ffn_gate.weight"); assert t[r + 24] == 12 and t[r + 32] == 172
struct.pack_into("<Q", t, r + 8, 172 * 2 * 18); write("x16_unpadded.mlf", fixed(t))
t = bytearray(blob); r = record("blk.0.attn_q.weight"); k, = struct.unpack_from("<q", t, r + 40)
t[r + 25] = 3; struct.pack_into("<qq", t, r + 40, 1, k); write("x16_rank3.mlf", fixed(t))
PY
declare -A want=(
  [truncated.mlf]="truncated: header says"
  [checksum.mlf]="corrupt entry table (checksum mismatch)"
  [architecture.mlf]="compiled for an architecture this mlfaas does not know"
  [weight_type.mlf]="entry 'blk.0.attn_q.weight':"
  [x16_unpadded.mlf]="entry 'blk.0.ffn_gate.weight': 6192 bytes do not hold [172, 64] q4_0_x16"
  [x16_rank3.mlf]="entry 'blk.0.attn_q.weight': [64, 1, 64] q4_0_x16 is not 2-D"
)
for case in "${!want[@]}"; do
  set +e
  timeout 30 "$MLFAAS_BIN" generate --model "$T/$case" --prompt "x" >/dev/null 2>"$T/err"; rc=$?
  set -e
  [ "$rc" = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -qF -- "${want[$case]}" "$T/err" && grep -qF "$T/$case" "$T/err" ||
    fail "$case: exit $rc: $(cat "$T/err")"
  echo "ok   $case: $(cat "$T/err")"
done
set +e
timeout 30 "$MLFAAS_BIN" predict --model "$T/tiny.mlf" "some text" >/dev/null 2>"$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "is a compiled Llama model.*mlfaas generate" "$T/err" ||
  fail "predict on a Llama file: exit $rc: $(cat "$T/err")"
echo "ok   predict: $(cat "$T/err")"
echo "compile for Llama through the CLI: all cases passed"
