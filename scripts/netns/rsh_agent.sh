#!/usr/bin/env bash
# rsh_agent.sh HOST COMMAND...: Open MPI's launch agent for the namespace test hosts
# (mpirun --mca plm_rsh_agent this-script). mpirun calls its agent like ssh — host name first,
# then the daemon's command line — and this runs the command inside that host's network
# namespace instead of on another machine. Host names are namespace names (hosts.sh), so the
# mapping is the identity; anything else is refused rather than run in the wrong place.
set -euo pipefail
while [[ $# -gt 0 && $1 == -* ]]; do shift; done  # ssh-style options (-x) mpirun may add
host=${1:?rsh_agent.sh: no host}
shift
if ! ip netns list | awk '{print $1}' | grep -qx -- "$host"; then
  echo "rsh_agent.sh: $host is not a network namespace of this machine" >&2
  exit 1
fi
exec ip netns exec "$host" /bin/sh -c "$*"
