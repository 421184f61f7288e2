// AVX-512 VNNI quantized kernels: 512-bit vpdpbusd (the Avx512Vnni level).
#define MLFAAS_QM_NS qm_avx512vnni
#define MLFAAS_QM_BYTES 64
#define MLFAAS_QM_VNNI 1
#include "engine/kernels/qmatmul_kernels.inc"
