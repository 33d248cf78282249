#!/usr/bin/env bash
# Issue 5's figures: `build` of a 3000-file context (30 dirs, about 12 MB)
# with FROM / ENV / WORKDIR / RUN / COPY src/ / RUN / CMD, side by side with
# podman build (and docker build when a daemon answers): cold (no cache),
# fully cached, and after one file changed. Needs hyperfine and python3.
# RUNS=N (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 1; }
if [ -n "${BERTH_BIN:-}" ]; then BERTH=$BERTH_BIN; else cargo build --release --workspace -q; BERTH=$PWD/target/release/berth; fi
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
B="$BERTH --root $work/root --runroot $work/run"
cleanup() {
  command -v podman >/dev/null && podman rmi -f berth-bench-base berth-bench-app >/dev/null 2>&1 || true
  if [ -n "${docker_ok:-}" ]; then docker rmi -f berth-bench-base berth-bench-app >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

scripts/mkimage-busybox.sh "$work/busybox.tar"
$B import "$work/busybox.tar" berth-bench-base >/dev/null

ctx=$work/ctx
mkdir -p "$ctx/src"
python3 - "$ctx/src" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(30):
    p = os.path.join(root, f"d{d:02}")
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        with open(os.path.join(p, f"f{f:03}.txt"), "w") as fh:
            fh.write((f"{d}/{f} " * 512)[:4096])
PY
cat > "$ctx/Dockerfile" <<'EOF'
FROM berth-bench-base
ENV APP=/srv/app
WORKDIR /srv/app
RUN echo preparing > /prepared
COPY src/ ./src/
RUN ls -R src | wc -l > /count
CMD ["cat", "/count"]
EOF
echo "context: $(du -sh "$ctx" | cut -f1), $(find "$ctx/src" -type f | wc -l) files" >&2

change="sh -c 'echo change \$(date +%s%N) >> $ctx/src/d07/f042.txt'"
peers=()
if command -v podman >/dev/null && podman import -q "$work/busybox.tar" berth-bench-base >/dev/null 2>&1; then
  podman build -q -t berth-bench-app "$ctx" >/dev/null
  peers+=(podman)
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker_ok=1
  docker import "$work/busybox.tar" berth-bench-base >/dev/null
  DOCKER_BUILDKIT=0 docker build -q -t berth-bench-app "$ctx" >/dev/null 2>&1
  peers+=(docker)
fi
peer_cmd() { # peer, extra flags
  case $1 in
    podman) echo "podman build -q $2 -t berth-bench-app $ctx" ;;
    docker) echo "env DOCKER_BUILDKIT=0 docker build -q $2 -t berth-bench-app $ctx" ;;
  esac
}
$B build -q -t berth-bench-app "$ctx" >/dev/null
# cold: berth's cache pruned before each run; peers with --no-cache
args=(-n "berth cold" --prepare "$B builder prune -f" "$B build -q -t berth-bench-app $ctx")
for p in "${peers[@]}"; do args+=(-n "$p cold" --prepare true "$(peer_cmd $p --no-cache)"); done
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/cold.json" "${args[@]}" >&2
args=(-n "berth cached" "$B build -q -t berth-bench-app $ctx")
for p in "${peers[@]}"; do args+=(-n "$p cached" "$(peer_cmd $p "")"); done
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/cached.json" "${args[@]}" >&2
args=(-n "berth one file changed" --prepare "$change" "$B build -q -t berth-bench-app $ctx")
for p in "${peers[@]}"; do args+=(-n "$p one file changed" --prepare "$change" "$(peer_cmd $p "")"); done
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/changed.json" "${args[@]}" >&2

python3 - "$work" <<'PY'
import json, sys
r = {}
for f in ("cold", "cached", "changed"):
    r.update({x["command"]: x["median"] for x in json.load(open(f"{sys.argv[1]}/{f}.json"))["results"]})
targets = {"cold": 0.3, "cached": None, "one file changed": 0.3}
for case, t in targets.items():
    b = r[f"berth {case}"]
    line = f"{case:18s} berth {b*1000:8.1f} ms"
    for peer in ("podman", "docker"):
        p = r.get(f"{peer} {case}")
        if p:
            line += f"   {peer} {p*1000:8.1f} ms  ratio {b/p:.2f}x"
    if t:
        line += f"   (target <= {t}x podman)"
    else:
        line += "   (target <= 50 ms)"
    print(line)
PY
