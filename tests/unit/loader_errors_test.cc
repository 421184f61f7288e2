// Every malformed model input gives exactly one FormatError line naming the file and the problem. The bad files
// are derived at run time from the good fixtures (or assembled byte by byte) in a temporary directory.
#include <gtest/gtest.h>

#include <functional>

#include "engine/error.h"
#include "engine/formats/config.h"
#include "engine/formats/pickle.h"
#include "engine/formats/weights.h"
#include "format_fixtures.h"

using namespace mlfaas;
using fixtures::kModels;
using fixtures::Pickle;
using fixtures::TempDir;

namespace {

// The error text `load` throws, or a marker that it threw nothing (or something other than a FormatError).
std::string error_of(const std::function<void()>& load) {
  try {
    load();
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()), e.path() + ": " + e.problem());
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "error is not one line";
    return e.what();
  } catch (const std::exception& e) {
    return std::string("unexpected exception: ") + e.what();
  }
  return "no error";
}

std::string cls_safetensors() { return fixtures::read_file(kModels + "bert-tiny-cls/model.safetensors"); }
std::string cls_bin() { return fixtures::read_file(kModels + "bert-tiny-cls/pytorch_model.bin"); }
std::string cls_config() { return fixtures::read_file(kModels + "bert-tiny-cls/config.json"); }

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string open_st(const std::string& path) { return error_of([&] { open_safetensors(path); }); }
std::string open_bin(const std::string& path) { return error_of([&] { open_pytorch_bin(path); }); }

// A torch.save archive holding {"t": float tensor of `numel` elements} whose pickle is `pickle`.
std::string bin_with_pickle(const TempDir& tmp, const std::string& pickle, size_t storage_bytes = 16) {
  return fixtures::write_zip(tmp / "bad.bin", fixtures::torch_archive(pickle, std::string(storage_bytes, '\0')));
}

Pickle one_tensor_dict(int64_t numel, int64_t offset, const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
  Pickle p;
  p.proto(2).empty_dict().mark().unicode("t").tensor("FloatStorage", "0", numel, offset, sizes, strides).setitems().stop();
  return p;
}

}  // namespace

// ---- missing files ----

TEST(LoaderErrors, MissingFile) {
  TempDir tmp;
  EXPECT_EQ(open_st(tmp / "model.safetensors"), tmp / "model.safetensors" + ": file not found");
  EXPECT_EQ(open_bin(tmp / "pytorch_model.bin"), tmp / "pytorch_model.bin" + ": file not found");
  EXPECT_EQ(error_of([&] { load_config(tmp / "config.json"); }), tmp / "config.json" + ": file not found");
  EXPECT_EQ(error_of([&] { open_model_weights(tmp / "nothing"); }), tmp / "nothing" + ": file not found");
}

TEST(LoaderErrors, DirectoryWithoutWeights) {
  TempDir tmp;
  EXPECT_EQ(error_of([&] { open_model_weights(tmp / ""); }),
            tmp / "" + ": no model.safetensors or pytorch_model.bin in this directory");
}

// ---- truncated files ----

TEST(LoaderErrors, SafetensorsShorterThanItsHeaderSays) {
  TempDir tmp;
  const std::string good = cls_safetensors();
  const uint64_t header = fixtures::safetensors_header_length(good);
  const auto path = fixtures::write_file(tmp / "cut.safetensors", good.substr(0, 8 + header / 2));
  EXPECT_EQ(open_st(path), path + ": truncated safetensors file: header of " + std::to_string(header) +
                               " bytes but only " + std::to_string(header / 2) + " bytes follow");
}

TEST(LoaderErrors, SafetensorsDataCutShort) {
  TempDir tmp;
  const std::string good = cls_safetensors();
  const uint64_t header = fixtures::safetensors_header_length(good);
  const auto path = fixtures::write_file(tmp / "cut.safetensors", good.substr(0, 8 + header + 1000));
  // Tensors are laid out by name: LayerNorm bias and weight (256 bytes each), then the position table.
  EXPECT_EQ(open_st(path), path + ": tensor 'bert.embeddings.position_embeddings.weight': data_offsets [512, 33280) "
                                  "point outside the file (data section is 1000 bytes)");
}

