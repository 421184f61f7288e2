#!/usr/bin/env python3
"""Splits a model.safetensors into N shards named as transformers' save_pretrained names them
(model-00001-of-0000N.safetensors) plus model.safetensors.index.json, for tests of sharded checkpoints.
Standard library only.   shard_safetensors.py IN.safetensors OUT_DIR [N]"""
import json, os, struct, sys

src, out_dir = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 2
with open(src, "rb") as f:
    blob = f.read()
(hlen,) = struct.unpack("<Q", blob[:8])
header = json.loads(blob[8:8 + hlen])
meta = header.pop("__metadata__", None)
data = blob[8 + hlen:]
names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
os.makedirs(out_dir, exist_ok=True)
weight_map, total = {}, 0
for s in range(n):
    part = names[s * len(names) // n:(s + 1) * len(names) // n]
    fname = "model-%05d-of-%05d.safetensors" % (s + 1, n)
    h, chunks, off = {}, [], 0
    for k in part:
        b, e = header[k]["data_offsets"]
        h[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [off, off + e - b]}
        chunks.append(data[b:e]); off += e - b
        weight_map[k] = fname
        total += e - b
    if meta is not None:
        h["__metadata__"] = meta
    hb = json.dumps(h, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(out_dir, fname), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(chunks))
with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
