// AVX-VNNI quantized kernels: 256-bit VEX vpdpbusd.
#define MLFAAS_QM_NS qm_avxvnni
#define MLFAAS_QM_BYTES 32
#define MLFAAS_QM_VNNI 1
#include "engine/kernels/qmatmul_kernels.inc"
