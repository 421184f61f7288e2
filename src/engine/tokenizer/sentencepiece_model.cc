#include "engine/tokenizer/sentencepiece_model.h"

#include <cstdint>
#include <cstring>

#include "engine/error.h"

namespace mlfaas::tokenizer {

namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One protobuf message's bytes, read front to back. `where` names the message in errors ("pieces[12]").
class ProtoReader {
 public:
  ProtoReader(std::string_view bytes, const std::string& file, std::string where)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()), start_(bytes.data()), file_(file),
        where_(std::move(where)) {}

  bool done() const { return p_ == end_; }

  // The next field's number and wire type.
  bool next(uint32_t* field, uint32_t* wire) {
    if (done()) return false;
    const uint64_t key = varint("field key");
    *wire = uint32_t(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1FFFFFFF) fail("field number " + std::to_string(key >> 3) + " is invalid");
    *field = uint32_t(key >> 3);
    return true;
  }

  uint64_t varint(const char* what) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) fail(std::string(what) + ": varint runs past the end");
      const uint8_t byte = uint8_t(*p_++);
      value |= uint64_t(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail(std::string(what) + ": varint longer than 10 bytes");
  }

  std::string_view bytes(const char* what) {
    const uint64_t size = varint(what);
    if (size > uint64_t(end_ - p_)) {
      fail(std::string(what) + ": length " + std::to_string(size) + " runs past the end (" +
           std::to_string(end_ - p_) + " bytes left)");
    }
    std::string_view out(p_, size_t(size));
    p_ += size;
    return out;
  }

  float fixed32_float(const char* what) {
    if (end_ - p_ < 4) fail(std::string(what) + ": 4-byte value runs past the end");
    uint32_t bits = uint32_t(uint8_t(p_[0])) | uint32_t(uint8_t(p_[1])) << 8 | uint32_t(uint8_t(p_[2])) << 16 |
                    uint32_t(uint8_t(p_[3])) << 24;
    p_ += 4;
    float value;
    std::memcpy(&value, &bits, 4);
    return value;
  }

  void skip(uint32_t field, uint32_t wire) {
    const std::string what = "field " + std::to_string(field);
    switch (wire) {
      case kVarint: varint(what.c_str()); return;
      case kLengthDelimited: bytes(what.c_str()); return;
      case kFixed64:
      case kFixed32: {
        const ptrdiff_t size = wire == kFixed64 ? 8 : 4;
        if (end_ - p_ < size) fail(what + ": fixed-size value runs past the end");
        p_ += size;
        return;
      }
      default: fail(what + " has wire type " + std::to_string(wire) + ", which no SentencePiece field uses");
    }
  }

  // The wire type a known field must have.
  void expect(uint32_t field, uint32_t wire, uint32_t wanted) {
    if (wire != wanted) {
      fail("field " + std::to_string(field) + " has wire type " + std::to_string(wire) + ", expected " +
           std::to_string(wanted));
    }
  }

  // protobuf int32 values travel as 64-bit varints (negative ones as ten bytes); out-of-range ones wrap as
  // protobuf's own parser does.
  int32_t int32(const char* what) { return int32_t(uint32_t(varint(what))); }
  bool boolean(const char* what) { return varint(what) != 0; }

  [[noreturn]] void fail(const std::string& problem) const {
    throw FormatError(file_, "damaged SentencePiece model: " + where_ + " at byte " +
                                 std::to_string(p_ - start_) + ": " + problem);
  }

 private:
  const char* p_;
  const char* end_;
  const char* start_;
  const std::string& file_;
  std::string where_;
};

bool parse_byte_piece(std::string_view piece) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return piece.size() == 6 && piece.substr(0, 3) == "<0x" && hex(piece[3]) && hex(piece[4]) && piece[5] == '>';
}

