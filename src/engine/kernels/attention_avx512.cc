#define MLFAAS_ATTENTION_HEAD attention_head_avx512
#define MLFAAS_LANE_BYTES 64
#include "engine/kernels/attention_head.inc"
