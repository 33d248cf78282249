#!/usr/bin/env bash
# Registry benchmark: a Debian bookworm minbase image (one layer, ~93 MB
# gzip) in a loopback docker-registry; times `berth pull` (download + verify
# + unpack, fresh root each run) against `podman pull`, `berth push` against
# `podman push` (fresh registry storage each run), and berth's peak RSS.
# Needs: debootstrap, docker-registry, skopeo, podman, hyperfine, /usr/bin/time.
# Usage: bench/pull.sh [path/to/berth]   (default target/release/berth)
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=$(realpath "${1:-target/release/berth}")
RUNS=${RUNS:-5}
tar=$(bash bench/mkbookworm.sh)
work=$(mktemp -d /var/tmp/berth-bench/run.XXXXXX)
cleanup() { for f in "$work"/*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_registry() { # name -> prints port
  local dir=$work/$1 port; port=$(free_port); mkdir -p "$dir"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$dir" "$port" >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  echo "$port"
}
SRC=$(start_registry src); DST=$(start_registry dst)
IMG=127.0.0.1:$SRC/bookworm:minbase

# Seed: berth imports the rootfs, saves it, skopeo pushes it gzip-compressed.
B0="$BERTH --root $work/seed --runroot $work/seed-run"
$B0 import "$tar" bookworm:minbase >/dev/null
$B0 save -o "$work/seed.tar" bookworm:minbase
skopeo copy -q --dest-tls-verify=false "docker-archive:$work/seed.tar" "docker://$IMG"
mkdir -p "$work/trash"; mv "$work/seed" "$work/trash/seed"; rm -f "$work/seed.tar"
echo "image: $IMG ($(skopeo inspect --raw --tls-verify=false docker://$IMG | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))') bytes compressed)"

# Each timed pull starts from an empty root. The previous one is moved aside,
# not deleted: on ext4, creating files right after deleting thousands makes
# the inode allocator skip every recently deleted inode, which slows whoever
# runs next (berth or podman) by seconds. The trash goes at the end.
mkdir -p "$work/trash"
aside="$PWD/bench/aside.sh $work"
PODMAN="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay"
BR="$BERTH --root $work/berth --runroot $work/berth-run"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/pull.json" \
  --prepare "$aside berth berth-run" \
  -n "berth pull" "$BR pull -q $IMG" \
  --prepare "$aside podman podman-run" \
  -n "podman pull" "$PODMAN pull -q --tls-verify=false $IMG"

# docker, when a daemon answers (loopback registries are insecure by default).
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/pull-docker.json" \
    --prepare "$aside berth berth-run" \
    -n "berth pull" "$BR pull -q $IMG" \
    --prepare "sh -c 'docker rmi -f $IMG >/dev/null 2>&1; true'" \
    -n "docker pull" "docker pull -q $IMG" >&2
  docker rmi -f "$IMG" >/dev/null 2>&1 || true
  extra="$work/pull-docker.json"
fi

rm -rf "$work/berth" "$work/berth-run"
rss=$(/usr/bin/time -v $BR pull -q "$IMG" 2>&1 >/dev/null | awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}')
echo "berth pull peak RSS: ${rss} KB"

# Push: the same image to an empty registry each run.
$BR tag "$IMG" "127.0.0.1:$DST/push:berth"
$PODMAN pull -q --tls-verify=false "$IMG" >/dev/null
$PODMAN tag "$IMG" "127.0.0.1:$DST/push:podman"
hyperfine -N --runs "$RUNS" --export-json "$work/push.json" \
  --prepare "rm -rf $work/dst/data" \
  -n "berth push" "$BR push -q 127.0.0.1:$DST/push:berth" \
  --prepare "rm -rf $work/dst/data" \
  -n "podman push" "$PODMAN push -q --tls-verify=false 127.0.0.1:$DST/push:podman"

python3 - "$work/pull.json" ${extra:-} "$work/push.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    r = {x["command"]: x for x in json.load(open(f))["results"]}
    (a, ra), (b, rb) = list(r.items())
    print(f"{a}: median {ra['median']:.3f} s   {b}: median {rb['median']:.3f} s   ratio {ra['median']/rb['median']:.2f}")
PY
