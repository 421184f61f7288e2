#!/usr/bin/env bash
# The Llama engine against llama.cpp (../shared/peers/llama-cpp: node-llama-cpp, its prebuilt CPU binary) on the
# same TinyLlama-1.1B-shaped random GGUF files (q8_0 and q4_0, written by the peer's make_random_gguf.py):
#  - prefill and decode tokens/s, prompt 128, 64 greedy tokens, 1 and 2 threads, interleaved (ours, theirs, ...)
#    because the machine is shared; each figure is the median of --repeat runs after a warm-up, then the median
#    over rounds;
#  - exec -> first token of a 16-token prompt, whole process (llama.cpp's Node process included, as a user pays it);
#  - peak RSS of `mlfaas generate` producing 64 tokens from the q4_0 file.
# Ours runs twice: on the GGUF file as it is (rows of blocks, mapped) and on the .mlf that `mlfaas compile` makes of
# it once (the same blocks, 16 rows interleaved for the decode kernel, mapped; kernels/quant_blocks.h).
# Writes bench/out/llama.md.   bench/llama.sh [ROUNDS]   (default 3)
source "$(dirname "$0")/lib.sh"
rounds="${1:-3}"
require_shared
"$REPO/tools/setup.sh" bench >/dev/null
peer="$BUILD/peer-llama"
if [ ! -d "$peer/node_modules/node-llama-cpp" ]; then
  echo "bench: installing the llama.cpp peer (npm ci, pinned) ..." >&2
  mkdir -p "$peer"; cp -r "$SHARED/peers/llama-cpp/." "$peer/"; chmod -R u+w "$peer"
  (cd "$peer" && npm ci --no-audit --no-fund >/dev/null 2>&1)
fi
cp "$REPO/bench/llama_first_token.mjs" "$peer/"
models="$BUILD/bench-models"; mkdir -p "$models"
for t in q8_0 q4_0; do
  if [ ! -f "$models/tinyllama-$t.gguf" ]; then
    echo "bench: writing the random TinyLlama-1.1B-shaped $t GGUF (~30 s) ..." >&2
    /usr/bin/python3 "$SHARED/peers/llama-cpp/make_random_gguf.py" "$models/tinyllama-$t.gguf" --type "$t" >/dev/null
  fi
done
[ -x "$BUILD/bench/llama_bench" ] || { echo "bench: build first (make build)" >&2; exit 1; }
compile_s=()
for t in q8_0 q4_0; do
  seconds=$(compile_mlf "$models/tinyllama-$t.gguf")
  [ -z "$seconds" ] || compile_s+=("$t $seconds")
done

raw="$(mktemp)"; trap 'rm -f "$raw"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for t in q8_0 q4_0; do
    for th in 1 2; do
      echo "round $r/$rounds $t threads $th ..." >&2
      for form in gguf mlf; do
        ours=$("$BUILD/bench/llama_bench" --model "$models/tinyllama-$t.$form" --threads "$th" --prompt-tokens 128 \
          --gen-tokens 64 --repeat 3)
        printf 'ours-%s %s %s %s\n' "$form" "$t" "$th" "$ours" >>"$raw"
      done
      theirs=$(cd "$peer" && node bench.mjs --model "$models/tinyllama-$t.gguf" --threads "$th" --prompt-tokens 128 \
        --gen-tokens 64 --repeat 3)
      printf 'peer %s %s %s\n' "$t" "$th" "$theirs" >>"$raw"
    done
  done
done

# Exec -> first token (16-token prompt, 1 thread, q4_0), and our peak RSS while generating 64 tokens.
ids16="1$(for i in $(seq 1 15); do printf ',%d' $((259 + (i * 7919) % (1024 - 259))); done)"
q4="$models/tinyllama-q4_0.gguf"
ft_ours=$(/usr/bin/python3 "$REPO/bench/first_token.py" --runs 5 --warmup 1 \
  --stdin "{\"input_ids\":[$ids16],\"max_new_tokens\":1}" -- "$BUILD/mlfaas" generate --model "$q4" --threads 1 --jsonl)
ft_mlf=$(/usr/bin/python3 "$REPO/bench/first_token.py" --runs 5 --warmup 1 \
  --stdin "{\"input_ids\":[$ids16],\"max_new_tokens\":1}" -- "$BUILD/mlfaas" generate --model "${q4%.gguf}.mlf" --threads 1 --jsonl)
ft_peer=$(cd "$peer" && /usr/bin/python3 "$REPO/bench/first_token.py" --runs 5 --warmup 1 -- \
  node llama_first_token.mjs --model "$q4" --threads 1 --prompt-tokens 16)
