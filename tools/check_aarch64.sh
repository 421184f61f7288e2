#!/usr/bin/env bash
# Cross-compiles the aarch64 NEON kernels with the portable ones they are checked against, the dispatcher and
# tests/aarch64/kernel_check.cc, then runs the check under qemu on two emulated CPUs: Cortex-A72 (ARMv8.0, no
# dotprod: the widen int8 kernel, and proof that nothing in the binary needs more than ARMv8.0) and Neoverse-N1
# (ARMv8.2 with dotprod: the sdot kernel too). Exits non-zero on any compile error or mismatch.
#   tools/check_aarch64.sh [BUILD_DIR]    (default: a temporary directory)
# Needs g++-aarch64-linux-gnu and qemu-user-static (tools/setup.sh installs both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx=aarch64-linux-gnu-g++
qemu=qemu-aarch64-static
for tool in "$cxx" "$qemu"; do
  if ! command -v "$tool" >/dev/null; then
    echo "check_aarch64: $tool not found; run tools/setup.sh" \
         "(it installs g++-aarch64-linux-gnu and qemu-user-static)" >&2
    exit 1
  fi
done

if [ $# -ge 1 ]; then
  out="$1"; mkdir -p "$out"
else
  out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
fi

k="$root/src/engine/kernels"
# Only what the check links: the engine's other sources need libraries the cross toolchain lacks.
sources=("$k/dispatch.cc" "$k/gemm_portable.cc" "$k/gemm_int8_portable.cc" "$k/attention_portable.cc"
         "$k/ops.cc" "$k/thread_pool.cc" "$k/qmatmul.cc" "$k/qmatmul_amx.cc" "$k/qmatmul_portable.cc"
         "$k/quant_blocks.cc" "$k"/*_neon.cc "$root/tests/aarch64/kernel_check.cc")
# The engine's own flags (C++20, no extensions); no -march, as in src/engine/CMakeLists.txt: the ARMv8.0 baseline.
flags=(-std=c++20 -O2 -I"$root/src" -Wall -Wextra)

start=$SECONDS
pids=()
objects=()
for src in "${sources[@]}"; do
  obj="$out/$(basename "${src%.cc}").o"
  objects+=("$obj")
  extra=()
  case "$src" in *_neon.cc|*/kernel_check.cc) extra=(-Werror) ;; esac  # code no x86 build ever compiles
  timeout 120 "$cxx" "${flags[@]}" "${extra[@]}" -c "$src" -o "$obj" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then  # two compilers at a time: the machine is shared
    wait "${pids[0]}" || { echo "check_aarch64: compiling failed" >&2; exit 1; }
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || { echo "check_aarch64: compiling failed" >&2; exit 1; }; done
# Static, so qemu needs no aarch64 sysroot at run time.
timeout 120 "$cxx" -static "${objects[@]}" -o "$out/kernel_check"
echo "check_aarch64: built in $((SECONDS - start)) s"

status=0
for cpu in cortex-a72:no neoverse-n1:yes; do
  t=$SECONDS
  if timeout 120 "$qemu" -cpu "${cpu%%:*}" "$out/kernel_check" --dotprod "${cpu##*:}"; then
    echo "check_aarch64: ${cpu%%:*} passed in $((SECONDS - t)) s"
  else
    echo "check_aarch64: FAILED on emulated ${cpu%%:*}" >&2
    status=1
  fi
done
exit $status
