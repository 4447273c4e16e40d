#!/usr/bin/env bash
# Builds the Gregor image with podman and checks it serves real clients (`make test-container`):
#   1. ../shared/tools/container-env.sh prepares podman offline (base images from Debian packages),
#      with podman's storage under $HOME (docker/podman-storage.sh)
#   2. podman build -f docker/Dockerfile (multi-stage, `release` preset build inside the image),
#      with the host's ccache mounted at /ccache: after `make build` the build stage compiles
#      nothing new, and podman's layer cache keeps the apt-get layers between runs
#   3. runs the image as its default non-root user with the baked config, overriding only the
#      ports and advertised.listeners (host networking in this sandbox; on a Docker host you would
#      publish -p 9092:9092 -p 9644:9644 instead)
#   4. kcat produces and consumes through it, /health answers 200, /metrics counts the Produce,
#      `podman stop` (SIGTERM) exits 0
#   5. docker/test-compose-cluster.sh: docker/compose.yaml's three-broker cluster under
#      podman-compose (installed from Debian's packages when missing): the quorum forms, an RF=3
#      topic takes acks=all writes, and it keeps serving after the leader's container is killed
# Prints each phase's duration and the total. Environment: IMAGE (default localhost/gregor:test),
# CONTAINER_ENV (path of container-env.sh), CCACHE_DIR (default ~/.ccache).
# --if-usable (what `make test` runs): prints one "test-container: SKIP: <reason>" line and exits 0
# when podman cannot be prepared here (no container-env.sh, it fails, or podman does not work), or
# when GREGOR_SKIP_CONTAINER=1; a failure of the test itself still fails. Where podman works but
# podman-compose cannot be installed, only the cluster part (5) is skipped, with its own SKIP line.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Images and layer cache under $HOME (see podman-storage.sh).
source "$repo/docker/podman-storage.sh"
image="${IMAGE:-localhost/gregor:test}"
env_script="${CONTAINER_ENV:-$repo/../shared/tools/container-env.sh}"
[[ -f "$env_script" ]] || env_script=/work/shared/tools/container-env.sh
started=$(date +%s)
name="gregor-test-$$"
ccache_dir="${CCACHE_DIR:-$HOME/.ccache}"
if_usable=0
[[ "${1:-}" == "--if-usable" ]] && if_usable=1
skip() { echo "test-container: SKIP: $*"; exit 0; }
phase_started=$started
phase() { local now; now=$(date +%s); echo "   ($(( now - phase_started ))s)"; phase_started=$now; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() { podman rm -f -v "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== preparing podman"
if (( if_usable )); then
  [[ "${GREGOR_SKIP_CONTAINER:-0}" == 1 ]] && skip "GREGOR_SKIP_CONTAINER=1"
  [[ -f "$env_script" ]] || skip "no $env_script to prepare podman offline"
  env_log=$(mktemp)
  if ! bash "$env_script" >"$env_log" 2>&1; then
    reason=$(tail -1 "$env_log"); rm -f "$env_log"
    skip "container-env.sh failed: $reason"
  fi
  cat "$env_log"; rm -f "$env_log"
  podman info >/dev/null 2>&1 || skip "podman is installed but does not work here"
else
  bash "$env_script"
fi
# podman-compose runs docker/compose.yaml (step 5); Debian packages it (a Python script).
compose_skip=""
if ! command -v podman-compose >/dev/null; then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
           --no-install-recommends podman-compose >/dev/null; } 2>/dev/null; then
    (( if_usable )) || { echo "FAIL: could not install podman-compose"; exit 1; }
    compose_skip="podman-compose could not be installed"
  fi
fi
phase

echo "== building $image (ccache: $ccache_dir mounted at /ccache)"
mkdir -p "$ccache_dir"
# The host's locale variables, as the Dockerfile's build stage expects them (see there): ccache
# hashes them, so the image's compile hits the objects `make build` left only with the same ones.
locale_args=()
for v in LANG LC_ALL LC_CTYPE LC_MESSAGES; do
  if [[ -n "${!v+set}" ]]; then locale_args+=(--build-arg "HOST_$v==${!v}"); fi
done
podman build --pull=never --isolation=chroot -t "$image" -f "$repo/docker/Dockerfile" \
    --ignorefile "$repo/docker/Dockerfile.dockerignore" --volume "$ccache_dir:/ccache" \
    "${locale_args[@]}" "$repo"
phase

kport=$(free_port)
hport=$(free_port)
echo "== running $image (kafka :$kport, http :$hport)"
podman run -d --name "$name" --runtime runc --network host \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "$image" \
    serve --config /etc/gregor/gregor.yaml \
    --set "listeners=PLAINTEXT://127.0.0.1:$kport" \
    --set "advertised.listeners=PLAINTEXT://127.0.0.1:$kport" \
    --set "http.listeners=http://127.0.0.1:$hport" >/dev/null

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$hport/health" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$hport/health" | grep -q serving || { podman logs "$name"; echo "FAIL: /health"; exit 1; }

user=$(podman exec "$name" id -u)
[[ "$user" != 0 ]] || { echo "FAIL: the container runs as root"; exit 1; }

topic="container-$$"
seq 1 100 | sed 's/^/record-/' | kcat -P -b "127.0.0.1:$kport" -t "$topic" -X topic.request.required.acks=-1
got=$(kcat -C -b "127.0.0.1:$kport" -t "$topic" -o beginning -e -q | wc -l)
[[ "$got" == 100 ]] || { podman logs "$name" | tail -20; echo "FAIL: consumed $got of 100 records"; exit 1; }
curl -fsS "http://127.0.0.1:$hport/metrics" | grep -q "gregor_topic_records_in_total{topic=\"$topic\"} 100" \
  || { echo "FAIL: /metrics does not count the records"; exit 1; }

podman stop -t 30 "$name" >/dev/null
code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
[[ "$code" == 0 ]] || { podman logs "$name" | tail -20; echo "FAIL: exit code $code after SIGTERM"; exit 1; }

echo "   single broker: OK (kcat 100/100 records, non-root uid $user, SIGTERM exit 0)"
phase

if [[ -n "$compose_skip" ]]; then
  echo "test-container: SKIP (cluster part): $compose_skip"
  cluster="cluster skipped"
else
  "$repo/docker/test-compose-cluster.sh" "$image"
  cluster="3-broker compose cluster survived its leader's kill"
  phase
fi

echo "test-container: OK (image $image, kcat 100/100 records, non-root uid $user, SIGTERM exit 0; $cluster) in $(( $(date +%s) - started ))s"
