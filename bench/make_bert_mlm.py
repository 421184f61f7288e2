#!/usr/bin/env python3
"""Write a random-weight BertForMaskedLM of bert-base-uncased's shape (12 layers, hidden 768, 12 heads, ffn
3072, 512 positions, vocabulary 30522), as Hugging Face's save_pretrained lays it out: config.json,
model.safetensors (F32, the tied decoder weight and bias omitted as HF omits them), vocab.txt and a
tokenizer_config.json. The study's fill-mask function ran bert-base-uncased; its weights are not here, and the
speed and memory of a forward pass do not depend on their values.

Usage: make_bert_mlm.py VOCAB_TXT OUT_DIR [--seed N]      (needs only numpy: run it with /usr/bin/python3)
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

CONFIG = {
    "architectures": ["BertForMaskedLM"], "model_type": "bert", "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
    "position_embedding_type": "absolute", "torch_dtype": "float32", "type_vocab_size": 2, "vocab_size": 30522,
}


def shapes(c):
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    out = [("bert.embeddings.word_embeddings.weight", (v, h)),
           ("bert.embeddings.position_embeddings.weight", (c["max_position_embeddings"], h)),
           ("bert.embeddings.token_type_embeddings.weight", (c["type_vocab_size"], h)),
           ("bert.embeddings.LayerNorm.weight", (h,)), ("bert.embeddings.LayerNorm.bias", (h,))]
    for n in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{n}."
        for name in ("query", "key", "value"):
            out += [(p + f"attention.self.{name}.weight", (h, h)), (p + f"attention.self.{name}.bias", (h,))]
        out += [(p + "attention.output.dense.weight", (h, h)), (p + "attention.output.dense.bias", (h,)),
                (p + "attention.output.LayerNorm.weight", (h,)), (p + "attention.output.LayerNorm.bias", (h,)),
                (p + "intermediate.dense.weight", (i, h)), (p + "intermediate.dense.bias", (i,)),
                (p + "output.dense.weight", (h, i)), (p + "output.dense.bias", (h,)),
                (p + "output.LayerNorm.weight", (h,)), (p + "output.LayerNorm.bias", (h,))]
    out += [("cls.predictions.bias", (v,)), ("cls.predictions.transform.dense.weight", (h, h)),
            ("cls.predictions.transform.dense.bias", (h,)), ("cls.predictions.transform.LayerNorm.weight", (h,)),
            ("cls.predictions.transform.LayerNorm.bias", (h,))]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    tensors = []
    for name, shape in sorted(shapes(CONFIG)):
        if name.endswith("LayerNorm.weight"):
            t = 1 + rng.normal(0, 0.02, shape)
        elif name.endswith("bias") or "LayerNorm" in name:
            t = rng.normal(0, 0.02, shape)
        else:
            t = rng.normal(0, CONFIG["initializer_range"], shape)
        tensors.append((name, shape, np.ascontiguousarray(t, dtype="<f4")))
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, t in tensors:
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, "model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, t in tensors:
            f.write(t.tobytes())
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}, f, indent=2)
    shutil.copyfile(a.vocab, os.path.join(a.out, "vocab.txt"))
    os.replace(tmp, os.path.join(a.out, "model.safetensors"))  # last: its presence means the folder is whole


if __name__ == "__main__":
    main()
