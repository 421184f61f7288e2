#!/usr/bin/python3
"""Differential check of mlfaas's Llama tokenizer against SentencePiece itself (Debian's python3-sentencepiece,
the version that made tests/data/llama; not a build dependency).

For random texts without special-token literals or U+2581 (where HF's LlamaTokenizer is exactly
[BOS] + SentencePiece's encode), `mlfaas tokenize --model DIR --jsonl` must give [1] + sp.encode(text), on three
models: the fixture tokenizer.model (byte fallback) and two small BPE models trained here with a user-defined
symbol and some pieces retyped UNUSED, one with byte fallback and one without (unknown runs -> one <unk>).

Usage: tools/check_sentencepiece.py BUILD/mlfaas [N_TEXTS]     (apt-get install python3-sentencepiece python3-protobuf)
"""
import json
import os
import random
import subprocess
import sys
import tempfile

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
rng = random.Random(1234)
WORDS = ["hello", "world", "the", "a", "foo", "bar", "<x>", "ab", "ba", "tion", "ing", "caf\u00e9", "\u4e2d\u6587",
         "\U0001F600", "\u0434\u0430", "12345", "3.14", "!!", "?", "x=1;", "\t", "\n", "  ", "   ", "don't", "<s", "s>"]


def random_char():
    return chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x2FFF), rng.randint(0x3000, 0xD7FF),
                           rng.randint(0xE000, 0xFFFD), rng.randint(0x10000, 0x10FFFF)]))


def random_text():
    parts = []
    for _ in range(rng.randint(0, 30)):
        r = rng.random()
        parts.append(rng.choice(WORDS) if r < 0.6 else random_char() if r < 0.8 else " ")
    text = "".join(parts)
    for literal in ("\u2581", "<s>", "</s>", "<unk>"):
        text = text.replace(literal, "")
    return text


def train(work, name, byte_fallback):
    corpus = os.path.join(work, "corpus.txt")
    if not os.path.exists(corpus):
        phrases = ["hello world", "the cat", "foo bar baz", "abab baba", "tion ing", "caf\u00e9 au lait", "<x> marks",
                   "lorem ipsum dolor"]
        with open(corpus, "w", encoding="utf-8") as f:
            for _ in range(3000):
                f.write(" ".join(rng.choice(phrases) for _ in range(5)) + "\n")
    prefix = os.path.join(work, name)
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, model_type="bpe",
                                   vocab_size=376 if byte_fallback else 120, user_defined_symbols=["<x>"],
                                   byte_fallback=byte_fallback, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, character_coverage=1.0, minloglevel=2)
    model = pb.ModelProto()
    with open(prefix + ".model", "rb") as f:
        model.ParseFromString(f.read())
    merged = [i for i, p in enumerate(model.pieces) if p.type == pb.ModelProto.SentencePiece.NORMAL and len(p.piece) > 1]
    for i in merged[5:40:4]:
        model.pieces[i].type = pb.ModelProto.SentencePiece.UNUSED
    os.makedirs(prefix, exist_ok=True)
    with open(os.path.join(prefix, "tokenizer.model"), "wb") as f:
        f.write(model.SerializeToString())
    return prefix


def main():
    texts = [random_text() for _ in range(N)] + ["", " ", "  a", "a  ", "<x><x>", "<x> <x>", "\U0001F600" * 50]
    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    failed = False
    with tempfile.TemporaryDirectory() as work:
        models = {"fixture tokenizer.model": os.path.join(ROOT, "tests", "data", "llama", "tokenizer"),
                  "trained, no byte fallback": train(work, "no_fallback", False),
                  "trained, byte fallback": train(work, "fallback", True)}
        for name, directory in models.items():
            sp = spm.SentencePieceProcessor(model_file=os.path.join(directory, "tokenizer.model"))
            out = subprocess.run([BIN, "tokenize", "--model", directory, "--jsonl"], input=lines, capture_output=True,
                                 check=True).stdout.decode().splitlines()
            same = 0
            for text, line in zip(texts, out):
                want = [1] + (sp.encode(text) if text else [])
                if json.loads(line).get("input_ids") == want:
                    same += 1
                elif len(texts) - same <= 3:
                    print(f"  differs: {text!r} want {want} got {line}")
            print(f"{name}: {same} / {len(texts)} identical to sentencepiece {spm.__version__}")
            failed |= same != len(texts) or len(out) != len(texts)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
