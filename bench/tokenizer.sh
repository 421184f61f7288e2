#!/usr/bin/env bash
# Tokenizer throughput: mlfaas's WordPiece vs Hugging Face's Rust `tokenizers` (encodeBatch, through its
# Node binding), one thread each, same vocabulary (bert-base-uncased) and text (EmoContext train,
# turn1 + " " + turn2 + " " + turn3), max_length 128, in the same run. Needs ../shared next to the repository.
#   bench/tokenizer.sh [BUILD_DIR]      (RUNS=N rounds, default 3; the best round of each side is reported)
# Prints a markdown table and writes it to bench/out/tokenizer.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${RUNS:-3}
shared=$root/../shared
corpus=$shared/data/emocontext/train.txt
peer_src=$shared/peers/hf-tokenizers
vocab=$root/tests/data/vocab/bert-base-uncased.txt
for need in "$corpus" "$peer_src/bench.mjs"; do
  [ -e "$need" ] || { echo "tokenizer bench: $need not found - this benchmark needs ../shared (data and peers) next to the repository" >&2; exit 1; }
done
command -v node >/dev/null || "$root/tools/setup.sh" bench

peer=$build/peer-tok
mkdir -p "$peer"
cp "$peer_src"/* "$root/bench/hf_tokenizer_ids.mjs" "$peer"/
[ -d "$peer/node_modules" ] || (cd "$peer" && npm install --no-audit --no-fund --loglevel=error)
/usr/bin/python3 "$peer/make_tokenizer_json.py" "$vocab" "$peer/bert.tokenizer.json"
cmake --build "$build" --target tokenizer_bench mlfaas >/dev/null

ours_cmd=("$build/bench/tokenizer_bench" --data "$corpus" --vocab "$vocab" --max-length 128 --passes 3 --json)
hf_cmd=(node bench.mjs --tokenizer bert.tokenizer.json --corpus "$corpus" --emocontext --repeat 3 --json)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((i = 1; i <= runs; i++)); do
  echo "round $i/$runs ..." >&2
  printf 'ours %s\n' "$("${ours_cmd[@]}")" >>"$results"
  printf 'hf %s\n' "$(cd "$peer" && RAYON_NUM_THREADS=1 "${hf_cmd[@]}")" >>"$results"
done

# Same ids as the peer on every EmoContext text? (Its fast tokenizer matches the slow one on all fixtures.)
parity=$(mktemp -d)
trap 'rm -f "$results"; rm -rf "$parity"' EXIT
(cd "$peer" && node hf_tokenizer_ids.mjs bert.tokenizer.json "$corpus") >"$parity/hf.txt"
/usr/bin/python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l][1:]
for l in lines: print(json.dumps({"text": " ".join(l.split("\t")[1:4])}, ensure_ascii=False))
' "$corpus" | "$build/mlfaas" tokenize --vocab "$vocab" --max-length 128 --jsonl >"$parity/ours.txt"
same=$(/usr/bin/python3 -c '
import json, sys
hf = [json.loads(l) for l in open(sys.argv[1])]
ours = [json.loads(l)["input_ids"] for l in open(sys.argv[2])]
print(f"{sum(a == b for a, b in zip(hf, ours))} / {len(hf)}" if len(hf) == len(ours) else f"count differs: {len(hf)} vs {len(ours)}")
' "$parity/hf.txt" "$parity/ours.txt")

mkdir -p "$root/bench/out"
PARITY="$same" /usr/bin/python3 - "$results" "$runs" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)" \
    >"$root/bench/out/tokenizer.md" <<'PY'
import json, os, sys
ours, hf = [], []
for line in open(sys.argv[1]):
    side, payload = line.split(" ", 1)
    (ours if side == "ours" else hf).append(json.loads(payload))
o = max(ours, key=lambda r: r["MB_per_s"])
h = max((r["corpus"]["batch"] for r in hf), key=lambda r: r["MB_per_s"])
texts, size = o["texts"], o["bytes"]
print(f"## Tokenizer throughput (EmoContext train: {texts} texts, {size / 1e6:.2f} MB; one thread; max_length 128)\n")
print(f"Best of {sys.argv[2]} rounds, each round the best of 3 passes over all texts; {sys.argv[4]}, {sys.argv[3]} cores.\n")
print("| tokenizer | MB/s | µs/text | speed-up |")
print("|---|---:|---:|---:|")
print(f"| mlfaas WordPiece (C++) | {o['MB_per_s']:.1f} | {o['us_per_text']:.2f} | {o['MB_per_s'] / h['MB_per_s']:.1f}× |")
print(f"| Hugging Face tokenizers 0.23.2 `encodeBatch` (Rust, RAYON_NUM_THREADS=1) | {h['MB_per_s']:.2f} | {h['us_per_text']:.2f} | 1.0× |")
hf_bytes = hf[0]["corpus"]["bytes"]
if hf_bytes != size:
    print(f"\nNote: byte counts differ (ours {size}, peer {hf_bytes}).")
print(f"\nSame input_ids as the peer on {os.environ['PARITY']} EmoContext texts (via `mlfaas tokenize --jsonl`).")
print("\nReproduce: `bench/tokenizer.sh [BUILD_DIR]` (needs ../shared; RUNS=N rounds).")
PY
cat "$root/bench/out/tokenizer.md"
