#!/usr/bin/env bash
# fp32 engine vs ONNX Runtime fp32 (onnxruntime-node, the peer in ../shared/peers/ort) on the 24-layer MobileBERT of
# emo-mobilebert's shape (random weights, seed 0) and the ten load-test sentences, 1 and 2 threads, same run.
# Rounds alternate between the two engines (RUNS=N, default 3) and each cell is the median over rounds, with the
# min-max in brackets. Prints a markdown table and writes it to bench/out/engine_fp32.md.
#   bench/engine_fp32.sh
source "$(dirname "$0")/lib.sh"
setup_ort_peer
setup_mobilebert_24l
cmake --build "$BUILD" --target model_bench >/dev/null
runs=${RUNS:-3}
model="$BUILD/bench-models/mobilebert-24L"
inputs="$REPO/tests/data/tokenizer/ten_sentences_tokenizer.jsonl"
raw="$OUTDIR/engine_fp32.raw.jsonl"
: > "$raw"
for ((r = 1; r <= runs; r++)); do
  for t in 1 2; do
    echo "round $r/$runs, $t thread(s) ..." >&2
    ours=$("$BUILD/bench/model_bench" --model "$model" --inputs "$inputs" --threads "$t" --warmup 3 --repeat 20 | grep '^{')
    echo "{\"engine\":\"mlfaas\",\"threads\":$t,\"r\":$ours}" >> "$raw"
    ort=$(node "$BUILD/peer-ort/bench.mjs" --model "$model.onnx" --inputs "$inputs" --threads "$t" --batch 8,32 \
          --warmup 3 --repeat 20 --json | tr -d '\n')
    echo "{\"engine\":\"ort\",\"threads\":$t,\"r\":$ort}" >> "$raw"
  done
done
/usr/bin/python3 - "$raw" "$(cpu_line)" "$runs" > "$OUTDIR/engine_fp32.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def cell(engine, threads, get):
    v = [get(x["r"]) for x in rows if x["engine"] == engine and x["threads"] == threads]
    return statistics.median(v), min(v), max(v)
ours = {"lat": lambda r: r["latency_ms_median"], "p90": lambda r: r["latency_ms_p90_pooled"],
        "b8": lambda r: r["batch8_sentences_per_s"], "b32": lambda r: r["batch32_sentences_per_s"]}
ort = {"lat": lambda r: r["latency"]["median_of_medians_ms"], "p90": lambda r: r["latency"]["pooled_p90_ms"],
       "b8": lambda r: [t for t in r["throughput"] if t["batch"] == 8][0]["sentences_per_s"],
       "b32": lambda r: [t for t in r["throughput"] if t["batch"] == 32][0]["sentences_per_s"]}
f = lambda c, d=2: f"{c[0]:.{d}f} ({c[1]:.{d}f}–{c[2]:.{d}f})"
print(f"Machine: {sys.argv[2]}; {sys.argv[3]} alternating rounds, warm-up 3, 20 repeats per sentence.\n")
print("| engine | threads | batch-1 latency ms (median of per-sentence medians) | pooled p90 ms | batch 8 sent/s | batch 32 sent/s |")
print("|---|---|---|---|---|---|")
for t in (1, 2):
    for name, get in (("mlfaas fp32", ours), ("ONNX Runtime 1.30 fp32", ort)):
        e = "mlfaas" if name.startswith("mlfaas") else "ort"
        print(f"| {name} | {t} | {f(cell(e, t, get['lat']))} | {f(cell(e, t, get['p90']))} | {f(cell(e, t, get['b8']), 1)} | {f(cell(e, t, get['b32']), 1)} |")
print()
for t in (1, 2):
    o = cell("mlfaas", t, ours["lat"])[0]; p = cell("ort", t, ort["lat"])[0]
    b8 = cell("mlfaas", t, ours["b8"])[0] / cell("ort", t, ort["b8"])[0]
    print(f"- {t} thread(s): mlfaas batch-1 latency = **{o / p:.2f}×** ONNX Runtime's ({o:.2f} vs {p:.2f} ms); batch-8 throughput {b8:.2f}× ONNX Runtime's.")
cpu = [x["r"].get("caller_thread_cpu_ms_median") for x in rows if x["engine"] == "mlfaas" and x["threads"] == 1]
if all(c is not None for c in cpu):
    print(f"- mlfaas CPU time of the calling thread per sentence at 1 thread: {statistics.median(cpu):.2f} ms (median over rounds).")
PY
cat "$OUTDIR/engine_fp32.md"
