#!/usr/bin/python3
"""Checks the training code's torch MobileBERT and BERT tokenizer against the Hugging Face fixtures.

Run before training: the shipped model is only as trustworthy as this match.
  /usr/bin/python3 tools/check_torch_reference.py [--data tests/data]
Exits 1 when any fixture logit differs by more than 1e-4 or any tokenizer row differs.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emotion.bert_tokenizer import BertTokenizer  # noqa: E402
from emotion.mobilebert import load_model, Config  # noqa: E402

MODELS = ("mobilebert-tiny-cls", "mobilebert-tiny-cls-layernorm")
TOLERANCE = 1e-4


def check_model(folder):
    model = load_model(folder)
    tokenizer = BertTokenizer(os.path.join(folder, "vocab.txt"))
    worst, rows, token_mismatch = 0.0, 0, 0
    with open(os.path.join(folder, "expected.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if tokenizer.encode(row["text"], row["max_length"]) != row["input_ids"]:
                token_mismatch += 1
            with torch.no_grad():
                logits = model(torch.tensor([row["input_ids"]]))[0]
            worst = max(worst, (logits - torch.tensor(row["logits"])).abs().max().item())
            rows += 1
    ok = worst <= TOLERANCE and token_mismatch == 0
    print(f"{os.path.basename(folder)}: {rows} rows, max |logit diff| {worst:.2e}, "
          f"tokenizer mismatches {token_mismatch} -> {'ok' if ok else 'FAIL'}")
    # Config round trip: our defaults must not add or lose keys relative to HF's save_pretrained.
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        hf_keys = set(json.load(f))
    ours = set(Config.from_json(os.path.join(folder, "config.json")).to_dict()) | {"architectures", "torch_dtype",
                                                                                   "transformers_version"}
    if hf_keys != ours:
        print(f"  config keys differ: {sorted(hf_keys ^ ours)}")
        ok = False
    return ok


def check_tokenizer(data):
    tokenizer = BertTokenizer(os.path.join(data, "vocab", "bert-base-uncased.txt"))
    rows = bad = 0
    for name in ("bert_tokenizer.jsonl", "ten_sentences_tokenizer.jsonl"):
        with open(os.path.join(data, "tokenizer", name), encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                rows += 1
                if tokenizer.encode(row["text"], row["max_length"]) != row["input_ids"]:
                    bad += 1
                    print(f"  tokenizer differs on {row['text'][:60]!r}")
    print(f"tokenizer (bert-base-uncased): {rows} rows, {bad} differ -> {'ok' if bad == 0 else 'FAIL'}")
    return bad == 0


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(here, "tests", "data"), help="the tests/data folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ok = check_tokenizer(args.data)
    for name in MODELS:
        ok = check_model(os.path.join(args.data, "models", name)) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
