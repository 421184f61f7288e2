#!/usr/bin/env bash
# `mlfaas compile` end to end with the shipped emotion model: the compiled int8 and fp32 files answer exactly as
# the directory does through `predict` (text in, tokenizer from the file), and damaged or foreign files are refused
# by predict with one line and exit status 2. (tests/integration/platform_compiled_model.sh serves a compiled model.)
set -euo pipefail
source "$(dirname "$0")/model_errors_lib.bash"
: "${MLFAAS_BIN:?}" "${MLFAAS_SOURCE:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
model="$MLFAAS_SOURCE/models/emotion"
texts=("I am so happy today, everything went well!" "why would you say that, I hate you" "" "ok")

for p in int8 fp32; do
  timeout 60 "$MLFAAS_BIN" compile --model "$model" --precision "$p" --out "$T/emotion.$p.mlf" --quiet >"$T/compile.$p"
  grep -q "tokenizer included" "$T/compile.$p" || { echo "FAIL: $(cat "$T/compile.$p")" >&2; exit 1; }
  timeout 60 "$MLFAAS_BIN" predict --model "$model" --precision "$p" "${texts[@]}" >"$T/dir.$p.jsonl"
  timeout 60 "$MLFAAS_BIN" predict --model "$T/emotion.$p.mlf" "${texts[@]}" >"$T/mlf.$p.jsonl"
  [ "$(wc -l <"$T/mlf.$p.jsonl")" = 4 ] || { echo "FAIL: $p: expected 4 answers" >&2; exit 1; }
  # int8 files carry 16-wide fp32 heads, which a 32-wide level runs with its 16-wide kernel: compare to rounding.
  /usr/bin/python3 - "$T/dir.$p.jsonl" "$T/mlf.$p.jsonl" "$p" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 4
for x, y in zip(a, b):
    assert x["label"] == y["label"], (x, y)
    d = max(abs(u - v) for u, v in zip(x["logits"], y["logits"]))
    assert d < 1e-5, (sys.argv[3], d)
print("ok   %s: compiled file answers as the directory" % sys.argv[3])
PY
done
size_int8=$(stat -c %s "$T/emotion.int8.mlf"); size_fp32=$(stat -c %s "$T/emotion.fp32.mlf")
[ "$size_int8" -lt "$size_fp32" ] || { echo "FAIL: int8 file ($size_int8) not smaller than fp32 ($size_fp32)" >&2; exit 1; }
echo "ok   sizes: int8 $size_int8 bytes, fp32 $size_fp32 bytes"

# The compiled tokenizer: same ids as the directory's through `mlfaas tokenize`.
timeout 30 "$MLFAAS_BIN" tokenize --model "$model" "${texts[@]}" "Ünïcödé, 日本語 and [MASK]" >"$T/tok.dir"
timeout 30 "$MLFAAS_BIN" tokenize --model "$T/emotion.int8.mlf" "${texts[@]}" "Ünïcödé, 日本語 and [MASK]" >"$T/tok.mlf"
cmp -s "$T/tok.dir" "$T/tok.mlf" || { echo "FAIL: tokenize differs: $(diff "$T/tok.dir" "$T/tok.mlf" | head -3)" >&2; exit 1; }
echo "ok   tokenize --model FILE.mlf gives the directory's ids"

# --precision must agree with the compiled one.
set +e
timeout 30 "$MLFAAS_BIN" predict --model "$T/emotion.int8.mlf" --precision fp32 "x" >/dev/null 2>"$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "compiled for int8" "$T/err" || {
  echo "FAIL: precision mismatch: exit $rc: $(cat "$T/err")" >&2; exit 1; }
echo "ok   precision mismatch: $(cat "$T/err")"

# Damaged and foreign files.
/usr/bin/python3 - "$T/emotion.int8.mlf" "$T" "$model" <<'PY'
import os, shutil, struct, sys
good, out, model = sys.argv[1], sys.argv[2], sys.argv[3]
blob = open(good, "rb").read()
def write(name, data):
    open(os.path.join(out, name), "wb").write(data)
write("truncated.mlf", blob[: len(blob) // 2])
write("old.mlf", blob[:8] + struct.pack("<I", 0) + blob[12:])
write("newer.mlf", blob[:8] + struct.pack("<I", 99) + blob[12:])
t = bytearray(blob); t[128 + 64 * 5 + 1] ^= 0x10; write("table.mlf", bytes(t))
shutil.copy(os.path.join(model, "model.safetensors"), os.path.join(out, "foreign.mlf"))
write("tiny.mlf", b"\x89MLF")
PY
declare -A want=(
  [truncated.mlf]="truncated: header says"
  [old.mlf]="format version 0 is older than this mlfaas reads"
  [newer.mlf]="format version 99 is newer than this mlfaas reads"
  [table.mlf]="corrupt entry table (checksum mismatch)"
  [foreign.mlf]="not a compiled mlfaas model (.mlf): wrong magic"
  [tiny.mlf]="not a compiled mlfaas model"
)
expect_model_errors "$T" "${!want[@]}"
echo "compile through the CLI: all cases passed"
