#!/usr/bin/env bash
# The whole function against what seed A's users would deploy, on one `mlfaas serve`, both at 512 MB
# (0.29 vCPU each):
#   mlfaas: `mlfaas package --compile int8` of the 24-layer MobileBERT (random weights, seed 0) - our C++
#           `bootstrap` with the model compiled into model.mlf;
#   peer:   bench/function_peer/ - a Node.js custom runtime (`bootstrap` execs node; its own Runtime API client)
#           with onnxruntime-node 1.30.0 on the int8 ONNX graph of the same weights (build_onnx.py --int8) and
#           Hugging Face's `tokenizers` 0.23.2, both loaded during INIT.
# Measures, interleaving the two functions: 10 cold starts each (serve runs with --idle-timeout 1, so an instance
# idle for 1 s is reclaimed and the next request starts a new one), warm latency (REPORT Duration and client),
# Max Memory Used, `mlfaas loadtest` requests/s with 1 and 2 users (= instances) for SECONDS each, and cost per
# million requests. Fails when the two functions' answers on the ten sentences differ by more than 1e-3 in
# probability. Writes bench/out/function_peer.md and the table into docs/BENCHMARKS.md (between the
# function_peer markers); the last line printed is `init_ratio=X warm_p50_ratio=Y max_memory_ratio=Z`.
#   bench/function_peer.sh [SECONDS]   (default 10; takes about 2 minutes + 4 x (SECONDS + 3) s)
source "$(dirname "$0")/lib.sh"
seconds="${1:-10}"
require_shared
for bin in "$BUILD/mlfaas" "$BUILD/bootstrap"; do
  [ -x "$bin" ] || { echo "bench: $bin is missing; build first (make build)" >&2; exit 1; }
done
"$BUILD/bootstrap" --list-handlers | grep -q '^emotion ' || { echo "bench: bootstrap has no emotion handler" >&2; exit 1; }
setup_ort_peer
setup_tokenizers_peer
setup_mobilebert_24l
models="$BUILD/bench-models"
sentences="$SHARED/data/loadtest/ten_sentences.txt"
[ -f "$sentences" ] || { echo "bench: $sentences is missing (../shared/data)" >&2; exit 1; }
work="$BUILD/function-peer"
rm -rf "$work"
mkdir -p "$work/peer/model" "$work/peer/node_modules"

# Ours: what `sam build` would deploy, with the model compiled.
cat >"$work/package.yaml" <<YAML
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  MlfaasFunction:
    Type: AWS::Serverless::Function
    Properties: {Runtime: provided.al2023, CodeUri: ., Handler: emotion, MemorySize: 512,
                 Environment: {Variables: {MODEL_PATH: $models/mobilebert-24L}}}
YAML
"$BUILD/mlfaas" package --template "$work/package.yaml" --function MlfaasFunction --dir "$work/ours" --compile int8 >/dev/null
# Theirs: the function's code, its node_modules (hard links: the deployment package's content) and its model.
cp "$REPO/bench/function_peer/"* "$work/peer/"
cp -al "$BUILD/peer-ort/node_modules/." "$BUILD/peer-tok/node_modules/." "$work/peer/node_modules/"
ln "$models/mobilebert-24L.int8.onnx" "$work/peer/model/model.onnx"
cp "$models/mobilebert-24L/config.json" "$work/peer/model/"
/usr/bin/python3 "$BUILD/peer-tok/make_tokenizer_json.py" "$models/mobilebert-24L/vocab.txt" "$work/peer/model/tokenizer.json"

cat >"$work/template.yaml" <<'YAML'
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: provided.al2023, MemorySize: 512, Timeout: 30, Architectures: [x86_64]}
Resources:
  MlfaasFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ./ours
      Handler: emotion
      Events: {Api: {Type: HttpApi, Properties: {Path: /mlfaas, Method: POST}}}
  PeerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ./peer
      Handler: index.handler
      Events: {Api: {Type: HttpApi, Properties: {Path: /peer, Method: POST}}}
YAML

serve_pid=""
stop_serve() { if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null || true; serve_pid=""; fi; }
trap stop_serve EXIT
start_serve() {  # serve options...
  rm -f "$work/port"
  (cd "$work" && exec "$BUILD/mlfaas" serve --template template.yaml --port 0 --port-file port --log-dir logs \
    --state-dir state "$@" >>"$work/serve.out" 2>&1) &
  serve_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  [ -s "$work/port" ] || { echo "bench: mlfaas serve did not start: $(cat "$work/serve.out")" >&2; exit 1; }
  url="http://127.0.0.1:$(cat "$work/port")"
}
drive() { /usr/bin/python3 "$REPO/bench/function_peer.py" "$@"; }
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "cold starts (10 per function) ..." >&2
start_serve --idle-timeout 1
drive cold "$url" "$work/cold.json" MlfaasFunction PeerFunction --rounds 10 --idle-s 1
stop_serve

