#!/usr/bin/env bash
# The aarch64 NEON kernels, cross-compiled and run under qemu against the portable ones (tools/check_aarch64.sh):
# on an x86 build machine this is the only place they are compiled at all. Fails, naming tools/setup.sh, when the
# cross compiler or qemu is missing.
set -euo pipefail
: "${MLFAAS_SOURCE:?}" "${MLFAAS_BUILD:?}"
exec timeout 100 "$MLFAAS_SOURCE/tools/check_aarch64.sh" "$MLFAAS_BUILD/aarch64_check"
