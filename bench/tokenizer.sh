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

# Same ids as the peer? EmoContext train/dev/test, the emotion-nlp sentences, and 20000 seeded random mixes.
# (The peer's fast tokenizer matches the slow BertTokenizer on all fixtures.)
parity=$(mktemp -d)
trap 'rm -f "$results"; rm -rf "$parity"' EXIT
/usr/bin/python3 - "$shared/data" >"$parity/texts.jsonl" <<'PY'
import csv, json, os, sys
data = sys.argv[1]
for name in ("train", "dev", "test"):
    path = f"{data}/emocontext/{name}.txt"
    if os.path.exists(path):
        for line in [l for l in open(path, encoding="utf-8").read().split("\n") if l][1:]:
            print(json.dumps({"text": " ".join(line.split("\t")[1:4])}, ensure_ascii=False))
path = f"{data}/emotion-nlp/emotion_dataset_raw.csv"
if os.path.exists(path):
    for row in csv.DictReader(open(path, encoding="utf-8")):
        print(json.dumps({"text": row["Text"]}, ensure_ascii=False))
# Seeded random mixes of ASCII and characters that exercise each normalization rule.
import random
random.seed(7)
special = [0xA0, 0xAD, 0xC0, 0xE9, 0xDF, 0x130, 0x131, 0x3A3, 0x3C2, 0x301, 0x308, 0x345, 0x2028, 0x3000, 0x200B,
           0x4E2D, 0xF900, 0x3042, 0xAC00, 0x1F600, 0x1F44D, 0x1F3FD, 0x200D, 0x2019, 0xAB, 0xBB, 0x2013, 0x20AC,
           0x1FEF, 0x37E, 0x387, 0x212B, 0x2126, 0x212A, 0x1E9E, 0xFB01, 0x2160, 0x24B6, 0xFF21, 0x1D400, 0xE01,
           0xE31, 0x915, 0x93F, 0x5D0, 0x627, 0x64B, 0x1D165, 0x1D16D, 0xE000, 0x85, 0x1C, 0xFEFF, 0x2060, 0xFFFD]
pool = [chr(c) for c in range(0x20, 0x7F)] * 4 + [chr(c) for c in special]
for _ in range(20000):
    print(json.dumps({"text": "".join(random.choice(pool) for _ in range(random.randint(0, 40)))}, ensure_ascii=False))
PY
(cd "$peer" && node hf_tokenizer_ids.mjs bert.tokenizer.json "$parity/texts.jsonl") >"$parity/hf.txt"
"$build/mlfaas" tokenize --vocab "$vocab" --max-length 128 --jsonl <"$parity/texts.jsonl" >"$parity/ours.txt"
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
print(f"\nSame input_ids as the peer on {os.environ['PARITY']} texts (EmoContext train/dev/test, emotion-nlp, 20000 random Unicode mixes; via `mlfaas tokenize --jsonl`).")
print("\nReproduce: `bench/tokenizer.sh [BUILD_DIR]` (needs ../shared; RUNS=N rounds).")
PY
cat "$root/bench/out/tokenizer.md"
