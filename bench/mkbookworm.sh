#!/usr/bin/env bash
# Make (once) a Debian bookworm minbase rootfs tar for the registry benchmarks,
# cached as /var/tmp/berth-bench/bookworm-minbase.tar.
set -euo pipefail
out=${1:-/var/tmp/berth-bench/bookworm-minbase.tar}
[ -s "$out" ] && { echo "$out"; exit 0; }
mkdir -p "$(dirname "$out")"
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
dir=$(mktemp -d /var/tmp/berth-bench/rootfs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase bookworm "$dir" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
tar -C "$dir" --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
