#pragma once
// A reader for SentencePiece's `tokenizer.model` (a serialized ModelProto), limited to what a BPE tokenizer needs:
//   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece   1 piece, 2 score (float), 3 type (NORMAL=1 .. BYTE=6)
//   TrainerSpec     3 model_type (BPE=2), 35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
//   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces
// Every other field is skipped by its wire type. Every length and varint is checked against the bytes that are
// left; any damage is a FormatError naming `name`. Models this tokenizer would get wrong are refused too: a
// model type other than BPE, a normalizer with a character map (Llama models use "identity"), and
// remove_extra_whitespaces (Llama models turn it off).
#include <string>
#include <string_view>

#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas::tokenizer {

SentencePieceVocab parse_sentencepiece_model(std::string_view bytes, const std::string& name);

}  // namespace mlfaas::tokenizer
