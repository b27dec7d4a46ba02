#!/usr/bin/env bash
# suite.sh FLASHMOE [options]: the engine's multi-rank cases on W test hosts with their own
# network stacks (hosts.sh), one MPI rank per host over TCP through links shaped to a rate, and
# fault tests (a rank killed, a host's link cut mid-pass). Exit status 0: every case passed;
# 77: skipped (not root, no ip netns / veth / bridge / tc tbf here), with the reason printed;
# 1: a case failed. Everything it creates is removed on every exit (trap).
#   --hosts LIST     world sizes to run, e.g. 2,4 (default 2,4)
#   --rate RATE      link rate for tc tbf, e.g. 1gbit, 10gbit (default 1gbit)
#   --tokens N       tokens per rank of the check cases (default 200: 7 token tiles)
#   --no-fault       skip the fault cases (a rank killed, a link cut)
#   --pml-ucx        also run the W=2 case over --mca pml ucx (UCX over TCP for both layers)
# MPI over these links: pml ob1 with btl tcp — everything of the default messages delivery, the
# set-up handshake and the --check gathers — and, for the one RMA-delivery case, osc ucx with
# UCX's tcp transport. osc rdma refuses a TCP-only BTL set on Open MPI 4.1 (MPI_Win_allocate:
# invalid window) and osc pt2pt refuses MPI_THREAD_MULTIPLE, so on plain Ethernet osc ucx is the
# one-sided component (docs/mpi.md).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flashmoe=$(realpath "${1:?usage: suite.sh FLASHMOE [--hosts 2,4] [--rate 1gbit] ...}")
shift
host_list=2,4 rate=1gbit tokens=200 fault=true pml_ucx=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --hosts) host_list=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --no-fault) fault=false; shift ;;
    --pml-ucx) pml_ucx=true; shift ;;
    *) echo "suite.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=scripts/netns/hosts.sh
source "$here/hosts.sh"

reason=$(netns_unavailable_reason)
if [[ -n $reason ]]; then
  echo "SKIPPED: network-namespace hosts unavailable: $reason"
  exit 77
fi
if ! mpirun --version 2>/dev/null | grep -q "Open MPI"; then
  echo "SKIPPED: the harness drives Open MPI's mpirun (rsh agent, MCA options); not found"
  exit 77
fi
# osc ucx is the only one-sided component that runs over TCP here: without it the RMA-delivery
# and pml ucx cases are left out (and say so); the messages cases need none.
has_osc_ucx=false
ompi_info 2>/dev/null | grep -q "MCA osc: ucx" && has_osc_ucx=true