TEST(LoaderErrors, SafetensorsWithoutHeaderLength) {
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "tiny.safetensors", "abc");
  EXPECT_EQ(open_st(path), path + ": truncated safetensors file (3 bytes, no header)");
}

TEST(LoaderErrors, ZipCutInHalf) {
  TempDir tmp;
  const std::string good = cls_bin();
  const auto path = fixtures::write_file(tmp / "cut.bin", good.substr(0, good.size() / 2));
  EXPECT_EQ(open_bin(path), path + ": truncated or damaged zip archive (Not a zip archive)");
}

TEST(LoaderErrors, DataPklFailsItsChecksum) {
  TempDir tmp;
  std::string bin = cls_bin();
  bin[bin.find("bert.embeddings.word_embeddings.weight")] = 'B';
  const auto path = fixtures::write_file(tmp / "flipped.bin", bin);
  EXPECT_EQ(open_bin(path), path + ": pytorch_model/data.pkl is damaged (CRC error)");
}

TEST(LoaderErrors, PickleCutShort) {
  TempDir tmp;
  const std::string pickle = one_tensor_dict(4, 0, {4}, {1}).bytes();
  const auto path = bin_with_pickle(tmp, pickle.substr(0, pickle.size() - 5));
  EXPECT_EQ(open_bin(path), path + ": pickle is truncated (at byte " + std::to_string(pickle.size() - 5) +
                                " of archive/data.pkl)");
}

// ---- bad JSON ----

TEST(LoaderErrors, ConfigBadJson) {
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "config.json", cls_config().substr(0, 40));
  EXPECT_EQ(error_of([&] { load_config(path); }),
            path + ": bad JSON: parse error at line 3, column 18: syntax error while parsing value - invalid string: "
                   "missing closing quote; last read: '\"BertForSeque'");
}

TEST(LoaderErrors, SafetensorsHeaderBadJson) {
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "bad.safetensors", fixtures::safetensors("{\"a\": }   ", ""));
  EXPECT_EQ(open_st(path), path + ": bad safetensors header JSON: parse error at line 1, column 7: syntax error "
                                  "while parsing value - unexpected '}'; expected '[', '{', or a literal");
}

TEST(LoaderErrors, JsonNumberOutOfRange) {
  // Found by fuzzing: nlohmann reports 1e5649 as out_of_range, not parse_error, and it escaped both readers.
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "big.safetensors", fixtures::safetensors(R"({"a": 1e5649})", ""));
  EXPECT_EQ(open_st(path), path + ": bad safetensors header JSON: number overflow parsing '1e5649'");
  EXPECT_EQ(error_of([] { parse_config("1e5649:(", "c.json"); }), "c.json: bad JSON: number overflow parsing '1e5649'");
}

TEST(LoaderErrors, SafetensorsHeaderNotUtf8) {
  TempDir tmp;
  const auto path =
      fixtures::write_file(tmp / "bad.safetensors", fixtures::safetensors("{\"w\xff\": {}}", ""));
  EXPECT_EQ(open_st(path), path + ": bad safetensors header JSON: parse error at line 1, column 4: syntax error "
                                  "while parsing object key - invalid string: ill-formed UTF-8 byte; last read: "
                                  "'\"w\xFF'; expected string literal");
}

// ---- wrong dtype, shape, missing tensor ----

TEST(LoaderErrors, WrongDtype) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "ids.safetensors",
      fixtures::safetensors(R"({"ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})",
                            fixtures::raw(std::vector<int64_t>{1, 2})));
  auto w = open_safetensors(path);
  EXPECT_EQ(error_of([&] { w->f32("ids", {2}); }), path + ": tensor 'ids' has dtype I64, expected F32, F16 or BF16");
}

