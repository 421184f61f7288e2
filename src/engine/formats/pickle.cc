// Restricted unpickler: a stack machine over the opcodes torch.save's state dicts use. Globals are looked up in
// a fixed table and become inert markers; REDUCE only "calls" those markers, building plain descriptions of
// tensors. Nothing in the input can make this code run anything else.
//
// Resource bounds: every opcode consumes at least one input byte and does amortised O(1) work, so time is linear
// in the input. Stack, marks, memo, values created and references held by containers are capped (UnpickleLimits),
// which bounds memory. Containers may not be changed once stored inside another value (state dicts never do so)
// nor put inside themselves, which rules out reference cycles and keeps nesting depth exact, so destruction
// cannot recurse deeper than max_nesting.
#include "engine/formats/pickle.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_map>

#include "engine/error.h"

namespace mlfaas {

const char* pickle_opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "unknown";
  }
}

namespace {

enum class Kind : uint8_t { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };

// What an allowed global stands for. Storage types only ever appear inside a persistent id.
enum class Callable : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, StorageType };

struct AllowedGlobal {
  const char* qualified_name;
  Callable callable;
  DType dtype;  // for storage types
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections.OrderedDict", Callable::OrderedDict, DType::F32},
    {"torch._utils._rebuild_tensor_v2", Callable::RebuildTensorV2, DType::F32},
    {"torch._utils._rebuild_parameter", Callable::RebuildParameter, DType::F32},
    {"torch._utils._rebuild_parameter_with_state", Callable::RebuildParameterWithState, DType::F32},
    {"torch.FloatStorage", Callable::StorageType, DType::F32},
    {"torch.HalfStorage", Callable::StorageType, DType::F16},
    {"torch.BFloat16Storage", Callable::StorageType, DType::BF16},
    {"torch.DoubleStorage", Callable::StorageType, DType::F64},
    {"torch.LongStorage", Callable::StorageType, DType::I64},
    {"torch.IntStorage", Callable::StorageType, DType::I32},
    {"torch.ShortStorage", Callable::StorageType, DType::I16},
    {"torch.CharStorage", Callable::StorageType, DType::I8},
    {"torch.ByteStorage", Callable::StorageType, DType::U8},
    {"torch.BoolStorage", Callable::StorageType, DType::Bool},
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  Kind kind = Kind::None;
  bool frozen = false;  // stored inside another value: may no longer change
  int depth = 0;        // containers below (and including) this one
  int64_t i = 0;        // Int, Bool
  double f = 0;
  std::string s;        // String; Global: qualified name
  std::vector<ValuePtr> items;  // Tuple, List; Dict as key, value, key, value, ...
  const AllowedGlobal* global = nullptr;
  size_t storage = 0;
  std::unique_ptr<PickledTensor> tensor;  // rare; kept out of line so every other value stays small
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

class Unpickler {
 public:
  Unpickler(std::span<const std::byte> in, const std::string& path, const std::string& entry, const UnpickleLimits& limits)
      : in_(in), path_(path), entry_(entry), limits_(limits) {}

  PickledStateDict run() {
    while (true) {
      op_pos_ = pos_;
      const uint8_t op = u8();
      if (step(op)) break;
    }
    if (stack_.size() != 1 || !marks_.empty()) fail("pickle ends with " + std::to_string(stack_.size()) + " values on its stack");
    return to_state_dict(*stack_.back());
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw FormatError(path_, problem + " (at byte " + std::to_string(op_pos_) + " of " + entry_ + ")");
  }

