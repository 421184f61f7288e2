#!/usr/bin/env python3
"""Writes the seed corpora of the weight-format fuzz targets (tests/fuzz/corpus/{safetensors,pickle,config,
pytorch_bin}/): small valid files shaped like the real ones, and malformed variants of each.

Torch is not needed: the state-dict pickles are produced by Python's own pickler through stand-ins for torch's
classes, which makes it emit the same opcodes and globals torch.save does (protocol 2, GLOBAL
torch._utils._rebuild_tensor_v2, BINPERSID ('storage', torch.FloatStorage, key, 'cpu', numel)).

Usage: tools/make_fuzz_corpus.py [REPO_ROOT]   (run from anywhere; existing seed files are overwritten)
"""
import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MODELS = ROOT / "tests" / "data" / "models"

# ---- stand-ins so that pickle writes torch's globals ----
torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
sys.modules["torch"] = torch_mod
sys.modules["torch._utils"] = utils_mod


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called")


def _rebuild_parameter(*args):
    raise RuntimeError("never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
_rebuild_parameter.__module__ = "torch._utils"
utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
utils_mod._rebuild_parameter = _rebuild_parameter

STORAGE_TYPES = {"f32": ("FloatStorage", "<f", 4), "f16": ("HalfStorage", "<e", 2), "i64": ("LongStorage", "<q", 8)}
for name, _, _ in STORAGE_TYPES.values():
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch_mod, name, cls)


class Storage:
    def __init__(self, key, kind, values):
        self.key, self.kind, self.values = key, kind, values

    def raw(self):
        _, fmt, _ = STORAGE_TYPES[self.kind]
        return b"".join(struct.pack(fmt, v) for v in self.values)


class Tensor:
    def __init__(self, storage, offset, sizes, strides, parameter=False):
        self.storage, self.offset, self.sizes, self.strides, self.parameter = storage, offset, sizes, strides, parameter

    def __reduce_ex__(self, protocol):
        plain = Tensor(self.storage, self.offset, self.sizes, self.strides)
        if self.parameter:
            return (_rebuild_parameter, (plain, False, collections.OrderedDict()))
        return (_rebuild_tensor_v2, (self.storage, self.offset, tuple(self.sizes), tuple(self.strides), False,
                                     collections.OrderedDict()))


class StateDictPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            type_name = STORAGE_TYPES[obj.kind][0]
            return ("storage", getattr(torch_mod, type_name), obj.key, "cpu", len(obj.values))
        return None


def state_dict_pickle(state_dict, protocol=2):
    buf = io.BytesIO()
    StateDictPickler(buf, protocol=protocol).dump(state_dict)
    return buf.getvalue()


def torch_zip(state_dict, prefix="archive", protocol=2, compress=False, byteorder=True):
    storages = {}
    for t in state_dict.values():
        storages[t.storage.key] = t.storage
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", state_dict_pickle(state_dict, protocol))
        if byteorder:
            z.writestr(f"{prefix}/byteorder", "little")
        for key, s in storages.items():
            z.writestr(f"{prefix}/data/{key}", s.raw())
        z.writestr(f"{prefix}/version", "3\n")
    return buf.getvalue()


def small_state_dict():
    w = Storage("0", "f32", [0.5, -1.0, 2.0, 4.0, 8.0, 16.0])
    b = Storage("1", "f16", [1.0, -2.0, 0.25])
    ids = Storage("2", "i64", [0, 1, 2])
    d = collections.OrderedDict()
    d["encoder.weight"] = Tensor(w, 0, [2, 3], [3, 1])
    d["encoder.weight_t"] = Tensor(w, 0, [3, 2], [1, 3])  # a saved transpose: strided
    d["decoder.weight"] = Tensor(w, 0, [2, 3], [3, 1])  # tied
    d["encoder.bias"] = Tensor(b, 0, [3], [1], parameter=True)
    d["tail"] = Tensor(w, 4, [2], [1])
    d["position_ids"] = Tensor(ids, 0, [1, 3], [3, 1])
    return d


