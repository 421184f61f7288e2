#!/usr/bin/env python3
"""Llama seeds for the .mlf fuzz target (tests/fuzz/corpus/mlf/, < 60 KB): a random-weight Llama of 1 layer (hidden
32, 2 heads, 1 KV head, FFN 64) with the first VOCAB pieces of the tiny-llama GGUF vocabulary (control, byte and
normal pieces) and its chat template, written as a GGUF with every 2-D tensor in q4_0 and compiled by
`mlfaas compile --layout LAYOUT` (so the seed is what the compiler writes). Needs numpy.

    /usr/bin/python3 tools/make_llama_mlf_seed.py build/mlfaas tests/fuzz/corpus/mlf/llama_q4_0.mlf
    /usr/bin/python3 tools/make_llama_mlf_seed.py build/mlfaas tests/fuzz/corpus/mlf/llama_q4_0_x16.mlf \
        --layout x16 --vocab 500

The first is in ggml's row layout (the default here: that seed predates the interleaved one); the second has its
linears in q4_0_x16, its output head of 500 rows ending in a padded group of 16.
"""
import argparse, os, struct, subprocess, sys, tempfile
import numpy as np

T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
DIM, FF, HEADS, KV_HEADS, CTX = 32, 64, 2, 1, 64


def s(x):
    b = x.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, val):
    out = s(key) + struct.pack("<I", typ)
    if typ == T_U32: out += struct.pack("<I", val)
    elif typ == T_F32: out += struct.pack("<f", val)
    elif typ == T_BOOL: out += struct.pack("<?", val)
    elif typ == T_STR: out += s(val)
    else:
        et, items = val
        out += struct.pack("<IQ", et, len(items))
        if et == T_STR: out += b"".join(s(i) for i in items)
        elif et == T_F32: out += np.asarray(items, "<f4").tobytes()
        else: out += np.asarray(items, "<i4").tobytes()
    return out


def read_metadata(path):
    f = open(path, "rb").read()
    _, _, n_kv = struct.unpack_from("<IQQ", f, 4)
    p = 24
    def rs():
        nonlocal p
        (n,) = struct.unpack_from("<Q", f, p); p += 8
        v = f[p:p + n].decode("utf-8"); p += n
        return v
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    out = {}
    for _ in range(n_kv):
        k = rs(); (t,) = struct.unpack_from("<I", f, p); p += 4
        if t == T_STR: v = rs()
        elif t == T_ARR:
            et, n = struct.unpack_from("<IQ", f, p); p += 12
            if et == T_STR: v = [rs() for _ in range(n)]
            else:
                fmt = {4: "<u4", 5: "<i4", 6: "<f4", 0: "u1", 1: "i1", 7: "u1", 10: "<u8", 11: "<i8", 12: "<f8"}[et]
                v = np.frombuffer(f, fmt, n, p).tolist(); p += sizes[et] * n
        else:
            v = f[p:p + sizes[t]]; p += sizes[t]
        out[k] = v
    return out


def q4_0(w):  # ggml's quantize_row_q4_0_ref
    b = w.reshape(-1, 32)
    mx = b[np.arange(len(b)), np.abs(b).argmax(axis=1)]
    d = mx / -8.0
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0)
    q = np.minimum(15, np.floor(b * inv[:, None] + 8.5)).astype(np.uint8)
    rec = np.zeros(len(b), dtype=[("d", "<f2"), ("q", "u1", 16)])
    rec["d"] = d
    rec["q"] = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    return rec.tobytes()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mlfaas")
    parser.add_argument("out")
    parser.add_argument("--layout", choices=["rows", "x16"], default="rows")
    parser.add_argument("--vocab", type=int, default=512)
    args = parser.parse_args()
    mlfaas, out, VOCAB = args.mlfaas, args.out, args.vocab
    here = os.path.dirname(os.path.abspath(__file__))
    meta_in = read_metadata(os.path.join(here, "../tests/data/llama/tiny-llama/model-f32.gguf"))
    rng = np.random.default_rng(0)
    hd = DIM // HEADS
    meta = [kv("general.architecture", T_STR, "llama"), kv("llama.context_length", T_U32, CTX),
            kv("llama.embedding_length", T_U32, DIM), kv("llama.block_count", T_U32, 1),
            kv("llama.feed_forward_length", T_U32, FF), kv("llama.rope.dimension_count", T_U32, hd),
            kv("llama.attention.head_count", T_U32, HEADS), kv("llama.attention.head_count_kv", T_U32, KV_HEADS),
            kv("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5), kv("llama.rope.freq_base", T_F32, 10000.0),
            kv("tokenizer.ggml.model", T_STR, "llama"),
            kv("tokenizer.ggml.tokens", T_ARR, (T_STR, meta_in["tokenizer.ggml.tokens"][:VOCAB])),
            kv("tokenizer.ggml.scores", T_ARR, (T_F32, meta_in["tokenizer.ggml.scores"][:VOCAB])),
            kv("tokenizer.ggml.token_type", T_ARR, (T_I32, meta_in["tokenizer.ggml.token_type"][:VOCAB])),
            kv("tokenizer.ggml.bos_token_id", T_U32, 1), kv("tokenizer.ggml.eos_token_id", T_U32, 2),
            kv("tokenizer.ggml.unknown_token_id", T_U32, 0),
            kv("tokenizer.chat_template", T_STR, meta_in.get("tokenizer.chat_template", ""))]
    shapes = [("token_embd.weight", DIM, VOCAB), ("blk.0.attn_norm.weight", DIM, None),
              ("blk.0.attn_q.weight", DIM, DIM), ("blk.0.attn_k.weight", DIM, KV_HEADS * hd),
              ("blk.0.attn_v.weight", DIM, KV_HEADS * hd), ("blk.0.attn_output.weight", DIM, DIM),
              ("blk.0.ffn_norm.weight", DIM, None), ("blk.0.ffn_gate.weight", DIM, FF),
              ("blk.0.ffn_up.weight", DIM, FF), ("blk.0.ffn_down.weight", FF, DIM),
              ("output_norm.weight", DIM, None), ("output.weight", DIM, VOCAB)]
    blobs, infos, off = [], b"", 0
    for name, ne0, ne1 in shapes:
        if ne1 is None:
            data, typ, dims = (1.0 + 0.1 * rng.standard_normal(ne0)).astype("<f4").tobytes(), 0, [ne0]
        else:
            data, typ, dims = q4_0(0.5 * rng.standard_normal((ne1, ne0)).astype(np.float32)), 2, [ne0, ne1]
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", typ, off)
        blobs.append(data + b"\0" * ((-len(data)) % 32))
        off += len(blobs[-1])
    head = b"GGUF" + struct.pack("<IQQ", 3, len(shapes), len(meta)) + b"".join(meta) + infos
    with tempfile.TemporaryDirectory() as tmp:
        gguf = os.path.join(tmp, "seed.gguf")
        with open(gguf, "wb") as f:
            f.write(head + b"\0" * ((-len(head)) % 32) + b"".join(blobs))
        subprocess.run([mlfaas, "compile", "--model", gguf, "--layout", args.layout, "--out", out, "--quiet"],
                       check=True)
    print(f"{out}: {os.path.getsize(out)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
