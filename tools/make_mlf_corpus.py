#!/usr/bin/env python3
"""Seeds for the .mlf fuzz target (tests/fuzz/corpus/mlf/): micro BERT and MobileBERT classifiers (random weights,
a 40-token vocabulary, a few KB each; one MobileBERT saved in fp16, whose word embeddings stay 16-bit) compiled by `mlfaas compile` at fp32 and int8, plus damaged variants.

    /usr/bin/python3 tools/make_mlf_corpus.py build/mlfaas tests/fuzz/corpus/mlf
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
from emotion.mobilebert import Config, MobileBertForSequenceClassification, save_model  # noqa: E402
from emotion.safetensors_io import write_safetensors  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##s", "##ing", "a", "b", "c", "the", "i", "am", "so", "happy",
         "sad", "angry", "you", "me", "no", "yes", "!", ",", ".", "?", "'", "ok", "to", "day", "##day", "go", "not",
         "is", "it", "he", "she", "we", "was", "un", "##able"]
LABELS = {"0": "others", "1": "happy", "2": "sad", "3": "angry"}


def micro_bert(folder, rng):
    H, I, L, P = 8, 16, 1, 12
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": len(VOCAB),
              "hidden_size": H, "num_hidden_layers": L, "num_attention_heads": 2, "intermediate_size": I,
              "hidden_act": "gelu", "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
              "id2label": LABELS, "label2id": {v: int(k) for k, v in LABELS.items()}}
    t = {"bert.embeddings.word_embeddings.weight": (len(VOCAB), H), "bert.embeddings.position_embeddings.weight": (P, H),
         "bert.embeddings.token_type_embeddings.weight": (2, H), "bert.embeddings.LayerNorm.weight": (H,),
         "bert.embeddings.LayerNorm.bias": (H,), "bert.pooler.dense.weight": (H, H), "bert.pooler.dense.bias": (H,),
         "classifier.weight": (4, H), "classifier.bias": (4,)}
    for layer in range(L):
        p = "bert.encoder.layer.%d." % layer
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + name + ".weight"], t[p + name + ".bias"] = (H, H), (H,)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = (I, H), (I,)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = (H, I), (H,)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + name + ".weight"], t[p + name + ".bias"] = (H,), (H,)
    os.makedirs(folder)
    write_safetensors(os.path.join(folder, "model.safetensors"),
                      {k: rng.standard_normal(s).astype(np.float32) * 0.3 for k, s in t.items()})
    json.dump(config, open(os.path.join(folder, "config.json"), "w"))


def micro_mobilebert(folder, norm, dtype=np.float32):
    torch.manual_seed(3)
    config = Config(vocab_size=len(VOCAB), hidden_size=8, embedding_size=4, intra_bottleneck_size=4,
                    true_hidden_size=4, intermediate_size=8, num_attention_heads=2, num_feedforward_networks=2,
                    num_hidden_layers=1, max_position_embeddings=12, normalization_type=norm,
                    classifier_activation=False, id2label=LABELS)
    model = MobileBertForSequenceClassification(config)
    save_model(model, folder, dtype=dtype)


def main():
    mlfaas, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        models = {"bert": os.path.join(tmp, "bert"), "mobilebert": os.path.join(tmp, "mobilebert"),
                  "mobilebert_layernorm": os.path.join(tmp, "mobilebert_ln"),
                  "mobilebert_f16": os.path.join(tmp, "mobilebert_f16")}
        micro_bert(models["bert"], rng)
        micro_mobilebert(models["mobilebert"], "no_norm")
        micro_mobilebert(models["mobilebert_layernorm"], "layer_norm")
        micro_mobilebert(models["mobilebert_f16"], "no_norm", np.float16)  # 16-bit word embeddings in the file
        for name, folder in models.items():
            with open(os.path.join(folder, "vocab.txt"), "w") as f:
                f.write("\n".join(VOCAB) + "\n")
            for precision in ("fp32", "int8"):
                target = os.path.join(out, "%s_%s.mlf" % (name, precision))
                subprocess.run([mlfaas, "compile", "--model", folder, "--precision", precision, "--isa", "portable",
                                "--out", target, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    good = open(os.path.join(out, "bert_int8.mlf"), "rb").read()
    variants = {
        "cut_half.mlf": good[: len(good) // 2],
        "cut_header.mlf": good[:100],
        "version_0.mlf": good[:8] + struct.pack("<I", 0) + good[12:],
        "bad_checksum.mlf": good[:128] + bytes([good[128] ^ 1]) + good[129:],
        "trailing.mlf": good + b"\0" * 64,
    }
    for name, data in variants.items():
        open(os.path.join(out, name), "wb").write(data)
    for name in sorted(os.listdir(out)):
        print("%-28s %7d bytes" % (name, os.path.getsize(os.path.join(out, name))))


if __name__ == "__main__":
    main()
