#!/usr/bin/env bash
# Cold start of `mlfaas predict` on the 24-layer MobileBERT, fp32 and int8: exec -> printed answer (hyperfine, 20
# runs after 2 warm-ups, so the files are in the page cache), peak RSS (/usr/bin/time -v), model sizes in memory.
# Appends a markdown table to bench/out/int8.md. Loading is from the model directory (safetensors) with packing and
# quantization at load: the compiled .mlf format is not implemented yet.
source "$(dirname "$0")/lib.sh"
setup_ort_peer
setup_mobilebert_24l
model="$BUILD/bench-models/mobilebert-24L"
text="I am so happy today, everything went well!"
command -v hyperfine >/dev/null || { echo "bench: hyperfine is needed (tools/setup.sh bench)" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
{
  echo
  echo "## Cold start: \`mlfaas predict --model DIR --precision P \"TEXT\"\`, 24-layer MobileBERT, 1 thread"
  echo
  echo "| precision | median exec→answer ms | min ms | user+sys CPU ms (mean) | peak RSS MiB |"
  echo "|---|---|---|---|---|"
  for p in fp32 int8; do
    hyperfine -N --warmup 2 --runs 20 --export-json "$tmp/$p.json" \
      "$BUILD/mlfaas predict --model $model --precision $p '$text'" >/dev/null 2>&1
    /usr/bin/time -v "$BUILD/mlfaas" predict --model "$model" --precision "$p" "$text" >/dev/null 2>"$tmp/$p.time"
    rss=$(awk -F: '/Maximum resident set size/ {print $2/1024}' "$tmp/$p.time")
    /usr/bin/python3 - "$tmp/$p.json" "$p" "$rss" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("| %s | %.1f | %.1f | %.1f | %.1f |" % (sys.argv[2], 1000 * statistics.median(r["times"]), 1000 * min(r["times"]),
      1000 * (r["user"] + r["system"]), float(sys.argv[3])))
PY
  done
} >>"$OUTDIR/int8.md"
tail -8 "$OUTDIR/int8.md"
