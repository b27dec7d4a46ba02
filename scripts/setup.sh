#!/usr/bin/env bash
# Installs every dependency flashmoe needs from Debian's packages. Idempotent: packages already
# present are not touched, and `apt-get update` runs only when something is missing.
# The CUDA toolkit is optional (CUDA targets are built when nvcc is found; the CPU build uses
# libcu++ from it when present and std::atomic_ref otherwise).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  googletest libgtest-dev                 # C++ tests
  nlohmann-json3-dev                      # configuration files
  libdnnl-dev                             # CPU tile GEMMs (oneDNN: AMX / AVX-512 bf16, fp32)
  libopenblas0-pthread                    # CPU tile GEMMs on AVX2-only CPUs (OpenBLAS, loaded
                                          # at run time, platform/cpu/openblas.hpp); also
                                          # torch's BLAS (libblas.so.3), which the PyTorch
                                          # comparison (scripts/bench_vs_torch.py) needs for
                                          # a fair baseline
  ocl-icd-opencl-dev                      # oneDNN's CMake config requires OpenCL (its GPU
                                          # runtime); only a recommendation of libdnnl-dev
  libopenmpi-dev openmpi-bin              # MPI transport
  python3 python3-numpy python3-pytest pybind11-dev python3-torch python3-mpi4py
  python3-pip                             # the pinned CUDA-side tools below, into .deps/
  python3-venv python3-packaging python3-pathspec  # `pip install .` into a venv; the pinned
                                          # scikit-build-core below needs packaging, pathspec
  debootstrap                             # the test suite's set-up-from-nothing stage
  clang libclang-rt-14-dev                # the readers' fuzz targets (libFuzzer lives in
                                          # libclang-rt; scripts/fuzz.sh)
  iproute2                                # test hosts in network namespaces (scripts/netns)
  python3-matplotlib=3.6.3-1+b1           # scripts/netns/plot_bench.py (pinned: the plot's
                                          # look is part of docs/benchmarks.md)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "${p%%=*}" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# `pip install -e . --no-build-isolation` (FlashDMoE's install command) builds with the build
# backend already installed, and Debian 12 has no scikit-build-core: install it, pinned and
# without dependencies (Debian's packaging and pathspec above satisfy it), for Debian's
# /usr/bin/python3 into /usr/local/lib/python3.11/dist-packages — the folder Debian leaves to
# local installs, never touched by apt, and seen by every venv made with --system-site-packages.
# 0.10.7 is the newest release that accepts Debian's packaging 23.0 and pathspec 0.11.
sbc_version=0.10.7
if [[ $(/usr/bin/python3 -c 'import scikit_build_core; print(scikit_build_core.__version__)' \
          2>/dev/null) != "$sbc_version" ]]; then
  echo "setup: installing scikit-build-core==$sbc_version for /usr/bin/python3"
  # Only the editable install needs it: without PyPI, say so and let everything else go on.
  "${sudo_cmd[@]}" /usr/bin/python3 -m pip install --quiet --no-deps --no-input \
    --root-user-action=ignore --disable-pip-version-check --break-system-packages \
    "scikit-build-core==$sbc_version" ||
    echo "setup: warning: could not install scikit-build-core==$sbc_version (is PyPI reachable?);" \
      "\`pip install -e . --no-build-isolation\` needs it, the CMake build and \`pip install .\` do not"
fi

# Where the CUDA toolkit is (nvcc), the CUDA targets' own dependencies, pinned, from PyPI into a
# folder of this checkout (.deps/, ignored by git) rather than any Python environment: the
# CUTLASS/CuTe headers (the device tile and its CPU twin) and the SASS tools the CI checks use.
# The CPU build never needs them.
deps_dir=${FLASHMOE_DEPS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.deps}
install_wheel() {  # install_wheel PACKAGE VERSION FOLDER
  local marker="$deps_dir/$3/.flashmoe-installed-$2"
  [[ -f $marker ]] && return 0
  echo "setup: installing $1==$2 into $deps_dir/$3"
  rm -rf "${deps_dir:?}/$3"
  /usr/bin/python3 -m pip install --quiet --no-deps --no-input --root-user-action=ignore \
    --disable-pip-version-check --target "$deps_dir/$3" "$1==$2"
  touch "$marker"
}
# The device machine (scripts/device-check.sh) has nvcc and CMake but no package registry: the
# header-only and source dependencies its build needs travel with the tree from .deps/device/
# (nlohmann-json's headers and CMake files, GoogleTest's sources — Debian's, as installed above).
stage_device_sources() {
  local dir=$deps_dir/device marker=$deps_dir/device/.flashmoe-staged-1
  [[ -f $marker ]] && return 0
  echo "setup: staging the device build's sources in $dir"
  rm -rf "$dir"
  mkdir -p "$dir/include" "$dir/share/cmake"
  cp -r /usr/include/nlohmann "$dir/include/"
  cp -r /usr/share/cmake/nlohmann_json "$dir/share/cmake/"
  cp -r /usr/src/googletest "$dir/googletest"
  touch "$marker"
}
if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  install_wheel nvidia-cutlass 4.2.0.0 cutlass
  install_wheel nvidia-cuda-cuobjdump 13.2.51 cuobjdump
  install_wheel nvidia-cuda-nvdisasm 13.2.51 nvdisasm
  stage_device_sources
  echo "setup: all dependencies present (CUDA toolkit found: CUDA targets will be compiled)"
else
  echo "setup: all dependencies present (no CUDA toolkit: CPU targets only)"
fi
