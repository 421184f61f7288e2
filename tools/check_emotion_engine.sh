#!/usr/bin/env bash
# The engine vs torch on every EmoContext test row for the shipped model: torch's probabilities
# (tools/emotion_probs.py, needs `tools/setup.sh train`) against `mlfaas predict` on the same input ids.
#   tools/check_emotion_engine.sh [MODEL_DIR] [DATA_FILE]      (defaults: models/emotion, ../shared EmoContext test)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-$root/models/emotion}
data=${2:-$root/../shared/data/emocontext/test.txt}
[ -f "$data" ] || { echo "check_emotion_engine: $data not found (EmoContext test lives in ../shared/data)" >&2; exit 1; }
"$root/tools/setup.sh" core train >/dev/null
bin=${MLFAAS_BIN:-$root/build/mlfaas}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
echo "torch: reference probabilities for every row of $data ..." >&2
/usr/bin/python3 "$root/tools/emotion_probs.py" --model "$model" "$data" "$T/torch.jsonl"
/usr/bin/python3 -c 'import json,sys; [print(json.dumps({"input_ids": json.loads(l)["input_ids"]})) for l in open(sys.argv[1])]' "$T/torch.jsonl" > "$T/ids.jsonl"
echo "engine: the same input ids through mlfaas predict ..." >&2
"$bin" predict --model "$model" --jsonl < "$T/ids.jsonl" > "$T/engine.jsonl"
/usr/bin/python3 - "$T/torch.jsonl" "$T/engine.jsonl" <<'PY'
import json, sys
torch = [json.loads(l) for l in open(sys.argv[1])]
eng = [json.loads(l) for l in open(sys.argv[2])]
assert len(torch) == len(eng), (len(torch), len(eng))
labels = ["others", "happy", "sad", "angry"]
max_dp, mism = 0.0, 0
for t, e in zip(torch, eng):
    p = [e["probabilities"][l] for l in labels]
    max_dp = max(max_dp, max(abs(a - b) for a, b in zip(p, t["probabilities"])))
    mism += e["label"] != t["predicted_label"]
print(f"{len(torch)} rows: max |dp| engine vs torch = {max_dp:.3g}, label mismatches = {mism}")
sys.exit(0 if max_dp <= 1e-4 and mism == 0 else 1)
PY
