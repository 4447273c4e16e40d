#!/usr/bin/env bash
# Installs every system dependency Gregor's build and tests need, from Debian's packages.
# Idempotent: installs only what is missing, so a second run costs a few dpkg queries.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev libssl-dev
  python3 python3-pytest python3-pytest-timeout python3-kafka python3-confluent-kafka
  python3-snappy python3-lz4 python3-zstandard python3-cryptography python3-fusepy
  librdkafka-dev kcat
)
# make fuzz: clang and its libFuzzer/sanitizer runtimes (not needed by the build or CI's tests).
[[ "${GREGOR_SETUP_FUZZ:-}" == 1 ]] && packages+=(clang libclang-rt-14-dev)
# Java and Maven may come from elsewhere on developer machines; only install them when missing.
command -v java >/dev/null 2>&1 || packages+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# franz-go for tests/go (Go is optional): fetched once from the Go module proxy into the cache.
if command -v go >/dev/null 2>&1; then
  (cd "$(dirname "$0")/../tests/go/franz_idempotence" && go mod download) ||
    echo "setup: 'go mod download' failed; the franz-go test fetches its modules when it runs"
fi
echo "setup: all dependencies present"
