#!/usr/bin/env bash
# Builds the busybox test image offline from Debian's busybox-static:
# a rootfs of /bin/busybox, one symlink per applet, passwd/group with root and
# nobody, /tmp and /root; written as a tar to $1.
set -euo pipefail
out=${1:?usage: mkimage-busybox.sh OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "no $bb: apt-get install busybox-static" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev,var,home}
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
chmod 700 "$dir/root"
tar -C "$dir" --numeric-owner --owner=0 --group=0 -cf "$out.tmp" .
mv "$out.tmp" "$out"
