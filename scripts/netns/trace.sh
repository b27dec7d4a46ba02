#!/usr/bin/env bash
# trace.sh FLASHMOE OUTDIR [--hosts W] [--rate RATE] [RUN ARGS...]
# One `flashmoe run` (forward + backward) with one rank per test host (hosts.sh) over a link
# shaped to RATE, each rank writing the Chrome trace of its tasks (--trace): OUTDIR/trace.json.
# rank<r>, the run's output in OUTDIR/run.txt. plot_timeline.py draws them. Defaults: W = 2,
# RATE = 100mbit, the bench.sh layer (--hidden 512 --ffn 1024 --experts 8 --tokens 512
# --workers 1 --backward); RUN ARGS are added to those. Exit 77: skipped (as suite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flashmoe=$(realpath "${1:?usage: trace.sh FLASHMOE OUTDIR [--hosts W] [--rate RATE] [run args]}")
outdir=${2:?usage: trace.sh FLASHMOE OUTDIR [--hosts W] [--rate RATE] [run args]}
shift 2
w=2 rate=100mbit
while [[ $# -gt 0 ]]; do
  case $1 in
    --hosts) w=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) break ;;
  esac
done
run_args=(--hidden 512 --ffn 1024 --experts 8 --tokens 512 --workers 1 --backward --quiet "$@")
# shellcheck source=scripts/netns/hosts.sh
source "$here/hosts.sh"
reason=$(netns_unavailable_reason)
[[ -z $reason ]] || { echo "SKIPPED: network-namespace hosts unavailable: $reason"; exit 77; }
mkdir -p "$outdir"
outdir=$(realpath "$outdir")
trap netns_down EXIT
trap 'exit 1' INT TERM
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
subnet="${NETNS_SUBNET}.0/24"
netns_up "$w" "$rate" || { echo "FAILED: could not create the hosts"; exit 1; }
hostfile="$outdir/.hostfile"
netns_hostfile "$hostfile" "$w"
read -r -a mpirun <<<"$(netns_mpirun_command "$w" "$hostfile")"
rm -f "$outdir"/trace.json.rank*
timeout --kill-after=5 300 "${mpirun[@]}" \
  --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include "$subnet" \
  -x FLASHMOE_MPI_DELIVERY="${FLASHMOE_MPI_DELIVERY:-messages}" \
  "$flashmoe" run "${run_args[@]}" --trace "$outdir/trace.json" >"$outdir/run.txt" 2>&1 </dev/null
status=$?
rm -f "$hostfile"
netns_kill_leftovers >/dev/null
[[ $status -eq 0 ]] || { echo "FAILED (status $status): see $outdir/run.txt"; exit 1; }
ls "$outdir"/trace.json.rank*
