#!/bin/sh
# bench helper: aside.sh WORK DIR... moves WORK/DIR to WORK/trash (cheap, no
# inode deletion) so the next timed run starts from an empty root.
work=$1; shift
for d in "$@"; do
  [ -e "$work/$d" ] && mv "$work/$d" "$work/trash/$d.$(date +%s%N)"
done
exit 0
