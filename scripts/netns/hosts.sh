#!/usr/bin/env bash
# hosts.sh: W test hosts with their own network stacks on one machine (issue 13), for running
# one MPI rank per host over real TCP through a shaped link. Source it, then:
#   netns_up W RATE     creates, for prefix $NETNS_PREFIX (default fm<pid>):
#                         ${P}sw          a namespace holding the switch: bridge br0, with address
#                                         $NETNS_SUBNET.254 (mpirun runs here)
#                         ${P}h0..h(W-1)  one namespace per host, interface eth0 with address
#                                         $NETNS_SUBNET.(i+1)/24, a veth pair to the bridge
#                       and shapes every link in both directions to RATE (tc tbf: a token bucket;
#                       netem, which would add delay, does not load on every kernel, tbf does).
#   netns_host_ns i     the namespace name of host i
#   netns_host_addr i   its address
#   netns_cut i         takes host i's link down (on the switch side): the fault test
#   netns_hostfile F W  writes an Open MPI hostfile F naming hosts 0..W-1, one slot each
#   netns_mpirun_command W F
#                       prints the words of an mpirun of W ranks on hostfile F that runs in the
#                       switch's namespace and starts each host's daemon inside that host's
#                       namespace (rsh_agent.sh), its out-of-band channel on the hosts' links;
#                       callers add MCA options and the program (read -r -a cmd <<<"$(...)")
#   netns_down          removes everything netns_up created (idempotent; run it from a trap)
# Only addresses on these veth links are used; the host's own namespace is left untouched (the
# veth pairs are created inside the new namespaces). Needs root and iproute2 with netns support.
# Every command is bounded: `ip` and `tc` return at once or fail.

NETNS_PREFIX=${NETNS_PREFIX:-fm$$}
NETNS_SUBNET=${NETNS_SUBNET:-10.213.7}
NETNS_HOSTS=0

netns_host_ns() { echo "${NETNS_PREFIX}h$1"; }
netns_host_addr() { echo "${NETNS_SUBNET}.$(($1 + 1))"; }
netns_switch_ns() { echo "${NETNS_PREFIX}sw"; }

# netns_available: why this harness cannot run here (empty when it can). Tries what it needs.
netns_unavailable_reason() {
  if [[ $(id -u) -ne 0 ]]; then echo "not root (ip netns needs CAP_SYS_ADMIN)"; return; fi
  if ! command -v ip >/dev/null; then echo "iproute2 (ip) not installed"; return; fi
  if ! command -v tc >/dev/null; then echo "tc (iproute2) not installed"; return; fi
  local probe="${NETNS_PREFIX}probe"
  if ! ip netns add "$probe" 2>/dev/null; then echo "ip netns add fails here"; return; fi
  local reason=""
  ip -n "$probe" link add p0 type veth peer name p1 2>/dev/null || reason="veth pairs fail here"
  if [[ -z $reason ]] && ! ip -n "$probe" link add b0 type bridge 2>/dev/null; then
    reason="bridges fail here"
  fi
  if [[ -z $reason ]] &&
    ! ip netns exec "$probe" tc qdisc add dev p0 root tbf rate 1gbit burst 256kb latency 50ms \
      2>/dev/null; then
    reason="tc tbf fails here (sch_tbf not available)"
  fi
  ip netns del "$probe" 2>/dev/null
  echo "$reason"
}

# tbf needs a bucket of at least one rate-tick's worth of bytes; 1 ms of the rate (at least
# 64 KiB) keeps the shaping smooth at 1-10 Gbit/s; 'latency' bounds the queue.
_netns_shape() {  # namespace device rate
  local bits
  bits=$(_netns_rate_bits "$3")
  local burst=$((bits / 8 / 1000))
  ((burst < 65536)) && burst=65536
  ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$3" burst "$burst" latency 20ms
}

_netns_rate_bits() {  # 10gbit, 500mbit, 2.5gbit → bits per second
  python3 -c "import re,sys; m=re.fullmatch(r'([0-9.]+)([kmg]?)bit', sys.argv[1].lower());
assert m, 'rate must look like 1gbit, 500mbit'; print(int(float(m[1])*{'':1,'k':1e3,'m':1e6,'g':1e9}[m[2]]))" "$1"
}

