#define MLFAAS_ATTENTION_HEAD attention_head_portable
#include "engine/kernels/attention_head.inc"
