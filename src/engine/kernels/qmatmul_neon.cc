// aarch64 quantized kernels: the generic-vector code compiled for NEON (GCC maps 32-byte vectors to q-register pairs).
#define MLFAAS_QM_NS qm_neon
#define MLFAAS_QM_BYTES 32
#define MLFAAS_QM_VNNI 0
#include "engine/kernels/qmatmul_kernels.inc"
