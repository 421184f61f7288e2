// Portable quantized kernels: GCC generic vectors of 32 bytes, integer steps in plain C.
#define MLFAAS_QM_NS qm_portable
#define MLFAAS_QM_BYTES 32
#define MLFAAS_QM_VNNI 0
#include "engine/kernels/qmatmul_kernels.inc"
