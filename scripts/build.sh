#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release). Usage: scripts/build.sh [PRESET]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
jobs=${FLASHMOE_BUILD_JOBS:-$(nproc)}
# Configure whenever the build folder is not a complete one: a configure that failed (a missing
# package, say) leaves CMakeCache.txt behind but no build.ninja, and that cache may hold the
# failed look-ups, so it is started afresh.
if [[ ! -f build/$preset/build.ninja ]]; then
  cmake --preset "$preset" --fresh >/dev/null
fi
cmake --build --preset "$preset" -j "$jobs"
