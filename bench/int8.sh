#!/usr/bin/env bash
# int8 vs fp32, ours vs ONNX Runtime, on the 24-layer random-weight MobileBERT and the ten sentences: batch-1
# latency at 1 and 2 threads, batched throughput (8 and 32 per call), interleaved (ours, ORT, ours, ORT ...) because
# the machine is shared; then the accuracy table of the shipped model. Writes bench/out/int8.md.
#   bench/int8.sh [ROUNDS]   (default 3; the reported figure is the median over rounds)
source "$(dirname "$0")/lib.sh"
rounds="${1:-3}"
setup_ort_peer
setup_mobilebert_24l
models="$BUILD/bench-models"
inputs="$SHARED/fixtures/expected/ten_sentences_tokenizer.jsonl"
raw="$(mktemp)"; trap 'rm -f "$raw"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for t in 1 2; do
    for p in fp32 int8; do
      echo "round $r/$rounds threads $t $p ..." >&2
      ours=$("$BUILD/bench/model_bench" --model "$models/mobilebert-24L" --inputs "$inputs" --threads "$t" \
        --precision "$p" --repeat 20 --warmup 3 | head -1)
      printf 'ours %s %s %s\n' "$p" "$t" "$ours" >>"$raw"
      onnx="$models/mobilebert-24L.onnx"; [ "$p" = int8 ] && onnx="$models/mobilebert-24L.int8.onnx"
      ort=$(cd "$BUILD/peer-ort" && node bench.mjs --model "$onnx" --inputs "$inputs" --threads "$t" --batch 8,32 \
        --warmup 3 --repeat 20 --json | tr -d '\n')
      printf 'ort %s %s %s\n' "$p" "$t" "$ort" >>"$raw"
    done
  done
done
/usr/bin/python3 - "$raw" "$(cpu_line)" >"$OUTDIR/int8.md" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    eng, prec, t, js = line.split(" ", 3)
    j = json.loads(js)
    if eng == "ours":
        v = (j["latency_ms_median"], j["caller_thread_cpu_ms_median"], j["batch8_sentences_per_s"], j["batch32_sentences_per_s"])
    else:
        tp = {x["batch"]: x["sentences_per_s"] for x in j["throughput"]}
        v = (j["latency"]["median_of_medians_ms"], float("nan"), tp[8], tp[32])
    rows.setdefault((eng, prec, int(t)), []).append(v)
med = lambda xs: statistics.median(xs)
print("## int8 vs fp32: 24-layer MobileBERT (random weights), ten sentences\n")
print("Host: %s. Median over %d interleaved rounds; each round = 20 timed runs per sentence after 3 warm-up runs.\n"
      % (sys.argv[2], len(next(iter(rows.values())))))
print("| engine | precision | threads | batch-1 median ms/sentence | caller CPU ms | batch 8 sent/s | batch 32 sent/s |")
print("|---|---|---|---|---|---|---|")
for t in (1, 2):
    for prec in ("fp32", "int8"):
        for eng in ("ours", "ort"):
            vs = rows[(eng, prec, t)]
            lat, cpu, b8, b32 = (med([v[i] for v in vs]) for i in range(4))
            name = "mlfaas" if eng == "ours" else "ONNX Runtime 1.30"
            print("| %s | %s | %d | %.2f | %s | %.1f | %.1f |" % (name, prec, t, lat, "-" if cpu != cpu else "%.2f" % cpu, b8, b32))
for t in (1, 2):
    o = med([v[0] for v in rows[("ours", "int8", t)]]); r = med([v[0] for v in rows[("ort", "int8", t)]])
    print("\nint8 batch-1 at %d thread(s): mlfaas / ORT = %.2f" % (t, o / r))
PY
if [ -f "$SHARED/data/emocontext/test.txt" ]; then
  { echo; echo "## int8 accuracy (shipped emotion model, EmoContext test)"; echo;
    /usr/bin/python3 "$REPO/tools/int8_accuracy.py" --mlfaas "$BUILD/mlfaas" --data "$SHARED/data/emocontext/test.txt"; } >>"$OUTDIR/int8.md" || true
fi
cat "$OUTDIR/int8.md"
