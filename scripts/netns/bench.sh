#!/usr/bin/env bash
# bench.sh FLASHMOE OUTDIR [--hosts 2,4] [--rates 1gbit,10gbit] [--dtypes fp32,bf16]
#          [--deliveries messages,rma] [BENCH ARGS...]
# `flashmoe bench` (the engine and the MPI_Alltoallv baseline in the same run) on W test hosts
# with their own network stacks (hosts.sh), one rank per host, for every link rate, dtype and
# W, and MPI transport delivery (FLASHMOE_MPI_DELIVERY, default messages only):
# OUTDIR/bench_w<W>_<rate>_<dtype>_<delivery>.json per run (the bench's --json) and its printed
# report beside it (.txt). plot_bench.py turns the JSON files into time vs link bandwidth. The hosts
# are rebuilt for each rate and removed on every exit. Exit 77: skipped (as suite.sh).
# Default bench arguments: --hidden 512 --ffn 1024 --experts 8 --tokens 512 --warmup 1
# --repeats 3 --matmul_size 0 --workers 1; anything after the options is added to them.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flashmoe=$(realpath "${1:?usage: bench.sh FLASHMOE OUTDIR [options] [bench args]}")
outdir=${2:?usage: bench.sh FLASHMOE OUTDIR [options] [bench args]}
shift 2
host_list=2,4 rate_list=1gbit,10gbit dtype_list=fp32,bf16 delivery_list=messages
while [[ $# -gt 0 ]]; do
  case $1 in
    --hosts) host_list=$2; shift 2 ;;
    --rates) rate_list=$2; shift 2 ;;
    --dtypes) dtype_list=$2; shift 2 ;;
    --deliveries) delivery_list=$2; shift 2 ;;
    *) break ;;
  esac
done
bench_args=(--hidden 512 --ffn 1024 --experts 8 --tokens 512 --warmup 1 --repeats 3
            --matmul_size 0 --workers 1 "$@")
# shellcheck source=scripts/netns/hosts.sh
source "$here/hosts.sh"
reason=$(netns_unavailable_reason)
[[ -z $reason ]] || { echo "SKIPPED: network-namespace hosts unavailable: $reason"; exit 77; }
mkdir -p "$outdir"
trap netns_down EXIT
trap 'exit 1' INT TERM
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
subnet="${NETNS_SUBNET}.0/24"
max_hosts=$(tr ',' '\n' <<<"$host_list" | sort -n | tail -1)
status=0
for rate in $(tr ',' ' ' <<<"$rate_list"); do
  netns_down
  netns_up "$max_hosts" "$rate" || { echo "FAILED: could not create the hosts"; exit 1; }
  for w in $(tr ',' ' ' <<<"$host_list"); do
    hostfile="$outdir/.hostfile"
    netns_hostfile "$hostfile" "$w"
    read -r -a mpirun <<<"$(netns_mpirun_command "$w" "$hostfile")"
    for dtype in $(tr ',' ' ' <<<"$dtype_list"); do
      for delivery in $(tr ',' ' ' <<<"$delivery_list"); do
        name="$outdir/bench_w${w}_${rate}_${dtype}_${delivery}"
        echo "== W=$w rate=$rate dtype=$dtype delivery=$delivery"
        timeout --kill-after=5 600 "${mpirun[@]}" \
          --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include "$subnet" \
          --mca osc ucx -x UCX_TLS=tcp,self -x UCX_NET_DEVICES=eth0 \
          -x FLASHMOE_MPI_DELIVERY="$delivery" \
          "$flashmoe" bench "${bench_args[@]}" "dtype=$dtype" --json "$name.json" \
          >"$name.txt" 2>&1 </dev/null || { echo "FAILED (status $?): see $name.txt"; status=1; }
        grep -E "^(forward|speed-up)" "$name.txt"
        netns_kill_leftovers >/dev/null
      done
    done
  done
done
rm -f "$outdir/.hostfile"
exit $status
