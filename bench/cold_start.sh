#!/usr/bin/env bash
# Cold start on the 24-layer MobileBERT, one thread: from exec of a process to its printed answer for one sentence.
#   mlfaas: `mlfaas predict --model FILE.mlf TEXT` (compiled int8 and fp32), and from the model directory (packing and
#           quantizing at load) for comparison;
#   ONNX Runtime: `node ort_cold.mjs` (Node + InferenceSession.create + one run) on the int8 and fp32 graphs, with
#           the session creation alone as ORT measures it.
# hyperfine -N (no shell), 20 runs after 2 warm-ups, so the files are in the page cache (a warm Lambda host; a
# dropped page cache is measured once more when /proc/sys/vm/drop_caches is writable). Peak RSS: /usr/bin/time -v.
# Writes bench/out/cold_start.md.
#   bench/cold_start.sh [RUNS]   (default 20)
source "$(dirname "$0")/lib.sh"
runs="${1:-20}"
setup_ort_peer
setup_mobilebert_24l
command -v hyperfine >/dev/null || { echo "bench: hyperfine is needed (tools/setup.sh bench)" >&2; exit 1; }
models="$BUILD/bench-models"
dir="$models/mobilebert-24L"
text="I am so happy today, everything went well!"
for p in int8 fp32; do
  "$BUILD/mlfaas" compile --model "$dir" --precision "$p" --out "$models/mobilebert-24L.$p.mlf" --quiet >/dev/null
done
cp "$REPO/bench/ort_cold.mjs" "$BUILD/peer-ort/ort_cold.mjs"
ids=$("$BUILD/mlfaas" tokenize --vocab "$dir/vocab.txt" "$text" | /usr/bin/python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.stdin.readline())["input_ids"])))')
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

declare -a names cmds
add() { names+=("$1"); cmds+=("$2"); }
add "mlfaas int8 .mlf" "$BUILD/mlfaas predict --model $models/mobilebert-24L.int8.mlf '$text'"
add "mlfaas fp32 .mlf" "$BUILD/mlfaas predict --model $models/mobilebert-24L.fp32.mlf '$text'"
add "mlfaas int8 from directory" "$BUILD/mlfaas predict --model $dir --precision int8 '$text'"
add "mlfaas fp32 from directory" "$BUILD/mlfaas predict --model $dir --precision fp32 '$text'"
add "ONNX Runtime int8" "node $BUILD/peer-ort/ort_cold.mjs --model $models/mobilebert-24L.int8.onnx --ids $ids"
add "ONNX Runtime fp32" "node $BUILD/peer-ort/ort_cold.mjs --model $models/mobilebert-24L.onnx --ids $ids"
add "mlfaas --version (process floor)" "$BUILD/mlfaas --version"

can_drop=0
[ -w /proc/sys/vm/drop_caches ] && can_drop=1
for i in "${!names[@]}"; do
  echo "${names[$i]} ..." >&2
  r=$runs; case "${names[$i]}" in ONNX*) r=$(( runs < 10 ? runs : 10 ));; esac  # ~1.5 s each
  hyperfine -N --warmup 2 --runs "$r" --export-json "$tmp/$i.json" "${cmds[$i]}" >/dev/null 2>&1
  eval "/usr/bin/time -v ${cmds[$i]}" >"$tmp/$i.out" 2>"$tmp/$i.time"
  if [ "$can_drop" = 1 ]; then
    sync; echo 3 >/proc/sys/vm/drop_caches
    /usr/bin/python3 -c 'import subprocess,sys,time; t=time.perf_counter(); subprocess.run(sys.argv[1], shell=True, stdout=subprocess.DEVNULL, check=True); print("%.1f" % (1000*(time.perf_counter()-t)))' "${cmds[$i]}" >"$tmp/$i.dropped"
  fi
done
for p in int8 fp32; do
  onnx="$models/mobilebert-24L.onnx"; [ "$p" = int8 ] && onnx="$models/mobilebert-24L.int8.onnx"
  for _ in 1 2 3 4 5; do node "$BUILD/peer-ort/ort_cold.mjs" --model "$onnx" --ids "$ids"; done >"$tmp/ort_session.$p"
done

/usr/bin/python3 - "$tmp" "$(cpu_line)" "$runs" "$can_drop" "$models" "${names[@]}" >"$OUTDIR/cold_start.md" <<'PY'
import json, os, re, statistics, sys
tmp, cpu, runs, can_drop, models, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5], sys.argv[6:]
print("## Cold start, 24-layer MobileBERT, one sentence, 1 thread\n")
print("Host: %s. hyperfine -N, %s runs (ONNX Runtime: 10) after 2 warm-ups (files in the page cache).\n" % (cpu, runs))
head = "| process | median exec→answer ms | min ms | user+sys CPU ms (mean) | peak RSS MiB |"
if can_drop: head += " page cache dropped ms |"
print(head)
print("|---|---|---|---|---|" + ("---|" if can_drop else ""))
for i, name in enumerate(names):
    r = json.load(open(os.path.join(tmp, "%d.json" % i)))["results"][0]
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(os.path.join(tmp, "%d.time" % i)).read())
    row = "| %s | %.1f | %.1f | %.1f | %.1f |" % (name, 1000 * statistics.median(r["times"]), 1000 * min(r["times"]),
                                                 1000 * (r["user"] + r["system"]), int(rss.group(1)) / 1024)
    if can_drop: row += " %s |" % open(os.path.join(tmp, "%d.dropped" % i)).read().strip()
    print(row)
print()
for p in ("int8", "fp32"):
    runs_ = [json.loads(l) for l in open(os.path.join(tmp, "ort_session." + p))]
    print("ONNX Runtime %s: InferenceSession.create median %.0f ms, first run %.1f ms (5 processes)." % (
        p, statistics.median(x["session_create_ms"] for x in runs_), statistics.median(x["first_run_ms"] for x in runs_)))
print()
sizes = [("mobilebert-24L.int8.mlf", "mlfaas int8 .mlf"), ("mobilebert-24L.fp32.mlf", "mlfaas fp32 .mlf"),
         ("mobilebert-24L/model.safetensors", "safetensors fp32 (source)"),
         ("mobilebert-24L.int8.onnx", "ONNX int8"), ("mobilebert-24L.onnx", "ONNX fp32")]
print("| file | MiB |")
print("|---|---|")
for f, label in sizes:
    print("| %s | %.2f |" % (label, os.path.getsize(os.path.join(models, f)) / 1048576))
PY
cat "$OUTDIR/cold_start.md"
