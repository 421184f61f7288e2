#include "engine/tokenizer/vocab_trie.h"

#include <algorithm>
#include <bit>

namespace mlfaas::tokenizer {

VocabTrie::VocabTrie() {
  edges_.assign(1024, Edge{kEmptyKey, kNoNode});
  mask_ = edges_.size() - 1;
  shift_ = 64 - std::countr_zero(edges_.size());
}

void VocabTrie::place(uint64_t key, int32_t child) {
  size_t slot = hash(key);
  while (edges_[slot].key != kEmptyKey) slot = (slot + 1) & mask_;
  edges_[slot] = {key, child};
}

int32_t VocabTrie::add_child(int32_t node, uint8_t byte) {
  // Grow while building so lookups stay valid; keep the load factor at or below 1/2.
  if ((edge_count_ + 1) * 2 > edges_.size()) {
    std::vector<Edge> old = std::move(edges_);
    size_t capacity = std::max<size_t>(1024, old.size() * 2);
    edges_.assign(capacity, Edge{kEmptyKey, kNoNode});
    mask_ = capacity - 1;
    shift_ = 64 - std::countr_zero(capacity);
    for (const Edge& e : old)
      if (e.key != kEmptyKey) place(e.key, e.child);
  }
  int32_t child = int32_t(ids_.size());
  ids_.push_back(-1);
  place(make_key(node, byte), child);
  ++edge_count_;
  return child;
}

void VocabTrie::insert(std::string_view token, int32_t id) {
  int32_t node = kRoot;
  for (char c : token) {
    int32_t next = child(node, uint8_t(c));
    node = next == kNoNode ? add_child(node, uint8_t(c)) : next;
  }
  ids_[node] = id;
}

void VocabTrie::finalize() {
  // A load factor near 1/4 keeps probe chains short for the hot lookups.
  size_t want = std::bit_ceil(std::max<size_t>(1024, edge_count_ * 4));
  if (want == edges_.size()) return;
  std::vector<Edge> old = std::move(edges_);
  edges_.assign(want, Edge{kEmptyKey, kNoNode});
  mask_ = want - 1;
  shift_ = 64 - std::countr_zero(want);
  for (const Edge& e : old)
    if (e.key != kEmptyKey) place(e.key, e.child);
}

int32_t VocabTrie::walk(int32_t from, std::string_view s) const {
  int32_t node = from;
  for (char c : s) {
    node = child(node, uint8_t(c));
    if (node == kNoNode) return kNoNode;
  }
  return node;
}

}  // namespace mlfaas::tokenizer
