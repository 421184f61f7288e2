#!/usr/bin/env bash
# The models and data of the LLM experiment (experiments/llm.yaml) and of bench/llm_function.sh, written once
# under build/bench-models/:
#  - tinyllama-q4_0.gguf: TinyLlama-1.1B-Chat's shape, random q4_0 weights (../shared/peers/llama-cpp's
#    make_random_gguf.py, ~30 s; the study's model is TinyLlama-1.1B-Chat, whose weights are not here);
#  - tinyllama-q4_0.mlf: that GGUF compiled by `mlfaas compile` (the same blocks, the linears 16 rows interleaved:
#    the layout decode streams fastest; ~2 s, redone when mlfaas or the GGUF is newer);
#  - bert-base-mlm/: bert-base-uncased's shape as a BertForMaskedLM, random weights (bench/make_bert_mlm.py);
#  - arc-fill-mask.jsonl: the ARC-Challenge test questions as fill-mask texts ("<question> Answer: [MASK].").
#   bench/llm_models.sh
source "$(dirname "$0")/lib.sh"
require_shared
arc="$SHARED/data/arc/ARC-Challenge-Test.jsonl"
[ -f "$arc" ] || { echo "bench: the ARC questions are not at $arc" >&2; exit 1; }
models="$BUILD/bench-models"; mkdir -p "$models"
if [ ! -f "$models/tinyllama-q4_0.gguf" ]; then
  echo "bench: writing the random TinyLlama-1.1B-shaped q4_0 GGUF (~30 s) ..." >&2
  /usr/bin/python3 "$SHARED/peers/llama-cpp/make_random_gguf.py" "$models/tinyllama-q4_0.gguf.tmp" --type q4_0 >/dev/null
  mv "$models/tinyllama-q4_0.gguf.tmp" "$models/tinyllama-q4_0.gguf"
fi
compile_mlf "$models/tinyllama-q4_0.gguf" >/dev/null
if [ ! -f "$models/bert-base-mlm/model.safetensors" ]; then
  echo "bench: writing the random bert-base-uncased-shaped masked LM (~20 s) ..." >&2
  /usr/bin/python3 "$REPO/bench/make_bert_mlm.py" "$REPO/tests/data/vocab/bert-base-uncased.txt" "$models/bert-base-mlm"
fi
if [ ! -f "$models/arc-fill-mask.jsonl" ]; then
  /usr/bin/python3 - "$arc" "$models/arc-fill-mask.jsonl" <<'PY'
import json, sys
with open(sys.argv[1]) as src, open(sys.argv[2] + ".tmp", "w") as out:
    for line in src:
        if line.strip():
            out.write(json.dumps({"text": json.loads(line)["question"]["stem"] + " Answer: [MASK]."}) + "\n")
import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
fi
echo "$models"
