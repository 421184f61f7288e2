#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_sentencepiece.cc (tests/fuzz/corpus/sentencepiece/).

Each seed is: a flags byte (bit 0: llama2.c rules, bit 1: keep special tokens when decoding), the model's length as
two little-endian bytes, a SentencePiece ModelProto, then the text to tokenize. Models: the fixture tokenizer.model
(1024 pieces, byte fallback) and small hand-serialized ones that reach the other paths (user-defined and unused
pieces, no byte fallback, a unigram model, a damaged one).

Usage: tools/make_sentencepiece_corpus.py [REPO_ROOT]   (existing seed files are overwritten)
"""
import struct
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fuzz" / "corpus" / "sentencepiece"
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + payload
    return key + varint(len(payload)) + payload


def model(pieces, byte_fallback=True, model_type=2, add_dummy_prefix=True):
    body = b""
    for text, score, kind in pieces:
        p = field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score))
        if kind != NORMAL:
            p += field(3, 0, kind)
        body += field(1, 2, p)
    trainer = field(3, 0, model_type) + field(35, 0, int(byte_fallback)) + field(43, 0, -1)
    normalizer = field(1, 2, b"identity") + field(3, 0, int(add_dummy_prefix)) + field(4, 0, 0)
    return body + field(2, 2, trainer) + field(3, 2, normalizer)


def seed(name, flags, model_bytes, text):
    assert len(model_bytes) < 65536
    (OUT / name).write_bytes(bytes([flags]) + struct.pack("<H", len(model_bytes)) + model_bytes + text.encode())


specials = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("</s>", 0.0, CONTROL)]
byte_pieces = [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
merges = [("\u2581", -1.0, NORMAL), ("a", -2.0, NORMAL), ("b", -3.0, NORMAL), ("\u2581a", -0.5, NORMAL),
          ("ab", -0.6, NORMAL), ("\u2581ab", -0.1, NORMAL), ("ba", -0.2, UNUSED), ("bab", -0.05, NORMAL),
          ("<x>", 0.0, USER_DEFINED), ("\u2581\u2581", -0.7, NORMAL), ("\U0001F600", -4.0, NORMAL)]
small = model(specials + byte_pieces + merges)
tiny = model(specials + merges, byte_fallback=False)

OUT.mkdir(parents=True, exist_ok=True)
real = (ROOT / "tests" / "data" / "llama" / "tokenizer" / "tokenizer.model").read_bytes()
seed("real_specials", 0, real, "<s>hello</s>\n<|user|>\nHi \u2581there  caf\u00e9 \U0001F600 \u4e2d\u6587")
seed("real_keep_specials", 2, real, " </s> a <unk> b<s><s>")
seed("real_llama2c", 1, real, "Once upon a time")
seed("small_merges", 0, small, "ab bab abab<x>ba \U0001F600\u4e2d  a")
seed("small_llama2c", 1, small, "bab ab \u00e9")
seed("tiny_no_byte_fallback", 0, tiny, "a\u4e2d\u6587b ab zz<x>")
seed("tiny_ids", 2, tiny, "\x00\x01\x02\x03\x04\x05\x06\x07")
seed("unigram", 0, model(specials + merges, model_type=1), "ab")
seed("truncated", 0, small[: len(small) // 2], "ab")
print(f"wrote {len(list(OUT.iterdir()))} seeds to {OUT}")