# A cut link must end the job in seconds, not after Linux's default retransmission give-up of
# ~15 minutes (tcp_retries2 = 15): 5 retries from a 200 ms timeout give up after ~6 s. These
# sysctls belong to the namespace, so the machine's own TCP is untouched.
_netns_tcp_gives_up() {
  ip netns exec "$1" sysctl -q -w net.ipv4.tcp_retries2=5 >/dev/null
}

netns_up() {  # W RATE
  local hosts=$1 rate=$2 sw
  sw=$(netns_switch_ns)
  _netns_rate_bits "$rate" >/dev/null || return 1
  ip netns add "$sw" || return 1
  NETNS_HOSTS=$hosts  # from here on netns_down has something to remove
  ip -n "$sw" link set lo up
  _netns_tcp_gives_up "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" addr add "${NETNS_SUBNET}.254/24" dev br0
  ip -n "$sw" link set br0 up
  local i ns
  for ((i = 0; i < hosts; i++)); do
    ns=$(netns_host_ns "$i")
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    _netns_tcp_gives_up "$ns"
    # Created inside the host's namespace, one end then moved into the switch's: nothing ever
    # appears in the root namespace.
    ip -n "$ns" link add eth0 type veth peer name "port$i" || return 1
    ip -n "$ns" link set "port$i" netns "$sw" || return 1
    ip -n "$ns" addr add "$(netns_host_addr "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$sw" link set "port$i" master br0
    ip -n "$sw" link set "port$i" up
    _netns_shape "$ns" eth0 "$rate" || return 1      # host → switch
    _netns_shape "$sw" "port$i" "$rate" || return 1  # switch → host
  done
  # Every link must be up at both ends (ping is not installed everywhere; the MPI job itself is
  # the reachability test, and it is bounded).
  for ((i = 0; i < hosts; i++)); do
    ip -n "$(netns_host_ns "$i")" link show eth0 | grep -q "state UP" ||
      { echo "netns_up: host $i's link did not come up" >&2; return 1; }
  done
}

netns_cut() { ip -n "$(netns_switch_ns)" link set "port$1" down; }

NETNS_AGENT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rsh_agent.sh"

netns_hostfile() {  # FILE W
  local i
  : >"$1"
  for ((i = 0; i < $2; i++)); do echo "$(netns_host_ns "$i") slots=1" >>"$1"; done
}

# rtc_hwloc_vmhole none: Open MPI 4.1.4's daemon otherwise maps its hwloc topology into shared
# memory at the biggest hole it found in its address space, and that address is sometimes taken
# by then — orted segfaults in hwloc_shmem_topology_write and mpirun says it "was unable to
# reliably start one or more daemons" (measured here: 3 of 40 bare launches, and the suite's
# first case in 4 of 6 runs; with the option 0 of 60). The ranks then read the topology
# themselves, which costs nothing measurable at these sizes.
netns_mpirun_command() {  # W HOSTFILE
  echo ip netns exec "$(netns_switch_ns)" mpirun -np "$1" --hostfile "$2" \
    --mca plm_rsh_agent "$NETNS_AGENT" --mca oob_tcp_if_include "${NETNS_SUBNET}.0/24" \
    --mca rtc_hwloc_vmhole none --bind-to none
}

# netns_kill_leftovers: kills every process still inside one of the hosts' namespaces (an MPI
# daemon stranded on a host whose link was cut cannot be reached by mpirun) and prints their
# command names.
netns_kill_leftovers() {
  local i pid names=""
  for ((i = 0; i < NETNS_HOSTS; i++)); do
    for pid in $(ip netns pids "$(netns_host_ns "$i")" 2>/dev/null); do
      names+="$(ps -o comm= -p "$pid" 2>/dev/null) on host $i, "
      kill -9 "$pid" 2>/dev/null
    done
  done
  echo "${names%, }"
}

netns_down() {
  local i
  # Processes still inside a host namespace would keep it alive: kill them first (only those
  # whose network namespace is one of ours, found by `ip netns pids`).
  for ((i = 0; i < NETNS_HOSTS; i++)); do
    local ns pid
    ns=$(netns_host_ns "$i")
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  local sw
  sw=$(netns_switch_ns)
  for pid in $(ip netns pids "$sw" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$sw" 2>/dev/null
  NETNS_HOSTS=0
  return 0
}
