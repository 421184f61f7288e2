#define MLFAAS_ATTENTION_HEAD attention_head_portable
#define MLFAAS_LANE_BYTES 16
#include "engine/kernels/attention_head.inc"