TEST(LoaderErrors, WrongShape) {
  auto w = open_safetensors(kModels + "bert-tiny-cls/model.safetensors");
  EXPECT_EQ(error_of([&] { w->f32("classifier.weight", {4, 32}); }),
            kModels + "bert-tiny-cls/model.safetensors: tensor 'classifier.weight' has shape [4, 64], expected [4, 32]");
}

TEST(LoaderErrors, MissingTensor) {
  // HF omits tied tensors from safetensors; a reader asking for one by name must get a clear error.
  auto w = open_safetensors(kModels + "bert-tiny-mlm/model.safetensors");
  EXPECT_EQ(error_of([&] { w->require("cls.predictions.decoder.weight"); }),
            kModels + "bert-tiny-mlm/model.safetensors: missing tensor 'cls.predictions.decoder.weight'");
}

// ---- unknown architecture ----

TEST(LoaderErrors, UnknownArchitecture) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "config.json", replace_once(cls_config(), "BertForSequenceClassification", "BertForQuestionAnswering"));
  EXPECT_EQ(error_of([&] { load_config(path); }),
            path + ": unknown architecture 'BertForQuestionAnswering' (supported: BertModel, "
                   "BertForSequenceClassification, BertForMaskedLM, MobileBertForSequenceClassification)");
}

// ---- safetensors header pointing outside the file and other header gaps ----

TEST(LoaderErrors, SafetensorsOffsetsOutsideFile) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "far.safetensors",
      fixtures::safetensors(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [1099511627776, 1099511627780]}})",
                            "abcd"));
  EXPECT_EQ(open_st(path), path + ": tensor 'w': data_offsets [1099511627776, 1099511627780) point outside the file "
                                  "(data section is 4 bytes)");
}

TEST(LoaderErrors, SafetensorsOverlappingTensors) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "overlap.safetensors",
      fixtures::safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                            R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                            std::string(12, '\0')));
  EXPECT_EQ(open_st(path), path + ": bad safetensors header: tensors 'a' and 'b' overlap in the data section");
}

TEST(LoaderErrors, SafetensorsDuplicateTensorName) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "dup.safetensors",
      fixtures::safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                            R"( "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                            std::string(8, '\0')));
  EXPECT_EQ(open_st(path), path + ": bad safetensors header: tensor 'a' appears twice");
}

TEST(LoaderErrors, SafetensorsFloatInShape) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "float.safetensors",
      fixtures::safetensors(R"({"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})", std::string(4, '\0')));
  EXPECT_EQ(open_st(path), path + ": tensor 'a': shape entry 1.0 is not a non-negative integer");
}

TEST(LoaderErrors, SafetensorsAbsurdRank) {
  TempDir tmp;
  std::string shape = "[1";
  for (int i = 1; i < 65; ++i) shape += ",1";
  shape += "]";
  const auto path = fixtures::write_file(
      tmp / "rank.safetensors",
      fixtures::safetensors(R"({"a": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 4]}})",
                            std::string(4, '\0')));
  EXPECT_EQ(open_st(path), path + ": tensor 'a': shape has 65 dimensions (at most 64 supported)");
}

TEST(LoaderErrors, SafetensorsSizeDisagreesWithShape) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "size.safetensors",
      fixtures::safetensors(R"({"a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 4]}})", std::string(4, '\0')));
  EXPECT_EQ(open_st(path), path + ": tensor 'a': byte size 4 does not match shape [3] x BF16");
}

TEST(LoaderErrors, SafetensorsUnknownDtype) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "dtype.safetensors",
      fixtures::safetensors(R"({"a": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", std::string(4, '\0')));
  EXPECT_EQ(open_st(path), path + ": tensor 'a': unknown dtype 'F8_E4M3'");
}

// ---- pickle: globals and opcodes ----

