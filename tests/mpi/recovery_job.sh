#!/usr/bin/env bash
# recovery_job.sh LAUNCHER... -- PROGRAM ARGS...
# Runs an MPI job under a launcher that keeps it alive when one of its processes dies (Open MPI:
# mpirun --enable-recovery), so that the surviving ranks must end it themselves, and exits 0
# only if some rank exited 0: non-zero means the failure reached every rank.
# The launcher's own status says nothing in that mode — Open MPI 4.1.4's mpirun exits 0
# whatever its processes did (non-zero exits, MPI_Abort, signals) — so each rank runs under a
# shell that records the rank's exit status. A rank that records none was killed together with
# its shell (the launcher's teardown after another rank's MPI_Abort): it did not exit 0 either.
# Open MPI only (the rank comes from OMPI_COMM_WORLD_RANK).
set -uo pipefail
launcher=()
while [ "$1" != "--" ]; do
  launcher+=("$1")
  shift
done
shift
records=$(mktemp -d)
trap 'rm -rf "$records"' EXIT
# shellcheck disable=SC2016  # the rank's shell expands these, not this one
"${launcher[@]}" bash -c 'records=$1; shift; "$@"; echo $? >"$records/rank$OMPI_COMM_WORLD_RANK"' \
  rank "$records" "$@"
launcher_status=$?
echo "---- launcher status ${launcher_status}; rank exit statuses:" \
  "$(cd "$records" && grep -H . -- * 2>/dev/null | tr '\n' ' ')"
grep -qx 0 "$records"/* 2>/dev/null && exit 0
exit 1
