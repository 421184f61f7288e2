# Shared helpers for bench/*.sh. Benchmarks read ../shared/ (fixtures, peers, data): they are not part of
# `make check` and stop with a clear message when it is absent.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${MLFAAS_SHARED:-$REPO/../shared}"
BUILD="${BUILD_DIR:-$REPO/build}"
OUTDIR="$REPO/bench/out"
mkdir -p "$OUTDIR"

require_shared() {
  if [ ! -d "$SHARED/peers" ] || [ ! -d "$SHARED/fixtures" ]; then
    echo "bench: the shared folder with peers and fixtures is not at $SHARED;" >&2
    echo "bench: benchmarks compare against peers that live there (set MLFAAS_SHARED=DIR to point at it)." >&2
    exit 1
  fi
}

# ONNX Runtime (npm onnxruntime-node, pinned by the peer's lockfile), installed once under build/peer-ort.
setup_ort_peer() {
  require_shared
  "$REPO/tools/setup.sh" bench >/dev/null
  if [ ! -d "$BUILD/peer-ort/node_modules/onnxruntime-node" ]; then
    mkdir -p "$BUILD/peer-ort"
    cp -r "$SHARED/peers/ort/." "$BUILD/peer-ort/"
    chmod -R u+w "$BUILD/peer-ort"
    (cd "$BUILD/peer-ort" && npm ci --no-audit --no-fund >/dev/null)
  fi
}

# Hugging Face tokenizers (npm `tokenizers`, the version the peer's package.json pins), installed once under
# build/peer-tok (the peer has no lockfile, hence npm install).
setup_tokenizers_peer() {
  require_shared
  if [ ! -d "$BUILD/peer-tok/node_modules/tokenizers" ]; then
    mkdir -p "$BUILD/peer-tok"
    cp -r "$SHARED/peers/hf-tokenizers/." "$BUILD/peer-tok/"
    chmod -R u+w "$BUILD/peer-tok"
    (cd "$BUILD/peer-tok" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# The 24-layer random-weight MobileBERT of emo-mobilebert's shape, and its ONNX graphs.
setup_mobilebert_24l() {
  local dir="$BUILD/bench-models"
  mkdir -p "$dir"
  if [ ! -f "$dir/mobilebert-24L/model.safetensors" ]; then
    /usr/bin/python3 "$BUILD/peer-ort/make_random_model.py" "$SHARED/fixtures/configs/mobilebert-24L.json" \
      "$dir/mobilebert-24L" --seed 0 --vocab "$SHARED/fixtures/vocab/bert-base-uncased.txt" >/dev/null
  fi
  if [ ! -f "$dir/mobilebert-24L.onnx" ]; then
    /usr/bin/python3 "$BUILD/peer-ort/build_onnx.py" "$dir/mobilebert-24L" "$dir/mobilebert-24L.onnx" >/dev/null
  fi
  if [ ! -f "$dir/mobilebert-24L.int8.onnx" ]; then
    /usr/bin/python3 "$BUILD/peer-ort/build_onnx.py" "$dir/mobilebert-24L" "$dir/mobilebert-24L.int8.onnx" --int8 >/dev/null
  fi
}

cpu_line() {
  local model flags
  model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  flags="$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_vnni|avx_vnni|amx_int8|avx512_bf16)$' | tr '\n' ' ')"
  echo "$(nproc) CPUs, $model; ISA: $flags"
}

# compile_mlf GGUF: writes the .mlf beside GGUF with `mlfaas compile` (q8_0 / q4_0 linears 16 rows interleaved, the
# layout decode streams fastest) when it is missing or older than GGUF or mlfaas; prints the seconds it took, or
# nothing when the file was current.
compile_mlf() {
  local gguf="$1" mlf="${1%.gguf}.mlf" start
  [ -x "$BUILD/mlfaas" ] || { echo "bench: build first (make build)" >&2; exit 1; }
  if [ ! -f "$mlf" ] || [ "$mlf" -ot "$gguf" ] || [ "$mlf" -ot "$BUILD/mlfaas" ]; then
    echo "bench: compiling $(basename "$gguf") to .mlf ..." >&2
    start=$(date +%s.%N)
    "$BUILD/mlfaas" compile --model "$gguf" --out "$mlf" --quiet >/dev/null
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }'
  fi
}
