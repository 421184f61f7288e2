#!/usr/bin/env python3
"""Writes the seed corpus of the GGUF fuzz target (tests/fuzz/corpus/gguf/): the tiny-llama fixture GGUF with its
metadata kept and its 39 tensors shrunk to a few elements each (full vocabulary, and cut to 32 tokens), small valid
files with one tensor of every type the engine reads (v2 and v3, default and 64-byte alignment, every metadata
value type), and malformed variants (cut, version 1, big-endian, unknown tensor type, overlapping or unaligned
tensors, huge lengths). Standard library only; every seed is < 60 KB.

Usage: tools/make_gguf_corpus.py [REPO_ROOT]   (existing seed files are overwritten)
"""
import random
import struct
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fuzz" / "corpus" / "gguf"
FIXTURE = ROOT / "tests" / "data" / "llama" / "tiny-llama" / "model-f32.gguf"

# GGUF metadata value types (docs/gguf.md) and their struct formats.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B", U64: "<Q",
          I64: "<q", F64: "<d"}
# ggml tensor types read by the engine: id -> (elements per block, bytes per block).
TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144),
         "Q6_K": (14, 256, 210), "BF16": (30, 1, 2)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STRING:
        return gstr(v)
    if vtype == ARRAY:
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(value(etype, x) for x in items)
    return struct.pack(SCALAR[vtype], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims (ggml order), type id, data bytes)], laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, v in kvs:
        out += gstr(key) + struct.pack("<I", vtype) + value(vtype, v)
    offset, data = 0, b""
    for name, dims, ttype, raw in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, offset)
        data += raw
        pad = (-len(data)) % alignment
        data += b"\0" * pad
        offset = len(data)
    out += b"\0" * ((-len(out)) % alignment)
    if tensors:  # no padding after the last tensor
        data = data[: len(data) - ((-len(tensors[-1][3])) % alignment)]
    return out + data


def q8_0(xs):
    out = b""
    for b in range(0, len(xs), 32):
        blk = xs[b:b + 32]
        d = max(abs(x) for x in blk) / 127
        out += struct.pack("<e", d) + bytes((round(x / d) if d else 0) & 0xFF for x in blk)
    return out


def q4_0(xs):
    out = b""
    for b in range(0, len(xs), 32):
        blk = xs[b:b + 32]
        m = max(blk, key=abs)
        d = m / -8
        q = [min(15, int(x / d + 8.5)) if d else 8 for x in blk]
        out += struct.pack("<e", d) + bytes(q[j] | q[j + 16] << 4 for j in range(16))
    return out


def read_fixture():
    """The fixture's metadata [(key, type, value)] and tensor infos [(name, dims, type, offset)], data start."""
    f = FIXTURE.read_bytes()
    pos = 4
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", f, pos)
    pos += 20

    def rstr():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", f, pos)
        pos += 8 + n
        return f[pos - n:pos]

    def rval(t):
        nonlocal pos
        if t == STRING:
            return rstr()
        if t == ARRAY:
            et, n = struct.unpack_from("<IQ", f, pos)
            pos += 12
            return (et, [rval(et) for _ in range(n)])
        (v,) = struct.unpack_from(SCALAR[t], f, pos)
        pos += struct.calcsize(SCALAR[t])
        return v

    kvs = []
    for _ in range(n_kv):
        key = rstr().decode()
        (t,) = struct.unpack_from("<I", f, pos)
        pos += 4
        kvs.append((key, t, rval(t)))
    infos = []
    for _ in range(n_tensors):
        name = rstr().decode()
        (nd,) = struct.unpack_from("<I", f, pos)
        dims = struct.unpack_from("<%dQ" % nd, f, pos + 4)
        pos += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", f, pos)
        pos += 12
        infos.append((name, dims, t, off))
    data_start = (pos + 31) // 32 * 32
    return f, kvs, infos, data_start


def shrunk_fixture(vocab=None):
    f, kvs, infos, data_start = read_fixture()
    if vocab is not None:
        kvs = [(k, t, (v[0], v[1][:vocab]) if t == ARRAY else v) for k, t, v in kvs]
        kvs = [(k, t, vocab if k == "llama.vocab_size" else v) for k, t, v in kvs]
    tensors = []
    for name, dims, t, off in infos:
        small = [min(d, 8) for d in dims]  # F32: any row length is a whole block
        n = 1
        for d in small:
            n *= d
        tensors.append((name, small, t, f[data_start + off:data_start + off + 4 * n]))
    return gguf(kvs, tensors)


