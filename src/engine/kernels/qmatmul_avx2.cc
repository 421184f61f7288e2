// AVX2 quantized kernels (also the AVX-512-without-VNNI level): exact int16-widening steps instead of vpdpbusd.
#define MLFAAS_QM_NS qm_avx2
#define MLFAAS_QM_BYTES 32
#define MLFAAS_QM_VNNI 0
#include "engine/kernels/qmatmul_kernels.inc"