rss_ours=$(/usr/bin/python3 "$REPO/bench/first_token.py" --runs 1 --warmup 0 \
  --stdin "{\"input_ids\":[$ids16],\"max_new_tokens\":64,\"ignore_eos\":true}" -- \
  "$BUILD/mlfaas" generate --model "$q4" --threads 1 --jsonl)
rss_mlf=$(/usr/bin/python3 "$REPO/bench/first_token.py" --runs 1 --warmup 0 \
  --stdin "{\"input_ids\":[$ids16],\"max_new_tokens\":64,\"ignore_eos\":true}" -- \
  "$BUILD/mlfaas" generate --model "${q4%.gguf}.mlf" --threads 1 --jsonl)

/usr/bin/python3 - "$raw" "$(cpu_line)" "$rounds" "$ft_ours" "$ft_mlf" "$ft_peer" "$rss_ours" "$rss_mlf" "${compile_s[*]:-}" \
  >"$OUTDIR/llama.md" <<'PY'
import json, statistics, sys
raw, host, rounds, ft_ours, ft_mlf, ft_peer, rss_ours, rss_mlf, compile_s = sys.argv[1:]
rows = {}
for line in open(raw):
    eng, t, th, js = line.split(" ", 3)
    j = json.loads(js)
    rows.setdefault((eng, t, int(th)), []).append((j["prefill_tok_s"], j["decode_tok_s"], j.get("peak_rss_mib", j.get("rss_mib"))))
med = statistics.median
def figures(key):
    v = rows[key]
    return [med([r[i] for r in v]) for i in range(3)]
print("## Llama: mlfaas vs llama.cpp (TinyLlama-1.1B-shaped random GGUF, prompt 128, 64 greedy tokens)\n")
print("Host: %s. Interleaved rounds: %s; each figure is the median over rounds of the median of 3 runs after a warm-up. "
      "mlfaas runs the GGUF file as it is (*GGUF*) and the .mlf `mlfaas compile` made of it (*.mlf*: the same blocks, "
      "16 rows interleaved); llama.cpp runs the GGUF file (it repacks the weights at load).\n" % (host, rounds))
print("| file | threads | prefill tok/s mlfaas GGUF | .mlf | llama.cpp | ratio GGUF | ratio .mlf | decode tok/s mlfaas GGUF | .mlf | llama.cpp | ratio GGUF | ratio .mlf | RSS MiB GGUF | .mlf | llama.cpp |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for t in ("q8_0", "q4_0"):
    for th in (1, 2):
        gp, gd, grss = figures(("ours-gguf", t, th))
        mp, md, mrss = figures(("ours-mlf", t, th))
        pp, pd, prss = figures(("peer", t, th))
        print("| %s | %d | %.1f | %.1f | %.1f | %.2f× | **%.2f×** | %.2f | %.2f | %.2f | %.2f× | **%.2f×** | %.0f | %.0f | %.0f |" %
              (t, th, gp, mp, pp, gp / pp, mp / pp, gd, md, pd, gd / pd, md / pd, grss, mrss, prss))
fo, fm, fp, ro, rm = (json.loads(v) for v in (ft_ours, ft_mlf, ft_peer, rss_ours, rss_mlf))
print("\nExec -> first token, 16-token prompt, q4_0, 1 thread (median of 5 after a warm-up, page cache warm): "
      "mlfaas `generate` %.1f ms from the GGUF (**%.3f×**) and %.1f ms from the .mlf (**%.3f×**), "
      "llama.cpp (node-llama-cpp process) %.1f ms." %
      (fo["first_token_ms_median"], fo["first_token_ms_median"] / fp["first_token_ms_median"],
       fm["first_token_ms_median"], fm["first_token_ms_median"] / fp["first_token_ms_median"], fp["first_token_ms_median"]))
print("\nPeak RSS of `mlfaas generate` writing 64 tokens from the q4_0 file: **%.0f MiB** from the GGUF, **%.0f MiB** "
      "from the .mlf (llama.cpp's first-token process: %.0f MiB)." % (ro["peak_rss_mib"], rm["peak_rss_mib"], fp["peak_rss_mib"]))
if compile_s.strip():
    parts = compile_s.split()
    print("\n`mlfaas compile` GGUF -> .mlf, once per file: " +
          ", ".join("%s %.1f s" % (parts[i], float(parts[i + 1])) for i in range(0, len(parts), 2)) + ".")
PY
