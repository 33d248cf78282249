#!/usr/bin/env bash
# Times `berth run --rm --network none busybox true` side by side with
# `runc run` on an OCI bundle of the same rootfs, and podman/docker when they
# are installed and working; prints medians and ratios, and berth's peak RSS.
# Needs hyperfine (apt-get install hyperfine) and python3; runc/podman/docker
# optional; /usr/bin/time (package `time`) for the RSS. RUNS=N (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 1; }

# BERTH_BIN=path skips the build and times that binary instead.
if [ -n "${BERTH_BIN:-}" ]; then
  BERTH=$BERTH_BIN
else
  cargo build --release --workspace -q
  BERTH=$PWD/target/release/berth
fi
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
# One fixed id per bench run (unique across concurrent benches); every timed
# run is preceded by `runc delete -f` of it (hyperfine --prepare).
runc_id=berth-bench-$$
cleanup() {
  "$BERTH" --root "$work/root" --runroot "$work/run" rm -f $("$BERTH" --root "$work/root" --runroot "$work/run" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  command -v runc >/dev/null && runc delete -f "$runc_id" >/dev/null 2>&1 || true
  if [ -n "${imported_podman:-}" ]; then podman rmi -f berth-bench-busybox >/dev/null 2>&1 || true; fi
  if [ -n "${imported_docker:-}" ]; then docker rmi -f berth-bench-busybox >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

scripts/mkimage-busybox.sh "$work/busybox.tar"
B="$BERTH --root $work/root --runroot $work/run"
$B import "$work/busybox.tar" busybox >/dev/null

cmds=() names=() prepares=()
cmds+=("$B run --rm --network none busybox true"); names+=(berth); prepares+=("true")

if command -v runc >/dev/null; then
  mkdir -p "$work/bundle/rootfs"
  tar -C "$work/bundle/rootfs" -xf "$work/busybox.tar"
  (cd "$work/bundle" && runc spec)
  python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
json.dump(s, open(p, "w"))
PY
  cmds+=("runc run -b $work/bundle $runc_id"); names+=(runc); prepares+=("runc delete -f $runc_id")
fi
if command -v podman >/dev/null && podman info >/dev/null 2>&1; then
  if imported_podman=1 && podman import -q "$work/busybox.tar" berth-bench-busybox >/dev/null 2>&1 &&
     podman run --rm --network none berth-bench-busybox true >/dev/null 2>&1; then
    cmds+=("podman run --rm --network none berth-bench-busybox true"); names+=(podman); prepares+=("true")
  else
    echo "podman is installed but cannot run containers here (see ../shared/README.md for its containers.conf); skipped" >&2
  fi
else
  echo "podman: not installed or not working; skipped" >&2
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  if imported_docker=1 && docker import -q "$work/busybox.tar" berth-bench-busybox >/dev/null 2>&1 &&
     docker run --rm --network none berth-bench-busybox true >/dev/null 2>&1; then
    cmds+=("docker run --rm --network none berth-bench-busybox true"); names+=(docker); prepares+=("true")
  else
    echo "docker is reachable but cannot run the image; skipped" >&2
  fi
else
  echo "docker: not installed or dockerd not reachable; skipped" >&2
fi

args=()
for i in "${!cmds[@]}"; do args+=(--prepare "${prepares[$i]}" -n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$work/run.json" "${args[@]}" >&2

python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in r.items()}
print("\nrun --rm --network none busybox true (median ms)")
for k, v in med.items():
    print(f"  {k:8s} {v:8.2f} ms")
for peer in ("runc", "podman", "docker"):
    if peer in med:
        print(f"  berth/{peer}: {med['berth'] / med[peer]:.2f}x")
PY

# Peak RSS of one run: /usr/bin/time -v (package `time`) when installed.
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$work/time.txt" $B run --rm --network none busybox true
  kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
  awk -v kb="$kb" 'BEGIN { printf "  peak RSS of berth run: %.1f MB (%d kB, /usr/bin/time -v)\n", kb / 1024, kb }'
else
  echo "/usr/bin/time missing (apt-get install time); measuring with getrusage instead" >&2
  python3 - "$B" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1].split() + ["run", "--rm", "--network", "none", "busybox", "true"], check=True)
print(f"  peak RSS of berth run: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MB")
PY
fi
