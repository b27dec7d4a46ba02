#!/usr/bin/env bash
# Set-up from nothing: builds a minimal Debian 12 root with debootstrap, copies this checkout
# into it and runs the README's first command there (scripts/run.sh: set-up, release configure +
# build, `flashmoe run` — here with --check on bf16, two ranks, forward and backward), inside a
# chroot with a clean environment. A package that scripts/setup.sh forgets, or a step that only
# worked because of something installed by hand, fails here.
#
# Cache (outside the clone, reused when present; FLASHMOE_FRESH_ROOT_CACHE, default
# /var/cache/flashmoe/fresh-root):
#   base/          the pristine debootstrap result; every run works in a fresh copy of it, so
#                  set-up always starts from nothing
#   apt-archives/  downloaded .deb files, bind-mounted into the copy: a later run installs every
#                  package again but need not download it again
# The package mirror is this machine's own (its apt sources, read at run time).
#
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or no debootstrap/chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

if [[ $(id -u) -ne 0 ]]; then
  echo "fresh-root: skipped: needs root (debootstrap, chroot and mounts)"
  exit 77
fi
for tool in debootstrap chroot findmnt; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fresh-root: skipped: '$tool' is not installed (scripts/setup.sh installs debootstrap)"
    exit 77
  fi
done

cache=${FLASHMOE_FRESH_ROOT_CACHE:-/var/cache/flashmoe/fresh-root}
suite=bookworm
limit_s=${FLASHMOE_FRESH_ROOT_TIMEOUT_S:-1800}

# The first mirror in this machine's apt sources that serves $suite itself (not -security or
# -updates, which live elsewhere or add nothing debootstrap needs). Both formats: one-line
# sources.list entries and deb822 .sources files.
find_mirror() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $file ]] || continue
    awk -v suite="$suite" '
      $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == suite) { print $i; exit } }' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    # Stanzas are separated by blank lines; take URIs of a deb stanza whose Suites list $suite.
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      { types = ""; uris = ""; suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) types = $i
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) suites = " " $i " "
        }
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && index(suites, " " suite " ") > 0) {
          split(uris, u, /[ \t]+/); print u[1]; exit } }' "$file"
  done
}
mirror=$(find_mirror | head -n 1)
if [[ -z $mirror ]]; then
  echo "fresh-root: FAILED: no apt source for '$suite' on this machine to take a mirror from"
  exit 1
fi

mkdir -p "$cache/apt-archives/partial"
if [[ ! -f $cache/base/.flashmoe-complete ]]; then
  echo "fresh-root: debootstrap $suite (minbase) from $mirror into $cache/base"
  rm -rf --one-file-system "$cache/base.partial"
  if ! debootstrap --variant=minbase "$suite" "$cache/base.partial" "$mirror" \
      >"$cache/debootstrap.log" 2>&1; then
    echo "fresh-root: FAILED: debootstrap failed; the end of $cache/debootstrap.log:"
    tail -n 20 "$cache/debootstrap.log"
    exit 1
  fi
  echo "$mirror $(date -u +%F)" >"$cache/base.partial/.flashmoe-complete"
  rm -rf --one-file-system "$cache/base"
  mv "$cache/base.partial" "$cache/base"
else
  echo "fresh-root: reusing the Debian root in $cache/base ($(cat "$cache/base/.flashmoe-complete"))"
fi

root=$(mktemp -d "$cache/run.XXXXXX")
# Everything mounted below $root is unmounted before $root is removed; the removal never
# crosses into another file system, so a mount left behind cannot take host files with it.
cleanup() {
  local mounts
  mounts=$(findmnt -rn -o TARGET | awk -v r="$root/" 'index($0 "/", r) == 1' | sort -r)
  for m in $mounts; do umount -l "$m" 2>/dev/null || true; done
  if findmnt -rn -o TARGET | awk -v r="$root/" 'index($0 "/", r) == 1 { found = 1 } END { exit !found }'; then
    echo "fresh-root: left $root in place: something is still mounted below it"
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT

cp -a "$cache/base/." "$root/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/work/flashmoe"
# This checkout's files as git sees them: tracked ones and new ones not ignored (no build/).
git -C "$source_dir" ls-files -z -co --exclude-standard |
  tar -C "$source_dir" --null -T - -cf - | tar -C "$root/work/flashmoe" -xf -

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"

echo "fresh-root: scripts/run.sh inside the new root (set-up, build, flashmoe run --check)"
log=$cache/last-run.log
start=$(date +%s)
status=0
timeout "$limit_s" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  LANG=C.UTF-8 FLASHMOE_BUILD_JOBS="$(nproc)" /bin/bash -c \
  'cd /work/flashmoe && scripts/run.sh --dtype bf16 --ranks 2 --backward --check --tokens 64' \
  >"$log" 2>&1 || status=$?
elapsed=$(($(date +%s) - start))
if [[ $status -eq 0 ]] && grep -q "^check: PASS" "$log"; then
  grep -E "^setup: |GEMM: |^check: PASS" "$log" | sed 's/^/fresh-root:   /'
  echo "fresh-root: PASSED in ${elapsed} s (log: $log)"
  exit 0
fi
echo "fresh-root: FAILED (status $status after ${elapsed} s); the end of $log:"
tail -n 40 "$log"
exit 1
