#pragma once
// Byte trie over a WordPiece vocabulary, used for greedy longest-match lookups. Transitions live in one
// open-addressing hash table keyed by (node, byte), so a step is one multiply and (almost always) one probe,
// with no per-node child arrays; the whole structure is a few flat vectors built once at load time.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mlfaas::tokenizer {

class VocabTrie {
 public:
  static constexpr int32_t kNoNode = -1;
  static constexpr int32_t kRoot = 0;

  VocabTrie();

  // Adds a token; a later insert of the same token overwrites the id, as Python's dict does in HF's load_vocab.
  void insert(std::string_view token, int32_t id);
  // Call once after all inserts; sizes the transition table for a low load factor.
  void finalize();

  int32_t child(int32_t node, uint8_t byte) const {
    uint64_t key = make_key(node, byte);
    size_t slot = hash(key);
    for (;;) {
      const Edge& e = edges_[slot];
      if (e.key == key) return e.child;
      if (e.key == kEmptyKey) return kNoNode;
      slot = (slot + 1) & mask_;
    }
  }
  // Token id if the path from the root to `node` spells a token, else -1.
  int32_t token_id(int32_t node) const { return ids_[node]; }
  // Node reached by walking `s` from `from`, or kNoNode.
  int32_t walk(int32_t from, std::string_view s) const;
  size_t node_count() const { return ids_.size(); }

 private:
  struct Edge {
    uint64_t key;
    int32_t child;
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};
  static uint64_t make_key(int32_t node, uint8_t byte) { return (uint64_t(uint32_t(node)) << 8) | byte; }
  size_t hash(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  void place(uint64_t key, int32_t child);
  int32_t add_child(int32_t node, uint8_t byte);

  std::vector<int32_t> ids_{-1};  // per node; node 0 is the root
  std::vector<Edge> edges_;
  size_t edge_count_ = 0;
  size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace mlfaas::tokenizer