void read_piece(std::string_view message, size_t index, const std::string& file, SentencePieceVocab* vocab) {
  ProtoReader r(message, file, "pieces[" + std::to_string(index) + "]");
  std::string piece;
  float score = 0;
  uint64_t type = 1;  // NORMAL when absent
  bool has_piece = false;
  uint32_t field, wire;
  while (r.next(&field, &wire)) {
    if (field == 1) {
      r.expect(field, wire, kLengthDelimited);
      piece = std::string(r.bytes("piece"));
      has_piece = true;
    } else if (field == 2) {
      r.expect(field, wire, kFixed32);
      score = r.fixed32_float("score");
    } else if (field == 3) {
      r.expect(field, wire, kVarint);
      type = r.varint("type");
    } else {
      r.skip(field, wire);
    }
  }
  if (!has_piece || piece.empty()) r.fail("empty piece");
  if (type < 1 || type > 6) r.fail("piece type " + std::to_string(type) + " is not one of 1..6");
  if (type == uint64_t(PieceKind::Byte) && !parse_byte_piece(piece))
    r.fail("byte piece '" + piece + "' is not of the form <0xNN>");
  vocab->pieces.push_back(std::move(piece));
  vocab->scores.push_back(score);
  vocab->kinds.push_back(PieceKind(type));
}

}  // namespace

SentencePieceVocab parse_sentencepiece_model(std::string_view bytes, const std::string& name) {
  SentencePieceVocab vocab;
  // Proto defaults where the file leaves a field out.
  uint64_t model_type = 1;  // UNIGRAM
  bool has_trainer_spec = false;
  bool byte_fallback = false;
  bool add_dummy_prefix = true, remove_extra_whitespaces = true;
  std::string normalizer_name;
  size_t charsmap_size = 0;

  ProtoReader top(bytes, name, "ModelProto");
  uint32_t field, wire;
  while (top.next(&field, &wire)) {
    if (field == 1) {
      top.expect(field, wire, kLengthDelimited);
      read_piece(top.bytes("pieces"), vocab.pieces.size(), name, &vocab);
    } else if (field == 2) {
      top.expect(field, wire, kLengthDelimited);
      has_trainer_spec = true;
      ProtoReader r(top.bytes("trainer_spec"), name, "trainer_spec");
      while (r.next(&field, &wire)) {
        auto read_int = [&](int* out) {
          r.expect(field, wire, kVarint);
          *out = r.int32("id");
        };
        switch (field) {
          case 3: r.expect(field, wire, kVarint); model_type = r.varint("model_type"); break;
          case 35: r.expect(field, wire, kVarint); byte_fallback = r.boolean("byte_fallback"); break;
          case 40: read_int(&vocab.unk_id); break;
          case 41: read_int(&vocab.bos_id); break;
          case 42: read_int(&vocab.eos_id); break;
          case 43: read_int(&vocab.pad_id); break;
          default: r.skip(field, wire);
        }
      }
    } else if (field == 3) {
      top.expect(field, wire, kLengthDelimited);
      ProtoReader r(top.bytes("normalizer_spec"), name, "normalizer_spec");
      while (r.next(&field, &wire)) {
        switch (field) {
          case 1: r.expect(field, wire, kLengthDelimited); normalizer_name = std::string(r.bytes("name")); break;
          case 2:
            r.expect(field, wire, kLengthDelimited);
            charsmap_size = r.bytes("precompiled_charsmap").size();
            break;
          case 3: r.expect(field, wire, kVarint); add_dummy_prefix = r.boolean("add_dummy_prefix"); break;
          case 4:
            r.expect(field, wire, kVarint);
            remove_extra_whitespaces = r.boolean("remove_extra_whitespaces");
            break;
          default: r.skip(field, wire);
        }
      }
    } else {
      top.skip(field, wire);
    }
  }

  if (vocab.pieces.empty()) throw FormatError(name, "SentencePiece model has no pieces");
  if (!has_trainer_spec) throw FormatError(name, "SentencePiece model has no trainer_spec (model type unknown)");
  if (model_type != 2) {
    throw FormatError(name, "SentencePiece model type " + std::to_string(model_type) +
                                (model_type == 1 ? " (unigram)" : "") + " is not supported; Llama uses BPE (2)");
  }
  if (charsmap_size != 0) {
    throw FormatError(name, "SentencePiece normalizer '" + normalizer_name +
                                "' (a precompiled character map) is not supported; Llama models use 'identity'");
  }
  if (remove_extra_whitespaces) {
    throw FormatError(name, "SentencePiece normalizer with remove_extra_whitespaces is not supported "
                            "(Llama models keep every space)");
  }
  vocab.byte_fallback = byte_fallback;
  vocab.add_dummy_prefix = add_dummy_prefix;
  return vocab;
}

}  // namespace mlfaas::tokenizer