TEST(LoaderErrors, PickleAsksForUnexpectedGlobal) {
  TempDir tmp;
  Pickle p;  // the classic payload: os.system('...') through REDUCE
  p.proto(2).global("os", "system").mark().unicode("echo pwned").tuple().reduce().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path),
            path + ": pickle asks for global 'os.system', which a state dict does not need (at byte 2 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleAsksForBuiltinsEvalThroughStackGlobal) {
  TempDir tmp;
  Pickle p;
  p.proto(4).stack_global("builtins", "eval").stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path), path + ": pickle asks for global 'builtins.eval', which a state dict does not need (at "
                                   "byte 18 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleForbiddenOpcode) {
  TempDir tmp;
  Pickle p;  // INST builds an object from a class named inline: never part of a state dict
  p.proto(2).empty_dict().op('i').stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path),
            path + ": pickle opcode 0x69 'INST' is not allowed in a state dict (at byte 3 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleUnknownOpcode) {
  TempDir tmp;
  Pickle p;
  p.proto(2).op(0xff);
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path),
            path + ": pickle opcode 0xff 'unknown' is not allowed in a state dict (at byte 2 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleCallsAStorageType) {
  TempDir tmp;
  Pickle p;
  p.proto(2).global("torch", "FloatStorage").empty_tuple().reduce().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path), path + ": pickle calls 'torch.FloatStorage', which a state dict never does (at byte 23 of "
                                   "archive/data.pkl)");
}

TEST(LoaderErrors, PickleValueIsNotATensor) {
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().unicode("step").integer(7).setitem().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path), path + ": state dict entry 'step' is a int, not a tensor (at byte 15 of archive/data.pkl)");
}

TEST(LoaderErrors, CraftedNameCannotBreakTheErrorLine) {
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().unicode("evil\nmlfaas: fake second line").integer(7).setitem().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path), path + ": state dict entry 'evil\\x0amlfaas: fake second line' is a int, not a tensor "
                                   "(at byte 40 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleReadsUnsetMemo) {
  TempDir tmp;
  Pickle p;
  p.proto(2).binget(3).stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path),
            path + ": pickle reads memo entry 3, which was never stored (at byte 2 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleChangesAContainerAfterStoringIt) {
  // Containers are frozen once stored inside another value, so no reference cycle can form.
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_list().binput(0).tuple1().binget(0).none().append().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path), path + ": pickle APPEND changes a list already stored elsewhere, which a state dict never "
                                   "does (at byte 9 of archive/data.pkl)");
}

TEST(LoaderErrors, PicklePutsAListInsideItself) {
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_list().binput(0).binget(0).append().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path),
            path + ": pickle puts a list inside itself, which a state dict never does (at byte 7 of archive/data.pkl)");
}

TEST(LoaderErrors, PickleLimitsStackNestingAndMemo) {
  const std::string path = "limits.bin";
  UnpickleLimits small;
  small.max_stack = 8;
  small.max_memo = 2;
  small.max_nesting = 3;
  auto unpickle = [&](const Pickle& p) {
    return error_of([&] { unpickle_state_dict(std::as_bytes(std::span(p.bytes())), path, "data.pkl", small); });
  };
  Pickle deep_stack;
  deep_stack.proto(2);
  for (int i = 0; i < 9; ++i) deep_stack.none();
  EXPECT_EQ(unpickle(deep_stack), "limits.bin: pickle stack grows beyond 8 values (at byte 10 of data.pkl)");
  Pickle nested;
  nested.proto(2).none().tuple1().tuple1().tuple1().tuple1();
  EXPECT_EQ(unpickle(nested), "limits.bin: pickle nests containers deeper than 3 (at byte 6 of data.pkl)");
  Pickle memo;
  memo.proto(2).none().binput(0).binput(1).binput(2);
  EXPECT_EQ(unpickle(memo), "limits.bin: pickle memo grows beyond 2 entries (at byte 7 of data.pkl)");
}

