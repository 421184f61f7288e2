#!/usr/bin/python3
"""Reference probabilities of an emotion model folder, for checking the C++ engine against torch.

  /usr/bin/python3 tools/emotion_probs.py --model models/emotion INPUT OUTPUT.jsonl [--limit N]

INPUT is an EmoContext TSV (text = turn1 + " " + turn2 + " " + turn3) or a plain text file (one text per line,
used when the first line is not the EmoContext header). Each output line is
{"id", "text", "input_ids", "probabilities", "predicted_label"[, "label"]}. The model runs in float32 on the
up-cast float16 weights, one row at a time without padding, exactly as the engine does.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emotion.bert_tokenizer import BertTokenizer  # noqa: E402
from emotion.data import LABELS, DataMissing, read_emocontext, require_file  # noqa: E402
from emotion.mobilebert import load_model  # noqa: E402

MAX_LENGTH = 128


def read_rows(path):
    with open(require_file(path), encoding="utf-8") as f:
        first = f.readline()
    if first.startswith("id\tturn1\tturn2\tturn3"):
        return [(row_id, text, label) for row_id, text, label in read_emocontext(path)]
    with open(path, encoding="utf-8") as f:
        return [(str(i), line.rstrip("\r\n"), -1) for i, line in enumerate(f)]


@torch.no_grad()
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/emotion")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--limit", type=int, default=0, help="only the first N rows (0 = all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        rows = read_rows(args.input)
        model = load_model(args.model)
        tokenizer = BertTokenizer(os.path.join(args.model, "vocab.txt"))
    except (DataMissing, OSError, ValueError) as error:
        sys.exit(f"emotion_probs: {error}")
    if args.limit:
        rows = rows[:args.limit]
    with open(args.output, "w", encoding="utf-8") as out:
        for row_id, text, label in rows:
            ids = tokenizer.encode(text, MAX_LENGTH)
            probs = torch.softmax(model(torch.tensor([ids]))[0], dim=-1).tolist()
            record = {"id": row_id, "text": text, "input_ids": ids, "probabilities": probs,
                      "predicted_label": LABELS[max(range(len(LABELS)), key=probs.__getitem__)]}
            if label >= 0:
                record["label"] = LABELS[label]
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"emotion_probs: wrote {len(rows)} rows to {args.output}")


if __name__ == "__main__":
    main()
