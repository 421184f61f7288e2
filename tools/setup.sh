#!/usr/bin/env bash
# Installs what the project needs and is missing, idempotently.
#   tools/setup.sh [core] [bench] [train] [loadtest] [fuzz]
#     core  - compilers, libraries and test tools for `make check` / `make run` (default; skopeo and umoci read
#             the images `mlfaas package --format image` writes, and skopeo pushes them to ECR)
#     bench - peers for benchmarks (Node.js, ONNX Runtime graph builder) - not needed by `make check`
#     train - PyTorch, scikit-learn + OpenBLAS for tools/train_emotion.py, tools/train_classic.py - not needed by `make check`
#     loadtest - real Locust, for bench/loadtest_locust_crosscheck.sh - not needed by `make check`
#     fuzz  - clang and libFuzzer for -DMLFAAS_FUZZ=ON builds (docs/FUZZING.md) - not needed by `make check`
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(core)

core_pkgs=(build-essential cmake ninja-build pkg-config git curl ca-certificates
           libutf8proc-dev nlohmann-json3-dev libzip-dev libcli11-dev libfmt-dev
           libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy
           libcurl4-openssl-dev libssl-dev python3-aiosmtpd
           libsqlite3-dev python3-prometheus-client chromium
           libboost-dev libyaml-cpp-dev zlib1g-dev
           g++-aarch64-linux-gnu qemu-user-static
           skopeo umoci)
bench_pkgs=(python3-onnx python3-numpy hyperfine wrk time)
train_pkgs=(python3-torch python3-numpy libopenblas0-pthread python3-sklearn)
loadtest_pkgs=(python3-locust)
fuzz_pkgs=(clang libclang-rt-14-dev)

want=()
for g in "${groups[@]}"; do
  case "$g" in
    core)  want+=("${core_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    train) want+=("${train_pkgs[@]}") ;;
    loadtest) want+=("${loadtest_pkgs[@]}") ;;
    fuzz)  want+=("${fuzz_pkgs[@]}") ;;
    *) echo "setup: unknown group '$g' (expected core, bench, train, loadtest or fuzz)" >&2; exit 2 ;;
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
# Node.js builds the web assets (core) and runs peers (bench). It may come from outside Debian (a newer build on
# PATH); Debian's is installed only when none is there.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages for '${groups[*]}' present"
fi