TEST(LoaderErrors, PickleLimitsValuesAndContainerReferences) {
  UnpickleLimits small;
  small.max_values = 4;
  auto unpickle = [&](const Pickle& p) {
    return error_of([&] { unpickle_state_dict(std::as_bytes(std::span(p.bytes())), "limits.bin", "data.pkl", small); });
  };
  Pickle many;
  many.proto(2).none().none().none().none().none();
  EXPECT_EQ(unpickle(many), "limits.bin: pickle creates more than 4 values (at byte 6 of data.pkl)");
  small.max_values = 100;
  small.max_items = 2;
  Pickle wide;
  wide.proto(2).none().none().none().tuple3();
  EXPECT_EQ(unpickle(wide), "limits.bin: pickle stores more than 2 references in containers (at byte 5 of data.pkl)");
}

TEST(LoaderErrors, StridedCopiesMayNotOutgrowTheFile) {
  // Many transposed views of one storage would each be copied; together they may not exceed the file's size.
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().mark();
  for (const char* name : {"t0", "t1", "t2"}) p.unicode(name).tensor("FloatStorage", "0", 4096, 0, {64, 64}, {1, 64});
  p.setitems().stop();
  const auto path = bin_with_pickle(tmp, p.bytes(), 4096 * 4);
  EXPECT_EQ(open_bin(path), path + ": tensor 't1': strided tensors would need more memory than the file's size to copy");
}

// ---- zip structure and storages ----

TEST(LoaderErrors, ZipWithoutDataPkl) {
  TempDir tmp;
  const auto path = fixtures::write_zip(tmp / "nopkl.bin", {{"archive/data/0", std::string(16, '\0')}, {"archive/version", "3\n"}});
  EXPECT_EQ(open_bin(path), path + ": zip archive has no data.pkl, so it is not a torch.save file");
}

TEST(LoaderErrors, StorageBlobShorterThanDeclared) {
  TempDir tmp;
  const auto path = bin_with_pickle(tmp, one_tensor_dict(4, 0, {4}, {1}).bytes(), 8);
  EXPECT_EQ(open_bin(path), path + ": storage archive/data/0 has 8 bytes, but the pickle declares 4 x F32 elements");
}

TEST(LoaderErrors, TensorLargerThanItsStorage) {
  TempDir tmp;
  const auto path = bin_with_pickle(tmp, one_tensor_dict(4, 1, {2, 2}, {2, 1}).bytes(), 16);
  EXPECT_EQ(open_bin(path),
            path + ": tensor 't': shape [2, 2] at offset 1 needs more than the 4 elements of storage data/0");
}

TEST(LoaderErrors, CompressedStorageClaimingImpossibleSize) {
  // A zip bomb in miniature: the headers claim far more bytes than deflate can produce from what is stored.
  // Nothing may be allocated for the claim.
  TempDir tmp;
  const uint32_t claimed = 0x7ffffffc;
  auto entries = fixtures::torch_archive(one_tensor_dict(claimed / 4, 0, {4}, {1}).bytes(), std::string(4096, '\0'));
  entries[1].compress = true;
  std::string zip = fixtures::read_file(fixtures::write_zip(tmp / "bomb.bin", entries));
  auto put32 = [&](size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) zip[at + k] = static_cast<char>(v >> (8 * k));
  };
  auto get32 = [&](size_t at) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<uint32_t>(static_cast<uint8_t>(zip[at + k])) << (8 * k);
    return v;
  };
  const std::string name = "archive/data/0";
  size_t local_header = std::string::npos, central_header = std::string::npos;
  for (size_t at = zip.find(name); at != std::string::npos; at = zip.find(name, at + 1)) {
    if (at >= 30 && zip.compare(at - 30, 4, "PK\x03\x04") == 0) local_header = at - 30;
    if (at >= 46 && zip.compare(at - 46, 4, "PK\x01\x02") == 0) central_header = at - 46;
  }
  ASSERT_NE(local_header, std::string::npos);
  ASSERT_NE(central_header, std::string::npos);
  const uint32_t packed = get32(central_header + 20);
  put32(local_header + 22, claimed);
  put32(central_header + 24, claimed);
  const auto path = fixtures::write_file(tmp / "bomb.bin", zip);
  EXPECT_EQ(open_bin(path), path + ": archive/data/0 claims " + std::to_string(claimed) + " bytes from " +
                                std::to_string(packed) + " stored bytes, which is impossible");
}

