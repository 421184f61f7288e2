#define MLFAAS_ATTENTION_HEAD attention_head_avx2
#include "engine/kernels/attention_head.inc"
