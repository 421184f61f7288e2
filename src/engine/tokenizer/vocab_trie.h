#pragma once
// Byte trie over a WordPiece vocabulary for greedy longest-match lookups, stored as a double array: the child
// of node s on byte c is slot base[s] + c if that slot's check is s. A step is one load from one small array
// (base, check and an ends-a-token bit share an 8-byte slot, so the step that reaches a node also brings in
// what the next step and the longest-match bookkeeping need), and
// nodes are laid out breadth-first, so the short prefixes that most words walk through sit close together in
// the first few hundred kilobytes. bert-base-uncased: 65k nodes in 65.2k slots, 0.5 MB
// (plus the ids, 0.25 MB, touched once per piece).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace mlfaas::tokenizer {

class VocabTrie {
 public:
  static constexpr int32_t kNoNode = -1;
  static constexpr int32_t kRoot = 0;

  VocabTrie() = default;
  VocabTrie(const VocabTrie& o) : build_(o.build_), slots_(o.slots_), ids_(o.ids_) { repoint(o); }
  VocabTrie& operator=(const VocabTrie&) = delete;

  // Building: insert every token (a later insert of the same token overwrites the id, as Python's dict does
  // in transformers' load_vocab), then finalize() once; lookups are valid only after finalize().
  void insert(std::string_view token, int32_t id);
  void finalize();

  int32_t child(int32_t node, uint8_t byte) const {
    int32_t t = int32_t(slot_data_[size_t(node)].base & kBaseMask) + byte;
    return slot_data_[size_t(t)].check == node ? t : kNoNode;
  }
  // Whether the path from the root to `node` spells a token (read from the slot child() just loaded).
  bool ends_token(int32_t node) const { return slot_data_[size_t(node)].base & kEndsToken; }
  // Token id if the path from the root to `node` spells a token, else -1.
  int32_t token_id(int32_t node) const { return id_data_[size_t(node)]; }
  // Node reached by walking `s` from `from`, or kNoNode.
  int32_t walk(int32_t from, std::string_view s) const;
  size_t slot_count() const { return slot_count_; }

  // The finalized arrays, for a compiled model: slots as (base, check) pairs of 32-bit words, and ids.
  std::span<const uint32_t> slot_words() const {
    return {reinterpret_cast<const uint32_t*>(slot_data_), 2 * slot_count_};
  }
  std::span<const int32_t> ids() const { return {id_data_, slot_count_}; }
  // A finalized trie over arrays slot_words()/ids() gave, in memory that outlives it. Checks that every lookup
  // stays inside the arrays and every id is below `vocab_size`; throws std::invalid_argument otherwise.
  static VocabTrie view(std::span<const uint32_t> slot_words, std::span<const int32_t> ids, int32_t vocab_size);

 private:
  static constexpr uint32_t kEndsToken = 0x80000000u;
  static constexpr uint32_t kBaseMask = 0x7FFFFFFFu;
  struct Slot {
    uint32_t base = 0;   // low 31 bits: base; top bit: a token ends here
    int32_t check = -1;  // parent node; -1 = free
  };
  struct BuildNode {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t id = -1;
  };
  std::vector<BuildNode> build_{BuildNode{}};
  std::vector<Slot> slots_{Slot{0, -2}};  // usable as an empty trie before finalize()
  std::vector<int32_t> ids_{-1};          // token id per slot, read once per matched piece
  // What lookups read: slots_/ids_, or a compiled model's arrays.
  const Slot* slot_data_ = slots_.data();
  const int32_t* id_data_ = ids_.data();
  size_t slot_count_ = 1;

  // Copies point at their own vectors, or at the same external arrays as the original.
  void repoint(const VocabTrie& from) {
    const bool owned = from.slot_data_ == from.slots_.data();
    slot_data_ = owned ? slots_.data() : from.slot_data_;
    id_data_ = owned ? ids_.data() : from.id_data_;
    slot_count_ = from.slot_count_;
  }
};

}  // namespace mlfaas::tokenizer
