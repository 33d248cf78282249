#!/usr/bin/env bash
# Times `berth run --rm --network none busybox true` side by side with
# `runc run` on an OCI bundle of the same rootfs, and podman/docker when they
# are installed and working; prints medians and ratios, and berth's peak RSS.
# Needs hyperfine (apt-get install hyperfine); runc/podman/docker optional.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 1; }

cargo build --release --workspace -q
BERTH=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
  "$BERTH" --root "$work/root" --runroot "$work/run" rm -f $("$BERTH" --root "$work/root" --runroot "$work/run" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  command -v runc >/dev/null && runc delete -f berth-bench >/dev/null 2>&1 || true
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
  cmds+=("runc run -b $work/bundle berth-bench"); names+=(runc); prepares+=("runc delete -f berth-bench")
fi
if command -v podman >/dev/null && podman info >/dev/null 2>&1; then
  podman import -q "$work/busybox.tar" berth-bench-busybox >/dev/null
  if podman run --rm --network none berth-bench-busybox true >/dev/null 2>&1; then
    cmds+=("podman run --rm --network none berth-bench-busybox true"); names+=(podman); prepares+=("true")
  else
    echo "podman is installed but cannot run containers here (see ../shared/README.md for its containers.conf); skipped" >&2
  fi
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker import -q "$work/busybox.tar" berth-bench-busybox >/dev/null
  docker run --rm --network none berth-bench-busybox true >/dev/null 2>&1 &&
  cmds+=("docker run --rm --network none berth-bench-busybox true"); names+=(docker); prepares+=("true")
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

python3 - "$B" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1].split() + ["run", "--rm", "--network", "none", "busybox", "true"], check=True)
print(f"  peak RSS of berth run: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MB")
PY
