#include "engine/kernels/quant_blocks.h"

namespace mlfaas {

const char* quant_type_name(QuantType t) {
  switch (t) {
    case QuantType::F32: return "F32";
    case QuantType::F16: return "F16";
    case QuantType::Q4_0: return "Q4_0";
    case QuantType::Q8_0: return "Q8_0";
    case QuantType::Q4_K: return "Q4_K";
    case QuantType::Q6_K: return "Q6_K";
    case QuantType::BF16: return "BF16";
    case QuantType::Q4_0_X16: return "Q4_0_X16";
    case QuantType::Q8_0_X16: return "Q8_0_X16";
  }
  return "?";
}

bool quant_type_known(uint32_t id) {
  const auto t = static_cast<QuantType>(id);
  return quant_block_elems(t) != 0 && !quant_type_x16(t);
}

}  // namespace mlfaas
