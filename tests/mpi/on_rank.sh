#!/usr/bin/env bash
# on_rank.sh RANK ARG... -- COMMAND ARGS...: runs COMMAND ARGS, with the ARGs before `--`
# appended on the MPI rank RANK only (Open MPI's OMPI_COMM_WORLD_RANK, or PMI_RANK): a job whose
# processes were given different command lines, which one mpirun line cannot otherwise express.
set -euo pipefail
target=$1
shift
extra=()
while [[ $# -gt 0 && $1 != "--" ]]; do
  extra+=("$1")
  shift
done
[[ $# -gt 0 ]] || { echo "on_rank.sh: missing -- COMMAND" >&2; exit 2; }
shift
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-}}
[[ -n $rank ]] || { echo "on_rank.sh: not started by an MPI launcher (no rank)" >&2; exit 2; }
if [[ $rank == "$target" ]]; then
  exec "$@" "${extra[@]}"
fi
exec "$@"
