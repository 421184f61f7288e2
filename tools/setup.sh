#!/usr/bin/env bash
# Installs what the project needs and is missing, idempotently.
#   tools/setup.sh [core] [bench] [train]
#     core  - compilers, libraries and test tools for `make check` / `make run` (default)
#     bench - peers for benchmarks (Node.js, ONNX Runtime graph builder) - not needed by `make check`
#     train - PyTorch + OpenBLAS for tools/train_emotion.py - not needed by `make check`
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(core)

core_pkgs=(build-essential cmake ninja-build pkg-config git curl ca-certificates
           libutf8proc-dev nlohmann-json3-dev libzip-dev libcli11-dev libfmt-dev
           libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy
           libcurl4-openssl-dev libssl-dev
           libboost-dev libyaml-cpp-dev)
bench_pkgs=(python3-onnx python3-numpy hyperfine)
train_pkgs=(python3-torch python3-numpy libopenblas0-pthread)

want=()
for g in "${groups[@]}"; do
  case "$g" in
    core)  want+=("${core_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    train) want+=("${train_pkgs[@]}") ;;
    *) echo "setup: unknown group '$g' (expected core, bench or train)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# The platform's tests drive `mlfaas serve` with the AWS CLI; keep one that is already on PATH.
for g in "${groups[@]}"; do
  if [ "$g" = core ] && ! command -v aws >/dev/null; then missing+=(awscli); fi
done
# Node.js may come from outside Debian (e.g. a newer build on PATH); only install Debian's when absent.
for g in "${groups[@]}"; do
  if [ "$g" = bench ] && ! command -v node >/dev/null; then missing+=(nodejs npm); fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages for '${groups[*]}' present"
fi
