#!/usr/bin/python3
"""Scores an emotion model folder on an EmoContext file (SemEval-2019 Task 3 metric), in Python/torch.

  /usr/bin/python3 tools/eval_emotion.py --model models/emotion ../shared/data/emocontext/test.txt [--json]

Prints accuracy, micro P/R/F1 over happy/sad/angry, per-class P/R/F1 and the confusion matrix (rows = gold,
columns = predicted). The C++ `mlfaas eval` must agree with it.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emotion.bert_tokenizer import BertTokenizer  # noqa: E402
from emotion.data import LABELS, DataMissing, metrics, read_emocontext  # noqa: E402
from emotion.mobilebert import load_model  # noqa: E402

MAX_LENGTH = 128


@torch.no_grad()
def predict(model, tokenizer, texts, batch_size=128):
    encoded = [tokenizer.encode(t, MAX_LENGTH) for t in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    probabilities = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(chunk):
            ids[row, :len(encoded[i])] = torch.tensor(encoded[i])
            mask[row, :len(encoded[i])] = 1
        probs = torch.softmax(model(ids, mask), dim=-1)
        for row, i in enumerate(chunk):
            probabilities[i] = probs[row].tolist()
    return encoded, probabilities


def format_report(m):
    lines = [f"rows {m['rows']}  accuracy {m['accuracy']:.4f}",
             f"micro (happy, sad, angry): precision {m['micro_precision']:.4f}  recall {m['micro_recall']:.4f}  "
             f"F1 {m['micro_f1']:.4f}",
             f"{'class':<8}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for name in LABELS:
        c = m["per_class"][name]
        lines.append(f"{name:<8}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}{c['support']:>9}")
    lines.append("confusion (rows gold, columns predicted): " + " ".join(f"{n:>7}" for n in LABELS))
    for name, row in zip(LABELS, m["confusion_matrix"]):
        lines.append(f"{'':>42}{name:<7}" + " ".join(f"{v:>7}" for v in row))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/emotion", help="HF MobileBertForSequenceClassification folder")
    parser.add_argument("file", help="EmoContext TSV (id, turn1, turn2, turn3, label)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        rows = read_emocontext(args.file)
        model = load_model(args.model)
        tokenizer = BertTokenizer(os.path.join(args.model, "vocab.txt"))
    except (DataMissing, OSError, ValueError) as error:
        sys.exit(f"eval_emotion: {error}")
    if any(label < 0 for _, _, label in rows):
        sys.exit(f"eval_emotion: {args.file}: has no label column")
    _, probabilities = predict(model, tokenizer, [text for _, text, _ in rows])
    predicted = [max(range(len(LABELS)), key=p.__getitem__) for p in probabilities]
    result = metrics([label for _, _, label in rows], predicted)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
