#pragma once
// Byte trie over a WordPiece vocabulary for greedy longest-match lookups, stored as a double array: the child
// of node s on byte c is slot base[s] + c if that slot's check is s. A step is one load from one small array
// (base, check and token id share a slot, so the step that reaches a node also brings in its base and id), and
// nodes are laid out breadth-first, so the short prefixes that most words walk through sit close together in
// the first few hundred kilobytes. bert-base-uncased: 65k nodes, under 1 MB.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace mlfaas::tokenizer {

class VocabTrie {
 public:
  static constexpr int32_t kNoNode = -1;
  static constexpr int32_t kRoot = 0;

  // Building: insert every token (a later insert of the same token overwrites the id, as Python's dict does
  // in transformers' load_vocab), then finalize() once; lookups are valid only after finalize().
  void insert(std::string_view token, int32_t id);
  void finalize();

  int32_t child(int32_t node, uint8_t byte) const {
    int32_t t = slots_[size_t(node)].base + byte;
    return slots_[size_t(t)].check == node ? t : kNoNode;
  }
  // Token id if the path from the root to `node` spells a token, else -1.
  int32_t token_id(int32_t node) const { return slots_[size_t(node)].id; }
  // Node reached by walking `s` from `from`, or kNoNode.
  int32_t walk(int32_t from, std::string_view s) const;
  size_t slot_count() const { return slots_.size(); }

 private:
  struct Slot {
    int32_t base = 0;
    int32_t check = -1;  // parent node; -1 = free
    int32_t id = -1;
  };
  struct BuildNode {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t id = -1;
  };
  std::vector<BuildNode> build_{BuildNode{}};
  std::vector<Slot> slots_{Slot{0, -2, -1}};  // usable as an empty trie before finalize()
};

}  // namespace mlfaas::tokenizer
