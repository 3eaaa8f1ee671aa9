#!/usr/bin/env bash
# Installs every Debian package densenet needs to build, test and run.
# Idempotent: when everything is already installed it prints one line and exits.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config
  # compiler: MLIR 19 and its tools (lit needs llvm-19-tools, FileCheck is in llvm-19)
  llvm-19-dev libmlir-19-dev mlir-19-tools llvm-19-tools
  nlohmann-json3-dev zlib1g-dev
  # tests
  googletest libgtest-dev python3
  # runtime: CPU kernels, multi-process, real data
  libdnnl-dev libcli11-dev openmpi-bin libopenmpi-dev dataset-fashion-mnist
  # cross-checks against torchvision (lit: test/lit/presets/torchvision.test)
  python3-torchvision
  # fuzz targets (scripts/fuzz.sh): clang 19, the LLVM the project builds
  # against, with libFuzzer, and its OpenMP (the runtime's CMake requires one)
  clang-19 libclang-rt-19-dev libomp-19-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${#missing[@]} packages"
