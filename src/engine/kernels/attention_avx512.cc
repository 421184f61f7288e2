#define MLFAAS_ATTENTION_HEAD attention_head_avx512
#include "engine/kernels/attention_head.inc"