echo "warm requests ..." >&2
start_serve
drive warm "$url" "$work/warm.json" MlfaasFunction PeerFunction --rounds 10 --per-round 20 --sentences "$sentences"
: >"$work/loadtest.tsv"
for users in 1 2; do
  for fn in mlfaas peer; do
    echo "loadtest /$fn, $users user(s), ${seconds} s ..." >&2
    name=MlfaasFunction; [ "$fn" = peer ] && name=PeerFunction
    drive prewarm "$url" "$name" "$users"  # USERS idle instances before the clock starts
    colds_before=$(grep -c 'Init Duration' "$work/logs/$name.log" || true)
    "$BUILD/mlfaas" loadtest --host "$url" --path "/$fn" --users "$users" --spawn-rate 1000 --wait 0 \
      --run-time "${seconds}s" --threads 1 --sentences "$sentences" --csv "$work/lt-$fn-$users" >/dev/null
    /usr/bin/python3 -c 'import csv,sys; r=[r for r in csv.DictReader(open(sys.argv[1])) if r["Name"]=="Aggregated"][0]
assert int(r["Failure Count"]) == 0, "loadtest failures: %s" % r["Failure Count"]
print(sys.argv[2], sys.argv[3], r["Requests/s"], r["Median Response Time"], sys.argv[4])' \
      "$work/lt-$fn-${users}_stats.csv" "$name" "$users" \
      $(( $(grep -c 'Init Duration' "$work/logs/$name.log" || true) - colds_before )) >>"$work/loadtest.tsv"
  done
done
# Accounting-independent memory: each live instance's process as the kernel sees it (VmHWM = peak RSS, anonymous
# and file-backed pages, shared ones included, whoever was charged for them).
/usr/bin/python3 - >"$work/rss.tsv" <<'PY'
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        status = dict(l.split(":", 1) for l in open("/proc/%s/status" % pid).read().splitlines() if ":" in l)
    except OSError:
        continue
    fn = [e[len(b"AWS_LAMBDA_FUNCTION_NAME="):].decode() for e in env if e.startswith(b"AWS_LAMBDA_FUNCTION_NAME=")]
    if fn and "VmHWM" in status:
        kb = lambda k: int(status.get(k, "0 kB").split()[0])
        print(fn[0], kb("VmHWM"), kb("RssAnon"), kb("RssFile"))
PY
stop_serve
load="load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after, $(cpu_line)"

# How this build's platform counts Max Memory Used, as docs/PLATFORM.md states it (the table row that defines it).
accounting="$(grep '^| Max Memory Used |' "$REPO/docs/PLATFORM.md" | cut -d'|' -f3 | sed 's/^ *//;s/ *$//' | awk '{ print length, $0 }' | sort -rn | head -1 | cut -d' ' -f2-)"
drive report --memory-accounting "docs/PLATFORM.md: ${accounting:-not stated}" "$sentences" "$work/cold.json" "$work/warm.json" "$work/loadtest.tsv" "$work/rss.tsv" \
  "bench/function_peer.sh $seconds" "$load" >"$work/table.md"
{
  echo "## Whole function: mlfaas vs Node.js + ONNX Runtime on \`mlfaas serve\`"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on this host; both functions at 512 MB in one template."
  echo
  cat "$work/table.md"
} >"$OUTDIR/function_peer.md"
# The table (all but the ratio line) goes into docs/BENCHMARKS.md between the markers.
/usr/bin/python3 - "$REPO/docs/BENCHMARKS.md" "$work/table.md" <<'PY'
import sys
doc, table = sys.argv[1], open(sys.argv[2]).read().rstrip("\n").split("\n")
begin, end = "<!-- function_peer:begin (bench/function_peer.sh writes this) -->", "<!-- function_peer:end -->"
text = open(doc).read()
if begin not in text or end not in text: sys.exit("bench: %s has no function_peer markers" % doc)
head, rest = text.split(begin, 1)
body = "\n".join(table[:-1]) + "\n\n`" + table[-1] + "`"
open(doc, "w").write(head + begin + "\n" + body + "\n" + end + rest.split(end, 1)[1])
PY
cat "$OUTDIR/function_peer.md"
