#!/usr/bin/env bash
# Every benchmark of bench/, one after the other (`make bench` runs this after `make build` and
# `tools/setup.sh core bench`). Prints first what each one compares, which peers it installs (under build/, from
# ../shared/peers, pinned) and about how long it takes on the project's 2-vCPU VM; then runs them, goes on when
# one fails or lacks an optional tool, and ends with one line per benchmark (ok / FAILED / skipped and why). Exit status 1
# if any failed or ../shared is absent. Tables land in bench/out/*.md; function_peer.sh also updates docs/BENCHMARKS.md.
#   bench/run_all.sh [--list] [NAME...]   (default: all; NAME = a script's name without .sh; --list: the plan only)
# Needs ../shared (peers, fixtures, data) next to the repository, or MLFAAS_SHARED=DIR.
source "$(dirname "$0")/lib.sh"

# name | what it compares | peers / extra needs | about how long
BENCHES=(
  "engine_fp32|engine fp32 vs ONNX Runtime fp32, 24-layer MobileBERT, 1 and 2 threads|ort (onnxruntime-node 1.30.0, npm ci)|4 min"
  "int8|engine int8 vs ONNX Runtime int8 (+ accuracy of the shipped model)|ort|6 min"
  "cold_start|process exec -> answer, mlfaas predict vs node + ORT session|ort, hyperfine|4 min"
  "tokenizer|WordPiece vs Hugging Face tokenizers (Rust, Node binding)|hf-tokenizers (tokenizers 0.23.2, npm install)|3 min"
  "function_peer|whole 512 MB function on mlfaas serve: ours vs Node.js + onnxruntime-node + tokenizers|ort, hf-tokenizers|3 min"
  "llama|Llama engine vs llama.cpp (node-llama-cpp), TinyLlama-shaped random GGUF|llama-cpp (npm ci)|15 min"
  "classic|C++ classic ML vs scikit-learn|python3-sklearn, models/classic (tools/setup.sh train; tools/train_classic.py)|2 min"
  "loadtest_capacity|mlfaas loadtest vs wrk on a trivial endpoint|wrk (Debian)|1 min"
  "loadtest_locust_crosscheck|mlfaas loadtest vs real Locust, same scenario|python3-locust (tools/setup.sh loadtest)|3 min"
)

list_only=0
[ "${1:-}" = --list ] && { list_only=1; shift; }
want=("$@")
selected=()
for entry in "${BENCHES[@]}"; do
  name="${entry%%|*}"
  if [ ${#want[@]} -eq 0 ] || printf '%s\n' "${want[@]}" | grep -qx "$name"; then selected+=("$entry"); fi
done
[ ${#selected[@]} -gt 0 ] || { echo "bench: no benchmark named ${want[*]} (see bench/*.sh)" >&2; exit 2; }

echo "bench: ${#selected[@]} benchmark(s); shared folder: $SHARED"
printf '  %-28s %-9s %s\n' "benchmark" "time" "compares / installs"
for entry in "${selected[@]}"; do
  IFS='|' read -r name what peers minutes <<<"$entry"
  printf '  %-28s %-9s %s\n' "$name" "~$minutes" "$what"
  printf '  %-28s %-9s peers: %s\n' "" "" "$peers"
done
echo "  (times on a quiet 2-vCPU VM; a loaded machine takes longer)"
[ "$list_only" = 1 ] && exit 0
if [ ! -d "$SHARED/peers" ] || [ ! -d "$SHARED/fixtures" ]; then
  echo "bench: the shared folder is not at $SHARED: every benchmark but loadtest_capacity compares against" >&2
  echo "bench: its peers, fixtures and data. Put it next to the repository or set MLFAAS_SHARED=DIR." >&2
  [ ${#selected[@]} -eq 1 ] && [ "${selected[0]%%|*}" = loadtest_capacity ] || exit 1
fi

# Why a benchmark cannot run here, or nothing.
missing_for() {
  case "$1" in
    loadtest_capacity) command -v wrk >/dev/null || echo "wrk is missing (tools/setup.sh bench)" ;;
    loadtest_locust_crosscheck) command -v locust >/dev/null || echo "locust is missing (tools/setup.sh loadtest)" ;;
    classic)
      [ -d "$SHARED/data/emotion-nlp" ] || { echo "no $SHARED/data/emotion-nlp"; return; }
      /usr/bin/python3 -c 'import sklearn' 2>/dev/null || { echo "python3-sklearn is missing (tools/setup.sh train)"; return; }
      [ -d "$REPO/models/classic" ] || echo "no models/classic (run /usr/bin/python3 tools/train_classic.py)" ;;
    *) [ -d "$SHARED/peers" ] && [ -d "$SHARED/fixtures" ] || echo "needs ../shared (peers, fixtures, data)" ;;
  esac
}

declare -a summary
failed=0
for entry in "${selected[@]}"; do
  IFS='|' read -r name _ _ _ <<<"$entry"
  why="$(missing_for "$name")"
  if [ -n "$why" ]; then
    summary+=("$(printf '%-28s skipped: %s' "$name" "$why")")
    continue
  fi
  echo
  echo "=== bench/$name.sh ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1 /proc/loadavg))"
  start=$SECONDS
  rc=0
  "$REPO/bench/$name.sh" || rc=$?
  if [ "$rc" = 0 ]; then
    summary+=("$(printf '%-28s ok (%d s)' "$name" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-28s FAILED (exit %d after %d s)' "$name" "$rc" $((SECONDS - start)))")
    failed=1
  fi
done
echo
echo "bench: summary (tables in bench/out/)"
printf '  %s\n' "${summary[@]}"
exit $failed