workdir=$(mktemp -d "${TMPDIR:-/tmp}/flashmoe-netns.XXXXXX")
cleanup() {
  netns_down
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

max_hosts=$(tr ',' '\n' <<<"$host_list" | sort -n | tail -1)
netns_up "$max_hosts" "$rate" || { echo "FAILED: could not create $max_hosts hosts"; exit 1; }
echo "hosts: $max_hosts network namespaces on bridge ${NETNS_SUBNET}.0/24, links shaped to $rate"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
subnet="${NETNS_SUBNET}.0/24"
# The keepalives let mpirun notice an idle daemon connection over a cut link within ~5 s.
# mpirun runs in the switch's namespace (reachable from every host) and starts each host's
# daemon through the rsh agent, inside that host's namespace.
launcher() {  # W [extra mpirun options...]
  local w=$1
  shift
  netns_hostfile "$workdir/hostfile.$w" "$w"
  echo "$(netns_mpirun_command "$w" "$workdir/hostfile.$w")" \
    --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 \
    --mca oob_tcp_keepalive_probes 3 "$@"
}
# UCX over the hosts' links only (the one-sided component of the RMA delivery, and pml ucx).
ucx=(--mca osc ucx -x UCX_TLS=tcp,self -x UCX_NET_DEVICES=eth0)
# shellcheck disable=SC2054  # "tcp,self" is one MCA value
ob1=(--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include "$subnet")

failures=0
# run_case NAME LIMIT_S EXPECT(pass|fail) REGEX -- COMMAND...: bounded by `timeout`.
run_case() {
  local name=$1 limit=$2 expect=$3 regex=$4
  shift 5
  local start status output elapsed log="$workdir/case.log"
  local left attempt retried=""
  # At most two attempts, the second only when mpirun failed to start its daemons — a launcher
  # failure, not the behaviour under test, reported in the case's line. Its known cause, orted
  # crashing while it shares its hwloc topology, is avoided in hosts.sh (rtc_hwloc_vmhole none);
  # the retry stays for a daemon lost for another reason.
  for attempt in 1 2; do
    start=$(date +%s%N)
    # Into a file, not a pipe: a daemon stranded on a cut host would hold a pipe open for ever.
    timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1 </dev/null
    status=$?
    elapsed=$((($(date +%s%N) - start) / 1000000))
    output=$(<"$log")
    left=$(netns_kill_leftovers)
    if [[ $attempt -eq 1 && $status -ne 0 ]] &&
       grep -q "ORTE was unable to reliably start one or more daemons" <<<"$output"; then
      retried="; retried once after mpirun failed to start its daemons"
      continue
    fi
    break
  done
  local ok=true
  if [[ $expect == pass ]]; then
    [[ $status -eq 0 ]] || ok=false
  else
    # 124, or 137 at the limit: `timeout` ended it (a hang). mpirun itself exits 137 when a rank
    # was killed with SIGKILL, well within the limit.
    [[ $status -ne 0 && $status -ne 124 ]] || ok=false
    [[ $status -ne 137 || $elapsed -lt $((limit * 1000)) ]] || ok=false
  fi
  grep -Eq -- "$regex" <<<"$output" || ok=false
  if $ok; then
    echo "ok   $name (${elapsed} ms, status $status${left:+; killed left over: $left}$retried)"
    [[ $expect == fail ]] && grep -Em1 -- "$regex" <<<"$output" | sed 's/^/     > /' 
  else
    echo "FAIL $name (${elapsed} ms, status $status; expected $expect and /$regex/$retried)"
    tail -n 25 <<<"$output" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}

for w in $(tr ',' ' ' <<<"$host_list"); do
  read -r -a mpi <<<"$(launcher "$w" "${ob1[@]}")"
  run_case "W=$w forward+backward --check" 60 pass "^check: PASS" -- \
    "${mpi[@]}" "$flashmoe" run --experts 8 --hidden 64 --ffn 96 --tokens "$tokens" --backward \
    --bias --seed 13 --workers 1 --check --quiet --wait_timeout_s 20
done

# The RMA delivery over TCP: osc ucx over UCX's tcp transport (osc rdma refuses a TCP-only BTL
# set; the messages cases above need no one-sided component and run with Open MPI's default).
if $has_osc_ucx; then
  read -r -a mpi <<<"$(launcher 2 "${ob1[@]}" "${ucx[@]}" -x FLASHMOE_MPI_DELIVERY=rma)"
  run_case "W=2 forward+backward --check, RMA delivery over osc ucx" 60 pass "^check: PASS" -- \
    "${mpi[@]}" "$flashmoe" run --experts 8 --hidden 64 --ffn 96 --tokens "$tokens" --backward \
    --bias --seed 13 --workers 1 --check --quiet --wait_timeout_s 20
else
  echo "skip W=2 RMA delivery and pml ucx cases: Open MPI has no osc ucx"
fi

if $pml_ucx && $has_osc_ucx; then
  read -r -a mpi <<<"$(launcher 2 --mca pml ucx --mca pml_ucx_tls any --mca pml_ucx_devices any \
    "${ucx[@]}")"
  run_case "W=2 pml ucx + osc ucx --check" 90 pass "^check: PASS" -- \
    "${mpi[@]}" "$flashmoe" run --experts 8 --hidden 64 --ffn 96 --tokens "$tokens" --backward \
    --seed 13 --workers 1 --check --quiet --wait_timeout_s 20
fi

if $fault; then
  # Rank 1's process is killed (SIGKILL, a test hook) right after it sent its dispatch packets,
  # so rank 0 holds its rows and waits for what it will never send: mpirun must notice the death
  # on host 1 and end the job, naming the rank and the signal, and leave nothing behind.
  read -r -a mpi <<<"$(launcher 2 "${ob1[@]}" -x FLASHMOE_TEST_KILL_AFTER_DISPATCH_FROM_RANK=1)"
  run_case "W=2 rank 1 killed mid-pass → the job ends" 30 fail \
    "rank 1 .*(signal 9|Killed)" -- \
    "${mpi[@]}" "$flashmoe" run --experts 8 --hidden 64 --ffn 96 --tokens "$tokens" --backward \
    --seed 13 --workers 1 --quiet --wait_timeout_s 3

  # Host 1's link goes down while the pass runs: rank 1 sleeps 4 s right after sending its
  # dispatch packets (a test hook), so the pass surely lasts from start-up (under 1 s here, ~2 s
  # under AddressSanitizer) to past the cut at 2.5 s; when rank 1 wakes, nothing it sends
  # reaches rank 0. Rank 0 — or the call watchdog of a rank blocked inside MPI towards host 1 —
  # must end the job with a TimeoutError within its 6 s limit (longer than the sleep, so the
  # sleep alone times nothing out), and mpirun must return although host 1's daemon is
  # unreachable. When the cut comes before the ranks reach the pass (a slower start-up), mpirun's
  # own keepalive notices the lost daemon first and ends the job with that message: also a
  # bounded, clear end.
  read -r -a mpi <<<"$(launcher 2 "${ob1[@]}" -x FLASHMOE_TEST_SLOW_AFTER_DISPATCH=1:4)"
  (sleep 2.5 && netns_cut 1) &
  cutter=$!
  run_case "W=2 link of host 1 cut mid-pass → TimeoutError, job ends" 45 fail \
    "TimeoutError|ORTE has lost communication with a remote daemon" -- \
    "${mpi[@]}" "$flashmoe" run --experts 8 --hidden 64 --ffn 96 --tokens 400 --backward \
    --seed 13 --workers 1 --quiet --wait_timeout_s 6
  wait "$cutter"
fi

if ((failures > 0)); then
  echo "FAILED: $failures case(s)"
  exit 1
fi
echo "PASSED: every case"
