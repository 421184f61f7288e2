#!/usr/bin/env bash
# The TinyLlama-1.1B-shaped q4_0 function (handler `llm`, build/bench-models/tinyllama-q4_0.gguf) under
# `mlfaas serve` at 1024, 1769 and 3538 MB: Init Duration, time to first token, decode tokens/s, Max Memory Used
# and the cost of a 256-token answer (Lambda's x86_64 price per GB-s of billed duration + the request fee), and
# the time to the first streamed text at the client (InvokeWithResponseStream, raw client on loopback) minus the
# engine's own time to first token for that request. The same measurements on models/stories260K at 1769 MB are
# the reference: a model whose first token takes milliseconds, so what the streaming path itself adds shows
# without an instance that keeps the host's CPUs busy. Writes bench/out/llm_function.md.
#   bench/llm_function.sh [WARM] [STREAMS] [TOKENS] [FORM]   (default: 1 warm answer, 10 streams, 256-token
#   answers, FORM gguf; fewer TOKENS give a quick run of the streaming figures, the cost column then being for that
#   many tokens). FORM mlf ships the 1.1B model as the .mlf `mlfaas compile` makes of the GGUF (its linears 16 rows
#   interleaved, the layout decode streams fastest) and writes bench/out/llm_function_mlf.md.
source "$(dirname "$0")/lib.sh"
warm="${1:-1}"; streams="${2:-10}"; tokens="${3:-256}"; form="${4:-gguf}"
[ "$form" = gguf ] || [ "$form" = mlf ] || { echo "bench: FORM is gguf or mlf, not '$form'" >&2; exit 2; }
[ -x "$BUILD/mlfaas" ] && [ -x "$BUILD/bootstrap" ] || { echo "bench: build first (make build)" >&2; exit 1; }
models="$("$REPO/bench/llm_models.sh")"
tiny="$models/tinyllama-q4_0.gguf"; report="llm_function"
[ "$form" = mlf ] && { tiny="$models/tinyllama-q4_0.mlf"; report="llm_function_mlf"; }  # llm_models.sh compiled it
work="$(mktemp -d)"; serve_pid=""
cleanup() { [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# function name (its memory size last) and model
runs=("tinyllama-1024 $tiny" "tinyllama-1769 $tiny" "tinyllama-3538 $tiny" "stories260k-1769 $REPO/models/stories260K")
# One `serve` per memory size, the model file dropped from the page cache before it starts: the cold start
# reads the file into memory charged to the instance's cgroup (as a fresh Lambda instance would), so Max Memory
# Used counts the mapped weights, not only what another process had not already cached.
for run in "${runs[@]}"; do
  read -r name model <<<"$run"
  m="${name##*-}"
  mkdir -p "$work/$name"
  cat >"$work/$name/template.yaml" <<YAML
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  TinyLlama:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: $name
      CodeUri: .
      Handler: llm
      Runtime: provided.al2023
      MemorySize: $m
      Timeout: 900
      Environment:
        Variables:
          MODEL_PATH: "$model"
YAML
  /usr/bin/python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' \
    "$tiny"
  rm -f "$work/$name/port"
  "$BUILD/mlfaas" serve --template "$work/$name/template.yaml" --port 0 --port-file "$work/$name/port" \
    --log-dir "$work/logs" --idle-timeout 3600 >"$work/$name/serve.out" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 100); do [ -s "$work/$name/port" ] && break; sleep 0.1; done
  [ -s "$work/$name/port" ] || { echo "bench: mlfaas serve did not start: $(tail -3 "$work/$name/serve.out")" >&2; exit 1; }
  echo "bench: $name: $((1 + warm)) $tokens-token answers and $streams streams ..." >&2
  /usr/bin/python3 "$REPO/bench/llm_function.py" --port "$(cat "$work/$name/port")" --functions "$name" \
    --warm "$warm" --streams "$streams" --tokens "$tokens" >>"$work/client.jsonl"
  kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""
done
logs=(); for f in "$work"/logs/*.log; do logs+=(--serve-log "$f"); done
"$BUILD/mlfaas" experiment parse-logs "${logs[@]}" --out "$work/reports.csv"
cp "$work/client.jsonl" "$OUTDIR/$report.jsonl"; cp "$work/reports.csv" "$OUTDIR/${report}_reports.csv"

/usr/bin/python3 - "$work/client.jsonl" "$work/reports.csv" "$(cpu_line)" "$tokens" >"$OUTDIR/$report.md" <<'PY'
import csv, json, statistics, sys
client = [json.loads(l) for l in open(sys.argv[1])]
tokens = int(sys.argv[4])
reports = {r["request_id"]: r for r in csv.DictReader(open(sys.argv[2]))}
price = lambda mb, billed_ms: billed_ms / 1000 * mb / 1024 * 0.0000166667 + 0.20 / 1e6
print(f"Host: {sys.argv[3]}\n")
print("| function, memory MB | Init Duration ms | time to first token ms (cold / warm) | decode tokens/s (cold / warm) "
      f"| Max Memory Used MB | billed ms, warm {tokens}-token answer | cost per {tokens}-token answer | first streamed text "
      "minus engine's first token, ms (min / median / max) |")
print("|---|---|---|---|---|---|---|---|")
for fn in dict.fromkeys(c["function"] for c in client):
    mb = int(fn.rsplit("-", 1)[1])
    answers = [c for c in client if c["function"] == fn and c["kind"] == "answer"]
    streams = [c for c in client if c["function"] == fn and c["kind"] == "stream"]
    reps = [reports[c["request_id"]] for c in answers + streams if c["request_id"] in reports]
    cold = reports.get(answers[0]["request_id"], {})
    warm = [reports[c["request_id"]] for c in answers[1:] if c["request_id"] in reports]
    assert all(c["completion_tokens"] == tokens for c in answers), answers
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    warm_billed = med([float(r["billed_ms"]) for r in warm])
    over = sorted(c["overhead_ms"] for c in streams)
    print(f"| {fn.rsplit('-', 1)[0]}, {mb} | {float(cold.get('init_ms', 'nan')):.0f} | {answers[0]['first_token_ms']:.0f} / "
          f"{med([c['first_token_ms'] for c in answers[1:]]):.0f} | {answers[0]['tokens_per_second']:.1f} / "
          f"{med([c['tokens_per_second'] for c in answers[1:]]):.1f} | {max(int(r['max_memory_mb']) for r in reps)} | "
          f"{warm_billed:.0f} | ${price(mb, warm_billed):.6f} | "
          + (f"{over[0]:.2f} / {statistics.median(over):.2f} / {over[-1]:.2f}" if over else "–") + " |")
PY
cat "$OUTDIR/$report.md"