# ---- safetensors ----
def safetensors(tensors, pad=True, extra_header=None):
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if extra_header:
        header.update(extra_header)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(folder, name, data):
    path = CORPUS / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(data)


def main():
    f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
    f16 = lambda *v: struct.pack(f"<{len(v)}e", *v)
    good = safetensors({"a.bias": ("F32", [2], f32(1, 2)), "a.weight": ("F16", [2, 2], f16(1, 2, 3, 4)),
                        "b": ("BF16", [1], b"\x80\x3f"), "ids": ("I64", [1], struct.pack("<q", 7))})
    write("safetensors", "valid_mixed_dtypes.safetensors", good)
    write("safetensors", "valid_empty_tensor.safetensors", safetensors({"e": ("F32", [0, 4], b"")}))
    write("safetensors", "valid_no_metadata.safetensors", safetensors({"x": ("F32", [1], f32(3))}, pad=False)[:])
    write("safetensors", "truncated_header.safetensors", good[:20])
    write("safetensors", "truncated_data.safetensors", good[:-5])
    write("safetensors", "offsets_outside.safetensors",
          safetensors({}, extra_header={"w": {"dtype": "F32", "shape": [1], "data_offsets": [4096, 4100]}}))
    write("safetensors", "overlap.safetensors",
          safetensors({"a": ("F32", [2], f32(1, 2))},
                      extra_header={"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}))
    write("safetensors", "dup_keys.safetensors",
          struct.pack("<Q", 97) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
          b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' + b"    " + f32(1))
    write("safetensors", "bad_json.safetensors", struct.pack("<Q", 6) + b'{"a":}' + b"")
    write("safetensors", "huge_header_len.safetensors", struct.pack("<Q", 1 << 40) + b"{}")

    # real header of a fixture, data cut away: exercises the loop over many names
    real = (MODELS / "bert-tiny-cls" / "model.safetensors").read_bytes()
    hl = struct.unpack("<Q", real[:8])[0]
    write("safetensors", "fixture_header_only.safetensors", real[:8 + hl])

    sd = small_state_dict()
    write("pickle", "state_dict_p2.pkl", state_dict_pickle(sd, 2))
    write("pickle", "state_dict_p4.pkl", state_dict_pickle(sd, 4))
    for model in ("bert-tiny-cls", "bert-tiny-mlm"):
        with zipfile.ZipFile(MODELS / model / "pytorch_model.bin") as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            write("pickle", f"{model}_data.pkl", z.read(pkl))
    write("pickle", "os_system.pkl", b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
    write("pickle", "builtins_eval_stack_global.pkl", b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.")
    write("pickle", "forbidden_inst.pkl", b"\x80\x02}(i")
    write("pickle", "self_append.pkl", b"\x80\x02]q\x00h\x00a.")
    write("pickle", "truncated.pkl", state_dict_pickle(sd, 2)[:100])

    write("pytorch_bin", "small_p2.bin", torch_zip(sd))
    write("pytorch_bin", "small_p4_prefix.bin", torch_zip(sd, prefix="pytorch_model", protocol=4, byteorder=False))
    write("pytorch_bin", "small_deflated.bin", torch_zip(sd, compress=True))
    whole = torch_zip(sd)
    write("pytorch_bin", "cut_in_half.bin", whole[: len(whole) // 2])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data/0", b"\0" * 16)
    write("pytorch_bin", "no_data_pkl.bin", buf.getvalue())

    for model in sorted(p.name for p in MODELS.iterdir() if (p / "config.json").exists()):
        write("config", f"{model}.json", (MODELS / model / "config.json").read_bytes())
    write("config", "mobilebert-24L.json", (MODELS / "mobilebert-24L.json").read_bytes())
    write("config", "unknown_arch.json", b'{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}')
    write("config", "float_size.json", b'{"model_type": "bert", "hidden_size": 64.5}')
    write("config", "huge_labels.json", b'{"architectures": ["BertForSequenceClassification"], "num_labels": 2000000000}')
    write("config", "bad_json.json", b'{"hidden_size": ')


if __name__ == "__main__":
    main()