TEST(LoaderErrors, StorageEntryMissing) {
  TempDir tmp;
  const auto path = fixtures::write_zip(tmp / "nostorage.bin", {{"archive/data.pkl", one_tensor_dict(4, 0, {4}, {1}).bytes()}});
  EXPECT_EQ(open_bin(path), path + ": storage archive/data/0 named by the pickle is missing from the archive");
}

TEST(LoaderErrors, BigEndianArchive) {
  TempDir tmp;
  auto entries = fixtures::torch_archive(one_tensor_dict(4, 0, {4}, {1}).bytes(), std::string(16, '\0'));
  entries.push_back({"archive/byteorder", "big"});
  const auto path = fixtures::write_zip(tmp / "big.bin", entries);
  EXPECT_EQ(open_bin(path), path + ": byte order 'big' is not supported (only little-endian)");
}

TEST(LoaderErrors, LegacyTorchSaveFormat) {
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "legacy.bin", std::string("\x80\x02\x8a\x0a", 4) + "lZ\xfc\x9c" "F\xf9 j\xa8" "P\x19.");
  EXPECT_EQ(open_bin(path), path + ": legacy (pre-1.6) torch.save format is not supported; re-save it with torch >= "
                                   "1.6 or as safetensors");
}

TEST(LoaderErrors, NotAZipAtAll) {
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "text.bin", "hello, world");
  EXPECT_EQ(open_bin(path), path + ": not a torch.save zip archive (no zip signature at the start)");
}

TEST(LoaderErrors, DuplicateStateDictKey) {
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().mark();
  p.unicode("t").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.unicode("t").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.setitems().stop();
  const auto path = bin_with_pickle(tmp, p.bytes());
  EXPECT_EQ(open_bin(path), path + ": duplicate tensor 't'");
}

// ---- config values ----

TEST(LoaderErrors, ConfigSizeIsAFloat) {
  TempDir tmp;
  const auto path = fixtures::write_file(tmp / "config.json", replace_once(cls_config(), "\"hidden_size\": 64", "\"hidden_size\": 64.5"));
  EXPECT_EQ(error_of([&] { load_config(path); }), path + ": config key 'hidden_size' must be an integer, got 64.5");
}

TEST(LoaderErrors, ConfigSizeWrapsAround) {
  // 2^32 + 64 would silently become 64 through a 32-bit conversion.
  TempDir tmp;
  const auto path =
      fixtures::write_file(tmp / "config.json", replace_once(cls_config(), "\"hidden_size\": 64", "\"hidden_size\": 4294967360"));
  EXPECT_EQ(error_of([&] { load_config(path); }), path + ": config key 'hidden_size' is out of range: 4294967360");
}

TEST(LoaderErrors, ConfigAbsurdSize) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "config.json", replace_once(cls_config(), "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 100000"));
  EXPECT_EQ(error_of([&] { load_config(path); }),
            path + ": config key 'num_hidden_layers' is 100000, more than mlfaas supports (1024)");
}

TEST(LoaderErrors, ConfigHugeLabelCount) {
  EXPECT_EQ(error_of([] { parse_config(R"({"architectures": ["BertForSequenceClassification"], "num_labels": 2000000000})", "c.json"); }),
            "c.json: config key 'num_labels' is 2000000000, more than mlfaas supports (65536)");
}

TEST(LoaderErrors, ConfigRepeatedLabelId) {
  EXPECT_EQ(error_of([] {
              parse_config(R"({"architectures": ["BertForSequenceClassification"], "id2label": {"1": "a", "01": "b"}})",
                           "c.json");
            }),
            "c.json: id2label has label id 1 twice");
}
