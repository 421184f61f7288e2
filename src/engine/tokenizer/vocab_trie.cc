#include "engine/tokenizer/vocab_trie.h"

#include <algorithm>
#include <stdexcept>

namespace mlfaas::tokenizer {

void VocabTrie::insert(std::string_view token, int32_t id) {
  int32_t node = 0;
  for (char ch : token) {
    auto c = uint8_t(ch);
    auto& kids = build_[size_t(node)].children;
    auto it = std::lower_bound(kids.begin(), kids.end(), c, [](const auto& e, uint8_t b) { return e.first < b; });
    if (it != kids.end() && it->first == c) {
      node = it->second;
      continue;
    }
    int32_t next = int32_t(build_.size());
    kids.insert(it, {c, next});  // `kids` stays valid: build_ grows only below
    build_.emplace_back();
    node = next;
  }
  build_[size_t(node)].id = id;
}

namespace {

// Free slots of the double array while it is built: every slot at or past `frontier` is free, and the free
// slots below it ("holes") form an ascending doubly-linked list, so a base search visits only free slots.
class SlotAllocator {
 public:
  static constexpr int kMaxHolesTried = 256;  // bounds build time; past that, place at the frontier

  // Lowest base >= 1 at which every label's slot is free.
  int32_t find_base(const std::vector<uint8_t>& labels) const {
    int tried = 0;
    for (int32_t h = next_[0]; h != 0 && tried < kMaxHolesTried; h = next_[size_t(h)], ++tried) {
      int32_t base = h - labels.front();
      if (base < 1) continue;
      if (std::all_of(labels.begin(), labels.end(), [&](uint8_t l) { return is_free(base + l); })) return base;
    }
    return std::max<int32_t>(1, frontier_ - labels.front());
  }
  // Marks base + label occupied for every label (ascending).
  void occupy(int32_t base, const std::vector<uint8_t>& labels) {
    for (uint8_t l : labels) {
      int32_t t = base + l;
      if (t < frontier_) {
        unlink(t);
        continue;
      }
      for (int32_t s = frontier_; s < t; ++s) append_hole(s);
      frontier_ = t + 1;
    }
  }
  int32_t frontier() const { return frontier_; }

 private:
  bool is_free(int32_t slot) const { return slot >= frontier_ || in_list(slot); }
  bool in_list(int32_t slot) const { return size_t(slot) < next_.size() && prev_[size_t(slot)] != -1; }
  void ensure(int32_t slot) {
    if (size_t(slot) >= next_.size()) {
      next_.resize(size_t(slot) + 1024, -1);
      prev_.resize(size_t(slot) + 1024, -1);
    }
  }
  void append_hole(int32_t s) {
    ensure(s);
    int32_t last = prev_[0];
    next_[size_t(last)] = s;
    prev_[size_t(s)] = last;
    next_[size_t(s)] = 0;
    prev_[0] = s;
  }
  void unlink(int32_t s) {
    int32_t p = prev_[size_t(s)], n = next_[size_t(s)];
    next_[size_t(p)] = n;
    prev_[size_t(n)] = p;
    prev_[size_t(s)] = next_[size_t(s)] = -1;
  }

  int32_t frontier_ = 1;                   // slot 0 is the root
  std::vector<int32_t> next_{0}, prev_{0};  // index 0 doubles as the list's sentinel (the root is never free)
};

}  // namespace

void VocabTrie::finalize() {
  // Breadth-first placement; the array keeps 256 slots past the highest base, so child() needs no bounds check.
  SlotAllocator alloc;
  std::vector<std::pair<int32_t, int32_t>> placed;  // (build node, slot), in breadth-first order
  std::vector<int32_t> base_of{0};
  placed.emplace_back(0, 0);
  std::vector<int32_t> parent_slot{-2};
  std::vector<uint8_t> labels;
  for (size_t i = 0; i < placed.size(); ++i) {
    const auto& kids = build_[size_t(placed[i].first)].children;
    if (kids.empty()) continue;
    labels.clear();
    for (const auto& k : kids) labels.push_back(k.first);
    int32_t base = alloc.find_base(labels);
    alloc.occupy(base, labels);
    base_of[i] = base;
    for (const auto& [byte, child] : kids) {
      placed.emplace_back(child, base + byte);
      base_of.push_back(0);
      parent_slot.push_back(placed[i].second);
    }
  }
  int32_t max_base = *std::max_element(base_of.begin(), base_of.end());
  slots_.assign(std::max(size_t(max_base) + 256, size_t(alloc.frontier())), Slot{});
  ids_.assign(slots_.size(), -1);
  for (size_t i = 0; i < placed.size(); ++i) {
    size_t slot = size_t(placed[i].second);
    int32_t id = build_[size_t(placed[i].first)].id;
    slots_[slot].base = uint32_t(base_of[i]) | (id >= 0 ? kEndsToken : 0);
    slots_[slot].check = parent_slot[i];
    ids_[slot] = id;
  }
  build_.clear();
  build_.shrink_to_fit();
  slot_data_ = slots_.data();
  id_data_ = ids_.data();
  slot_count_ = slots_.size();
}

VocabTrie VocabTrie::view(std::span<const uint32_t> slot_words, std::span<const int32_t> ids, int32_t vocab_size) {
  static_assert(sizeof(Slot) == 2 * sizeof(uint32_t));
  const size_t n = slot_words.size() / 2;
  if (slot_words.size() % 2 != 0 || n == 0 || ids.size() != n || n > size_t(INT32_MAX)) {
    throw std::invalid_argument("trie arrays of inconsistent sizes");
  }
  const Slot* slots = reinterpret_cast<const Slot*>(slot_words.data());
  for (size_t s = 0; s < n; ++s) {
    // child() reads slot base + byte for every byte, unchecked: all 256 must be inside the array.
    if (size_t(slots[s].base & kBaseMask) + 255 >= n) throw std::invalid_argument("trie slot points outside the array");
    if (ids[s] < -1 || ids[s] >= vocab_size) throw std::invalid_argument("trie holds an id outside the vocabulary");
    if (((slots[s].base & kEndsToken) != 0) != (ids[s] >= 0)) throw std::invalid_argument("trie token marks disagree");
  }
  VocabTrie t;
  t.build_.clear();
  t.slots_.clear();
  t.ids_.clear();
  t.slot_data_ = slots;
  t.id_data_ = ids.data();
  t.slot_count_ = n;
  return t;
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
