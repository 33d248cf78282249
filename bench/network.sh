#!/usr/bin/env bash
# Issue 6's figures: what the default bridge adds to `run --rm busybox true`
# over `--network none` (podman and docker beside it when they work), and
# the throughput of a 100 MB HTTP download through a published port on
# loopback against fetching it from the container's address directly.
# Needs hyperfine, curl, python3. RUNS=N (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
if [ -n "${BERTH_BIN:-}" ]; then BERTH=$BERTH_BIN; else cargo build --release --workspace -q; BERTH=$PWD/target/release/berth; fi
work=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
B="$BERTH --root $work/root --runroot $work/run"
cleanup() {
  $B rm -f $($B ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  $B __teardown-networks >/dev/null 2>&1 || true
  command -v podman >/dev/null && podman rmi -f berth-bench-busybox >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/mkimage-busybox.sh "$work/busybox.tar"
$B import "$work/busybox.tar" busybox >/dev/null
$B run --rm busybox true   # creates the default bridge

cmds=(-n "berth none" "$B run --rm --network none busybox true" -n "berth bridge" "$B run --rm busybox true")
if command -v podman >/dev/null && podman import -q "$work/busybox.tar" berth-bench-busybox >/dev/null 2>&1 \
   && podman run --rm berth-bench-busybox true >/dev/null 2>&1; then
  cmds+=(-n "podman none" "podman run --rm --network none berth-bench-busybox true" -n "podman bridge" "podman run --rm berth-bench-busybox true")
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker import "$work/busybox.tar" berth-bench-busybox >/dev/null
  cmds+=(-n "docker none" "docker run --rm --network none berth-bench-busybox true" -n "docker bridge" "docker run --rm berth-bench-busybox true")
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}" >&2

# 100 MB served by busybox httpd, through a published port and directly.
mkdir -p "$work/www"
head -c 100000000 /dev/zero > "$work/www/big"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
id=$($B run -d -p "$port:80" -v "$work/www:/www:ro" busybox httpd -f -p 80 -h /www)
ip=$($B inspect -f '{{.NetworkSettings.IPAddress}}' "$id")
for _ in $(seq 50); do curl -sf -o /dev/null "http://$ip/big" && break; sleep 0.1; done
hyperfine -N --warmup 2 --runs 10 --export-json "$work/tp.json" \
  -n "published port" "curl -s -o /dev/null http://127.0.0.1:$port/big" \
  -n "container address" "curl -s -o /dev/null http://$ip/big" >&2

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
r = {x["command"]: x["median"] * 1000 for x in json.load(open(f"{w}/run.json"))["results"]}
for peer in ("berth", "podman", "docker"):
    if f"{peer} none" in r:
        print(f"{peer:7s} none {r[peer + ' none']:7.1f} ms  bridge {r[peer + ' bridge']:7.1f} ms  bridge adds {r[peer + ' bridge'] - r[peer + ' none']:6.1f} ms" + ("   (target <= 5 ms)" if peer == "berth" else ""))
t = {x["command"]: x["median"] for x in json.load(open(f"{w}/tp.json"))["results"]}
mb = 100.0
pp, ca = mb / t["published port"], mb / t["container address"]
print(f"throughput: published port {pp:.0f} MB/s, container address {ca:.0f} MB/s, ratio {pp / ca:.2f} (target >= 0.8)")
PY