  // ---- input ----
  void need(size_t n) const {
    if (n > in_.size() - pos_) fail("pickle is truncated");
  }
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint64_t le(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + k])) << (8 * k);
    pos_ += n;
    return v;
  }
  std::string bytes(uint64_t n) {
    if (n > in_.size() - pos_) fail("pickle is truncated");
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string line() {
    constexpr size_t kMaxLine = 256;  // module and attribute names are short
    for (size_t k = pos_; k < in_.size() && k - pos_ <= kMaxLine; ++k) {
      if (in_[k] == std::byte{'\n'}) {
        std::string s(reinterpret_cast<const char*>(in_.data() + pos_), k - pos_);
        pos_ = k + 1;
        return s;
      }
    }
    fail("pickle GLOBAL name is not terminated by a newline");
  }

  // Each opcode reads at least one byte, but a value costs ~100 bytes: the count caps memory for a large pickle.
  ValuePtr make(Kind k) {
    if (++values_ > limits_.max_values) fail("pickle creates more than " + std::to_string(limits_.max_values) + " values");
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
  }

  // ---- stack ----
  void push(ValuePtr v) {
    if (stack_.size() >= limits_.max_stack) fail("pickle stack grows beyond " + std::to_string(limits_.max_stack) + " values");
    stack_.push_back(std::move(v));
  }
  ValuePtr pop() {
    if (stack_.size() <= floor()) fail("pickle pops from an empty stack");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.size() <= floor()) fail("pickle reads from an empty stack");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty()) fail("pickle has no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<ptrdiff_t>(m)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }

  // ---- containers ----
  void adopt(Value& parent, ValuePtr child) {
    // Only unfrozen containers change, and an unfrozen one is inside nothing, so putting it into itself is the
    // only way to make a cycle.
    if (child.get() == &parent) fail(std::string("pickle puts a ") + kind_name(parent.kind) + " inside itself, which a state dict never does");
    if (++items_ > limits_.max_items) fail("pickle stores more than " + std::to_string(limits_.max_items) + " references in containers");
    child->frozen = true;
    if (child->depth + 1 > parent.depth) parent.depth = child->depth + 1;
    if (parent.depth > limits_.max_nesting) fail("pickle nests containers deeper than " + std::to_string(limits_.max_nesting));
    parent.items.push_back(std::move(child));
  }
  ValuePtr make_tuple(std::vector<ValuePtr> items) {
    ValuePtr t = make(Kind::Tuple);
    t->depth = 1;
    t->items.reserve(items.size());
    for (auto& it : items) adopt(*t, std::move(it));
    return t;
  }
  Value& mutable_container(ValuePtr& v, Kind want, const char* opname) {
    if (v->kind != want) fail(std::string("pickle ") + opname + " on a " + kind_name(v->kind) + ", expected a " + kind_name(want));
    if (v->frozen) fail(std::string("pickle ") + opname + " changes a " + kind_name(want) + " already stored elsewhere, which a state dict never does");
    return *v;
  }

  // ---- memo ----
  void memo_put(uint64_t index) {
    ValuePtr& v = top();
    auto it = memo_.find(index);
    if (it == memo_.end() && memo_.size() >= limits_.max_memo) fail("pickle memo grows beyond " + std::to_string(limits_.max_memo) + " entries");
    memo_[index] = v;
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("pickle reads memo entry " + std::to_string(index) + ", which was never stored");
    push(it->second);
  }

  ValuePtr make_int(int64_t x) {
    ValuePtr v = make(Kind::Int);
    v->i = x;
    return v;
  }
  ValuePtr make_string(std::string s) {
    ValuePtr v = make(Kind::String);
    v->s = std::move(s);
    return v;
  }

  void global(const std::string& module, const std::string& name) {
    const std::string qualified = module + "." + name;
    for (const AllowedGlobal& g : kAllowedGlobals) {
      if (qualified == g.qualified_name) {
        ValuePtr v = make(Kind::Global);
        v->s = qualified;
        v->global = &g;
        push(std::move(v));
        return;
      }
    }
    fail("pickle asks for global '" + qualified + "', which a state dict does not need");
  }

  // ---- torch objects ----
  int64_t want_int(const ValuePtr& v, const char* what) const {
    if (v->kind != Kind::Int) fail(std::string(what) + " is a " + kind_name(v->kind) + ", expected an int");
    return v->i;
  }
  std::vector<int64_t> want_int_tuple(const ValuePtr& v, const char* what) const {
    if (v->kind != Kind::Tuple) fail(std::string(what) + " is a " + kind_name(v->kind) + ", expected a tuple");
    if (v->items.size() > static_cast<size_t>(limits_.max_rank)) {
      fail(std::string(what) + " has " + std::to_string(v->items.size()) + " dimensions (at most " +
           std::to_string(limits_.max_rank) + " supported)");
    }
    std::vector<int64_t> out;
    for (const ValuePtr& d : v->items) {
      const int64_t x = want_int(d, what);
      if (x < 0) fail(std::string(what) + " has a negative entry " + std::to_string(x));
      out.push_back(x);
    }
    return out;
  }

  ValuePtr persistent_load(const ValuePtr& pid) {
    // ('storage', StorageType, key, location, numel): how torch.save refers to a storage kept in data/<key>.
    if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::String ||
        pid->items[0]->s != "storage") {
      fail("pickle persistent id is not a ('storage', type, key, location, size) tuple");
    }
    const ValuePtr& type = pid->items[1];
    if (type->kind != Kind::Global || type->global->callable != Callable::StorageType) {
      fail("pickle persistent id names no storage type");
    }
    if (pid->items[2]->kind != Kind::String || pid->items[3]->kind != Kind::String) {
      fail("pickle persistent id has a non-string storage key or location");
    }
    const std::string& key = pid->items[2]->s;
    if (key.empty() || key.size() > 64 || key.find('/') != std::string::npos) fail("pickle storage key '" + key.substr(0, 64) + "' is not a data/ entry name");
    const int64_t numel = want_int(pid->items[4], "storage size");
    if (numel < 0) fail("storage '" + key + "' has negative size");
    const DType dtype = type->global->dtype;
    auto [it, inserted] = storage_index_.emplace(key, out_.storages.size());
    if (inserted) {
      out_.storages.push_back({key, dtype, static_cast<uint64_t>(numel)});
    } else {
      const PickledStorage& s = out_.storages[it->second];
      if (s.dtype != dtype || s.numel != static_cast<uint64_t>(numel)) {
        fail("storage '" + key + "' is declared twice with different types or sizes");
      }
    }
    ValuePtr v = make(Kind::Storage);
    v->storage = it->second;
    return v;
  }

  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args) {
    if (callable->kind != Kind::Global) fail(std::string("pickle REDUCE calls a ") + kind_name(callable->kind));
    if (args->kind != Kind::Tuple) fail("pickle REDUCE arguments are not a tuple");
    const auto& a = args->items;
    switch (callable->global->callable) {
      case Callable::OrderedDict: {
        if (!a.empty()) fail("pickle builds an OrderedDict with arguments, which torch.save never writes");
        ValuePtr d = make(Kind::Dict);
        d->depth = 1;
        return d;
      }
      case Callable::RebuildTensorV2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
        if (a[0]->kind != Kind::Storage) fail("_rebuild_tensor_v2's first argument is not a storage");
        ValuePtr t = make(Kind::Tensor);
        t->tensor = std::make_unique<PickledTensor>();
        PickledTensor& pt = *t->tensor;
        pt.storage = a[0]->storage;
        const int64_t offset = want_int(a[1], "storage offset");
        if (offset < 0) fail("negative storage offset");
        pt.storage_offset = static_cast<uint64_t>(offset);
        pt.sizes = want_int_tuple(a[2], "tensor size");
        pt.strides = want_int_tuple(a[3], "tensor stride");
        if (pt.sizes.size() != pt.strides.size()) fail("tensor size and stride have different ranks");
        return t;
      }
      case Callable::RebuildParameter:
      case Callable::RebuildParameterWithState: {
        // (data, requires_grad, backward_hooks[, state]): a Parameter is its data tensor for inference.
        const size_t want = callable->global->callable == Callable::RebuildParameter ? 3 : 4;
        if (a.size() != want) fail(callable->s + " takes " + std::to_string(want) + " arguments, got " + std::to_string(a.size()));
        if (a[0]->kind != Kind::Tensor) fail(callable->s + "'s first argument is not a tensor");
        return a[0];
      }
      case Callable::StorageType:
        break;
    }
    fail("pickle calls '" + callable->s + "', which a state dict never does");
  }

  void build() {
    ValuePtr state = pop();
    ValuePtr& obj = top();
    // OrderedDict.__reduce__ passes its instance attributes (a state dict's _metadata) as BUILD state; the
    // metadata holds module versions, which inference does not use.
    if (obj->kind == Kind::Dict && (state->kind == Kind::Dict || state->kind == Kind::None)) return;
    fail(std::string("pickle BUILD on a ") + kind_name(obj->kind) + ", which a state dict never does");
  }

  // Returns true at STOP.
  bool step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t version = u8();
        if (version > 5) fail("pickle protocol " + std::to_string(version) + " is not supported");
        return false;
      }
      case 0x95:  // FRAME: a length hint only
        le(8);
        return false;
      case '}': {
        ValuePtr d = make(Kind::Dict);
        d->depth = 1;
        push(std::move(d));
        return false;
      }
      case ']': {
        ValuePtr l = make(Kind::List);
        l->depth = 1;
        push(std::move(l));
        return false;
      }
      case ')': push(make_tuple({})); return false;
      case '(':
        if (marks_.size() >= limits_.max_stack) fail("pickle has too many MARKs");
        marks_.push_back(stack_.size());
        return false;
      case 'X': push(make_string(bytes(le(4)))); return false;
      case 0x8c: push(make_string(bytes(u8()))); return false;
      case 0x8d: push(make_string(bytes(le(8)))); return false;
      case 'J': push(make_int(static_cast<int32_t>(le(4)))); return false;
      case 'K': push(make_int(u8())); return false;
      case 'M': push(make_int(static_cast<int64_t>(le(2)))); return false;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const uint8_t n = u8();
        if (n > 8) fail("pickle integer of " + std::to_string(n) + " bytes is too large");
        uint64_t x = le(n);
        if (n > 0 && n < 8 && (x >> (8 * n - 1)) & 1) x |= ~uint64_t{0} << (8 * n);
        push(make_int(static_cast<int64_t>(x)));
        return false;
      }
      case 'G': {  // BINFLOAT: big-endian double
        need(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = bits << 8 | static_cast<uint8_t>(in_[pos_ + k]);
        pos_ += 8;
        ValuePtr v = make(Kind::Float);
        std::memcpy(&v->f, &bits, sizeof bits);
        push(std::move(v));
        return false;
      }
      case 't': push(make_tuple(pop_to_mark())); return false;
      case 0x85: case 0x86: case 0x87: {
        const size_t n = op - 0x84u;
        std::vector<ValuePtr> items(n);
        for (size_t k = n; k-- > 0;) items[k] = pop();
        push(make_tuple(std::move(items)));
        return false;
      }
      case 'q': memo_put(u8()); return false;
      case 'r': memo_put(le(4)); return false;
      case 0x94: memo_put(memo_.size()); return false;
      case 'h': memo_get(u8()); return false;
      case 'j': memo_get(le(4)); return false;
      case 's': {
        ValuePtr value = pop();
        ValuePtr key = pop();
        Value& d = mutable_container(top(), Kind::Dict, "SETITEM");
        adopt(d, std::move(key));
        adopt(d, std::move(value));
        return false;
      }
      case 'u': {
        std::vector<ValuePtr> items = pop_to_mark();
        if (items.size() % 2 != 0) fail("pickle SETITEMS has an odd number of values");
        Value& d = mutable_container(top(), Kind::Dict, "SETITEMS");
        for (auto& it : items) adopt(d, std::move(it));
        return false;
      }
      case 'a': {
        ValuePtr item = pop();
        adopt(mutable_container(top(), Kind::List, "APPEND"), std::move(item));
        return false;
      }
      case 'e': {
        std::vector<ValuePtr> items = pop_to_mark();
        Value& l = mutable_container(top(), Kind::List, "APPENDS");
        for (auto& it : items) adopt(l, std::move(it));
        return false;
      }
      case 'c': {
        std::string module = line();
        std::string name = line();
        global(module, name);
        return false;
      }
      case 0x93: {  // STACK_GLOBAL
        ValuePtr name = pop();
        ValuePtr module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) fail("pickle STACK_GLOBAL names are not strings");
        global(module->s, name->s);
        return false;
      }
      case 'R': {
        ValuePtr args = pop();
        ValuePtr callable = pop();
        push(reduce(callable, args));
        return false;
      }
      case 'b': build(); return false;
      case 'Q': {
        ValuePtr pid = pop();
        push(persistent_load(pid));
        return false;
      }
      case 0x88: case 0x89: {
        ValuePtr v = make(Kind::Bool);
        v->i = op == 0x88;
        push(std::move(v));
        return false;
      }
      case 'N': push(make(Kind::None)); return false;
      case '.': return true;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("pickle opcode ") + hex + " '" + pickle_opcode_name(op) + "' is not allowed in a state dict");
      }
    }
  }

  PickledStateDict to_state_dict(const Value& root) {
    if (root.kind != Kind::Dict) fail(std::string("pickle holds a ") + kind_name(root.kind) + ", not a state dict");
    for (size_t k = 0; k + 1 < root.items.size(); k += 2) {
      const Value& key = *root.items[k];
      const Value& value = *root.items[k + 1];
      if (key.kind != Kind::String) fail(std::string("state dict key is a ") + kind_name(key.kind) + ", expected a str");
      if (key.s.size() > limits_.max_name_bytes) fail("state dict key of " + std::to_string(key.s.size()) + " bytes is too long");
      if (value.kind != Kind::Tensor) {
        fail("state dict entry '" + key.s + "' is a " + kind_name(value.kind) + ", not a tensor");
      }
      PickledTensor t = *value.tensor;
      t.name = key.s;
      out_.tensors.push_back(std::move(t));
    }
    return std::move(out_);
  }

  std::span<const std::byte> in_;
  const std::string& path_;
  const std::string& entry_;
  const UnpickleLimits& limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  size_t values_ = 0;
  size_t items_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::unordered_map<std::string, size_t> storage_index_;
  PickledStateDict out_;
};

}  // namespace

PickledStateDict unpickle_state_dict(std::span<const std::byte> pickle, const std::string& path,
                                     const std::string& entry, const UnpickleLimits& limits) {
  return Unpickler(pickle, path, entry, limits).run();
}

}  // namespace mlfaas
