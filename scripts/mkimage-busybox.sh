#!/usr/bin/env bash
# Builds the busybox test image offline from Debian's busybox-static:
# a rootfs of /bin/busybox, one symlink per applet in bin/, passwd/group with
# root and nobody, /tmp (1777), /root, /proc, /sys, /dev and an empty
# /etc/hostname; written as a tar (numeric owners, sorted, fixed mtime, so
# the same busybox always gives the same bytes) to $1.
#   scripts/mkimage-busybox.sh OUT.tar        (BUSYBOX=/path overrides /bin/busybox)
set -euo pipefail
out=${1:?usage: mkimage-busybox.sh OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "mkimage-busybox: no $bb: apt-get install busybox-static" >&2; exit 1; }
# A dynamically linked busybox (Debian's `busybox` package) has no libc in
# the image and fails with "no such file" inside the container.
if LC_ALL=C readelf -l "$bb" 2>/dev/null | grep -q 'program interpreter'; then
  echo "mkimage-busybox: $bb is dynamically linked: apt-get install busybox-static" >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir" "$out.tmp.$$"' EXIT
chmod 755 "$dir"
mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev,var,home}
cp "$bb" "$dir/bin/busybox"
chmod 755 "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$dir/etc/group"
: > "$dir/etc/hostname"
chmod 644 "$dir/etc/passwd" "$dir/etc/group" "$dir/etc/hostname"
chmod 1777 "$dir/tmp"
chmod 700 "$dir/root"
tar -C "$dir" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 \
  -cf "$out.tmp.$$" .
mv "$out.tmp.$$" "$out"
