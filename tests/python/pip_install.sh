#!/usr/bin/env bash
# pip_install.sh PYTHON SOURCE_DIR
# FlashDMoE's install command on this tree, as a user arriving from its README runs it:
# `pip install -e . --no-build-isolation` into a temporary venv made with
# --system-site-packages (Debian's torch), then, from a directory outside the source tree, the
# installed `flashmoe` command (--help, run --check, gradcheck, bench) found on the venv's PATH
# and flashmoe.run_moe(n_processes=2) finding that same command. Exits 77 (skipped, with the
# reason) when PYTHON lacks torch, venv or scikit-build-core (scripts/setup.sh installs them).
set -euo pipefail
python=$1
source_dir=$(cd "$2" && pwd)

missing=$("$python" - <<'EOF'
import importlib.util
print(" ".join(m for m in ("torch", "venv", "ensurepip", "scikit_build_core")
               if importlib.util.find_spec(m) is None))
EOF
)
if [[ -n $missing ]]; then
  echo "SKIPPED: $python lacks $missing (scripts/setup.sh installs them)"
  exit 77
fi

work=$(mktemp -d /tmp/flashmoe-pip-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$python" -m venv --system-site-packages "$work/venv"
cd "$work"  # outside the source tree from here on

start=$(date +%s)
if ! CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
     "$work/venv/bin/pip" install --no-input --disable-pip-version-check \
     -e "$source_dir" --no-build-isolation >"$work/pip.log" 2>&1; then
  tail -n 40 "$work/pip.log"
  echo "FAILED: pip install -e $source_dir --no-build-isolation"
  exit 1
fi
echo "pip install -e . --no-build-isolation: $(($(date +%s) - start)) s"

export PATH="$work/venv/bin:$PATH"
found=$(command -v flashmoe)
[[ $found == "$work/venv/bin/flashmoe" ]] || {
  echo "FAILED: flashmoe on PATH is '$found', not the venv's"
  exit 1
}
flashmoe --help | head -n 3
flashmoe run --hidden 16 --ffn 24 --experts 4 --ranks 2 --tokens 32 --backward --check --quiet
flashmoe gradcheck --activation relu | tail -n 1
if ! flashmoe bench --hidden 32 --ffn 32 --experts 4 --tokens 64 --warmup 1 --repeats 1 \
     --matmul_size 0 >"$work/bench.log" 2>&1; then
  cat "$work/bench.log"
  echo "FAILED: flashmoe bench"
  exit 1
fi
echo "flashmoe bench: ran"

"$work/venv/bin/python" - "$work" <<'EOF'
import sys
import flashmoe
from flashmoe.command import command_path

venv_command = f"{sys.argv[1]}/venv/bin/flashmoe"
assert command_path() == venv_command, (command_path(), venv_command)
result = flashmoe.run_moe(n_processes=2, hidden=16, ffn=24, experts=4, tokens=[32, 16],
                          backward=True, check=True)
assert result.check_passed, "run_moe(check=True) did not pass"
assert [tuple(o.shape) for o in result.out] == [(32, 16), (16, 16)], result.out
assert sum(int(r.tokens_per_expert.sum()) for r in result.routing) == 2 * 48
print(f"run_moe(n_processes=2): {[tuple(o.shape) for o in result.out]}, check passed, "
      f"command {command_path()}")
EOF
echo "OK: pip install, the flashmoe command and run_moe from outside the source tree"
