#!/usr/bin/env bash
# Issue 3's figures: `run -d` against `run --rm … true`, `exec C true`
# (podman/docker exec side by side when they work), and `logs --tail 10` of
# a 100 MB log. Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 1; }
cargo build --release --workspace -q
BERTH=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
B="$BERTH --root $work/root --runroot $work/run"
cleanup() {
  $B rm -f $($B ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  command -v podman >/dev/null && podman rm -f berth-bench-exec >/dev/null 2>&1 || true
  command -v docker >/dev/null && docker rm -f berth-bench-exec >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/mkimage-busybox.sh "$work/busybox.tar"
$B import "$work/busybox.tar" busybox >/dev/null

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" \
  -n "run --rm" "$B run --rm --network none busybox true" \
  --cleanup "sh -c '$B rm -f \$($B ps -aq) >/dev/null 2>&1 || true'" \
  -n "run -d" "$B run -d --network none busybox true" >&2

id=$($B run -d --network none busybox sleep 1000)
cmds=(-n "berth exec" "$B exec $id true")
if command -v podman >/dev/null && podman run -d --name berth-bench-exec --network none berth-bench-busybox sleep 1000 >/dev/null 2>&1 \
   || { command -v podman >/dev/null && podman import -q "$work/busybox.tar" berth-bench-busybox >/dev/null 2>&1 && podman run -d --name berth-bench-exec --network none berth-bench-busybox sleep 1000 >/dev/null 2>&1; }; then
  cmds+=(-n "podman exec" "podman exec berth-bench-exec true")
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker import "$work/busybox.tar" berth-bench-busybox >/dev/null
  docker run -d --name berth-bench-exec --network none berth-bench-busybox sleep 1000 >/dev/null &&
  cmds+=(-n "docker exec" "docker exec berth-bench-exec true")
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/exec.json" "${cmds[@]}" >&2

# A 100 MB log, written by a container through berth's json-file logger.
big=$($B run -d --network none busybox sh -c 'yes "berth benchmark log line, long enough to look like a real one 0123456789" | head -c 60000000')
$B wait "$big" >/dev/null
log=$($B inspect -f '{{.LogPath}}' "$big")
echo "log size: $(du -h "$log" | cut -f1)" >&2
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/logs.json" -n "logs --tail 10" "$B logs --tail 10 $big" >&2

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def med(f):
    return {r["command"]: r["median"] * 1000 for r in json.load(open(f"{w}/{f}"))["results"]}
r, e, l = med("run.json"), med("exec.json"), med("logs.json")
print(f"run --rm true      {r['run --rm']:8.2f} ms")
print(f"run -d true        {r['run -d']:8.2f} ms   ratio {r['run -d'] / r['run --rm']:.2f}x (target <= 2x)")
for k, v in e.items():
    print(f"{k:18s} {v:8.2f} ms")
print(f"logs --tail 10     {l['logs --tail 10']:8.2f} ms   (target <= 50 ms)")
PY
