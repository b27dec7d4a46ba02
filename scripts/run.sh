#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and run the default job.
# Any arguments are passed to `flashmoe run` (try `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
exec build/release/flashmoe run "$@"