def every_type_tensors(rng):
    xs = [rng.gauss(0, 1) for _ in range(256)]
    out = []
    for name, (tid, be, bb) in TYPES.items():
        n = 256 if be == 256 else 64
        if name == "F32":
            raw = struct.pack("<%df" % n, *xs[:n])
        elif name == "F16":
            raw = struct.pack("<%de" % n, *xs[:n])
        elif name == "BF16":
            raw = b"".join(struct.pack("<f", x)[2:] for x in xs[:n])
        elif name == "Q8_0":
            raw = q8_0(xs[:n])
        elif name == "Q4_0":
            raw = q4_0(xs[:n])
        else:  # k-quants: random bytes of the right length exercise the reader as well as real blocks
            raw = bytes(rng.randrange(256) for _ in range(n // be * bb))
        dims = [n] if name in ("Q4_K", "Q6_K") else [32, n // 32]
        out.append(("t." + name.lower(), dims, tid, raw))
    return out


def every_value_kvs():
    return [
        ("general.architecture", STRING, "llama"), ("llama.block_count", U32, 1), ("llama.context_length", U64, 64),
        ("llama.embedding_length", I32, 32), ("llama.rope.freq_base", F32, 10000.0), ("e", F64, 1e-5),
        ("u8", U8, 255), ("i8", I8, -1), ("u16", U16, 65535), ("i16", I16, -2), ("i64", I64, -3),
        ("yes", BOOL, 1), ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<unk>", "<s>", "</s>", "a"])),
        ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, -1.0, -2.0, -3.5])),
        ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3, 1])), ("u64s", ARRAY, (U64, [1, 2**63])),
        ("bools", ARRAY, (BOOL, [0, 1])), ("empty", ARRAY, (U8, [])),
    ]


def main():
    rng = random.Random(18)
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {}
    seeds["tiny_llama_shrunk.gguf"] = shrunk_fixture()
    seeds["tiny_llama_vocab32.gguf"] = shrunk_fixture(vocab=32)
    tensors = every_type_tensors(rng)
    kvs = every_value_kvs()
    seeds["every_type_v3.gguf"] = gguf(kvs, tensors)
    seeds["every_type_v2.gguf"] = gguf(kvs, tensors, version=2)
    seeds["align64.gguf"] = gguf(kvs + [("general.alignment", U32, 64)], tensors, alignment=64)
    seeds["metadata_only.gguf"] = gguf(kvs, [])
    seeds["empty.gguf"] = gguf([], [])
    good = seeds["every_type_v3.gguf"]
    seeds["bad_cut_header.gguf"] = good[:300]
    seeds["bad_cut_data.gguf"] = good[:-5]
    seeds["bad_version1.gguf"] = good[:4] + struct.pack("<I", 1) + good[8:]
    seeds["bad_big_endian.gguf"] = good[:4] + struct.pack(">I", 3) + good[8:]
    seeds["bad_unknown_type.gguf"] = gguf(kvs[:2], [("w", [256], 13, bytes(176))])
    seeds["bad_q8_row.gguf"] = gguf(kvs[:2], [("w", [48], 8, bytes(51))])
    seeds["bad_five_dims.gguf"] = gguf([], [("w", [1, 1, 1, 1, 1], 0, bytes(4))])
    seeds["bad_huge_string.gguf"] = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("k") + \
        struct.pack("<IQ", STRING, 1 << 60) + b"abc"
    seeds["bad_huge_array.gguf"] = gguf([("k", ARRAY, (U32, [1]))], []).replace(struct.pack("<IQ", U32, 1),
                                                                                struct.pack("<IQ", U32, 1 << 61))
    overlap = bytearray(gguf([], [("a", [16], 0, bytes(64)), ("b", [8], 0, bytes(32))]))
    at = overlap.index(b"b") + 1 + 4 + 8 + 4  # name, n_dims, one dim, type: then the offset
    overlap[at:at + 8] = struct.pack("<Q", 32)
    seeds["bad_overlap.gguf"] = bytes(overlap)
    unaligned = bytearray(gguf([], [("a", [8], 0, bytes(32)), ("b", [8], 0, bytes(32))]))
    at = unaligned.index(b"b") + 1 + 4 + 8 + 4
    unaligned[at:at + 8] = struct.pack("<Q", 36)
    seeds["bad_unaligned.gguf"] = bytes(unaligned)
    seeds["bad_duplicate_tensor.gguf"] = gguf([], [("a", [8], 0, bytes(32)), ("a", [8], 0, bytes(32))])
    seeds["bad_duplicate_key.gguf"] = gguf([("k", U8, 1), ("k", U8, 2)], [])
    for name, data in sorted(seeds.items()):
        assert len(data) < 60_000, (name, len(data))
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
