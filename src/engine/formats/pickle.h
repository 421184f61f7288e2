#pragma once
// A restricted unpickler for the state dicts that torch.save writes into pytorch_model.bin. It understands only
// the opcodes and globals such a pickle uses, executes nothing, and bounds its stack, memo, nesting and output,
// so a hostile file can at worst be refused. The result names each tensor's storage, offset, sizes and strides;
// pytorch_bin.cc maps storages to the zip entries that hold their bytes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/formats/weights.h"

namespace mlfaas {

struct PickledStorage {
  std::string key;       // the archive's data/<key> entry
  DType dtype = DType::F32;
  uint64_t numel = 0;    // elements the storage holds, as the pickle declares it
};

struct PickledTensor {
  std::string name;
  size_t storage = 0;    // index into PickledStateDict::storages
  uint64_t storage_offset = 0;  // in elements
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;  // in elements
};

struct PickledStateDict {
  std::vector<PickledStorage> storages;  // one per distinct key, in order of first use
  std::vector<PickledTensor> tensors;    // in the dict's order
};

struct UnpickleLimits {
  size_t max_stack = 1u << 20;        // values on the stack (marks included)
  size_t max_memo = 1u << 20;         // memo entries
  size_t max_values = 1u << 21;       // values created (~20 per tensor; a 10k-tensor model needs 200k)
  size_t max_items = 1u << 22;        // references stored in tuples, lists and dicts, all together
  int max_nesting = 32;               // containers inside containers
  size_t max_name_bytes = 4096;       // a tensor name; longer is not a state dict
  int max_rank = 64;                  // tensor dimensions
};

// Parses `pickle` (the archive's data.pkl). Problems throw FormatError(path, "... (at byte N of <entry>)").
PickledStateDict unpickle_state_dict(std::span<const std::byte> pickle, const std::string& path,
                                     const std::string& entry, const UnpickleLimits& limits = {});

// The pickle opcode's name as Python's pickletools spells it ("GLOBAL"), or "unknown".
const char* pickle_opcode_name(uint8_t opcode);

}  // namespace mlfaas
