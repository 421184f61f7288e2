#!/usr/bin/env bash
# Every malformed model input through the real CLI: exactly one line on stderr, naming the file and the problem,
# and exit status 2 (the exact messages are asserted by tests/unit/loader_errors_test.cc).
set -euo pipefail
source "$(dirname "$0")/model_errors_lib.bash"
: "${MLFAAS_BIN:?}" "${MLFAAS_TEST_DATA:?}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
src="$MLFAAS_TEST_DATA/models/bert-tiny-cls"
/usr/bin/python3 - "$src" "$T" <<'PY'
import json, os, shutil, struct, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
def variant(name, files=("config.json", "vocab.txt", "model.safetensors")):
    d = os.path.join(out, name); os.makedirs(d)
    for f in files: shutil.copy(os.path.join(src, f), d)
    return d
blob = open(os.path.join(src, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
def write_st(d, hdr, data):
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    open(os.path.join(d, "model.safetensors"), "wb").write(struct.pack("<Q", len(h)) + h + data)
data = blob[8 + n:]
variant("missing_file", files=("config.json", "vocab.txt"))
d = variant("truncated"); open(os.path.join(d, "model.safetensors"), "wb").write(blob[: len(blob) // 2])
d = variant("bad_json"); open(os.path.join(d, "config.json"), "w").write('{"architectures": ["BertForSequenceClassification"], "hidden_size": 64,')
d = variant("unknown_arch"); c = json.load(open(os.path.join(src, "config.json"))); c["architectures"] = ["GPT2LMHeadModel"]; c["model_type"] = "gpt2"
json.dump(c, open(os.path.join(d, "config.json"), "w"))
name = "bert.embeddings.word_embeddings.weight"
d = variant("wrong_dtype"); h = dict(header); e = dict(h[name]); e["dtype"] = "I32"; h[name] = e; write_st(d, h, data)
d = variant("wrong_shape"); h = dict(header); e = dict(h[name]); e["shape"] = [e["shape"][1], e["shape"][0]]; h[name] = e; write_st(d, h, data)
d = variant("missing_tensor"); h = dict(header); del h[name]; write_st(d, h, data)
d = variant("outside_file"); h = dict(header); e = dict(h[name]); b, en = e["data_offsets"]; e["data_offsets"] = [len(data) + 8, len(data) + 8 + en - b]; h[name] = e; write_st(d, h, data)
d = variant("bad_global", files=("config.json", "vocab.txt"))
with zipfile.ZipFile(os.path.join(d, "pytorch_model.bin"), "w") as z:
    z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\nq\x00X\x05\x00\x00\x00echo!q\x01\x85q\x02Rq\x03.")
    z.writestr("archive/version", "3\n")
    z.writestr("archive/byteorder", "little")
PY
declare -A want=(
  [missing_file]="no model.safetensors or pytorch_model.bin"
  [truncated]="model.safetensors"
  [bad_json]="config.json: bad JSON"
  [unknown_arch]="unknown architecture 'GPT2LMHeadModel'"
  [wrong_dtype]="dtype"
  [wrong_shape]="shape"
  [missing_tensor]="missing tensor 'bert.embeddings.word_embeddings.weight'"
  [outside_file]="outside the file"
  [bad_global]="pickle asks for global 'os.system'"
)
expect_model_errors "$T" "${!want[@]}"
echo "loader errors through the CLI: ${#want[@]} cases passed"
