#!/usr/bin/env bash
# same_as_in_process.sh FLASHMOE WORKDIR RANKS -- LAUNCHER... -- RUN ARGS...
# Runs `flashmoe run ARGS --save` twice — as RANKS MPI processes (LAUNCHER, e.g. mpirun -np 2
# ...) and as RANKS ranks in one process (--ranks RANKS) — and requires the two saved runs to be
# byte-identical: every .npy (inputs, out, routing, losses, dx, dwg, dw1, dw2, db1, db2) and
# meta.json. The engine's results do not depend on where its ranks live (SPEC §5).
# Then --load under MPI: the saved run, loaded by the RANKS processes (each reads its own
# rank<r>/) and saved again, must be byte-identical too, and pass --check. Every command's
# exit status counts (set -e, pipefail).
set -euo pipefail
flashmoe=$1
workdir=$2
ranks=$3
shift 4  # FLASHMOE WORKDIR RANKS --
launcher=()
while [ "$1" != "--" ]; do
  launcher+=("$1")
  shift
done
shift
rm -rf "$workdir"
mkdir -p "$workdir"
read -r -a mpi_only <<<"${FLASHMOE_MPI_ONLY_ARGS:-}"
"${launcher[@]}" "$flashmoe" run "$@" "${mpi_only[@]}" --quiet --save "$workdir/mpi"
"$flashmoe" run "$@" --quiet --transport local --ranks "$ranks" --save "$workdir/local"
files=$(cd "$workdir/local" && find . -type f | sort)
[ "$files" = "$(cd "$workdir/mpi" && find . -type f | sort)" ] || {
  echo "FAILED: the saved runs hold different files"
  exit 1
}
diff -r "$workdir/mpi" "$workdir/local" || {
  echo "FAILED: MPI and in-process results differ"
  exit 1
}
"${launcher[@]}" "$flashmoe" run --load "$workdir/mpi" "${mpi_only[@]}" --quiet \
  --save "$workdir/reloaded"
diff -r "$workdir/mpi" "$workdir/reloaded" || {
  echo "FAILED: the run loaded under MPI differs from the saved one"
  exit 1
}
# The verdict and the job's exit status both count; the output is captured whole (a `| grep -q`
# could end the pipe early and fail the writer with SIGPIPE).
check_status=0
check_output=$("${launcher[@]}" "$flashmoe" run --load "$workdir/mpi" --quiet --check 2>&1) ||
  check_status=$?
if [ "$check_status" -ne 0 ] || ! grep -q "check: PASS" <<<"$check_output"; then
  echo "FAILED: --load --check under MPI did not pass (exit status ${check_status}):"
  printf '%s\n' "$check_output"
  exit 1
fi
echo "SAME: $(wc -l <<<"$files") files byte-identical (${ranks} processes vs ${ranks} threads," \
  "and reloaded under MPI; --load --check PASS)"
