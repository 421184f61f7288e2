#define MLFAAS_ATTENTION_HEAD attention_head_avx2
#define MLFAAS_LANE_BYTES 32
#include "engine/kernels/attention_head.inc"
