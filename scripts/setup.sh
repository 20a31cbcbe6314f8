#!/usr/bin/env bash
# Installs the Debian 12 packages Bento needs to build, test and benchmark; does nothing when all are present.
# Runs as root, non-interactive (fresh machines and CI), and stays quiet on a warm machine.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates tzdata python3
  libcaf-dev libprotobuf-dev protobuf-compiler librocksdb-dev libspdlog-dev libfmt-dev catch2
  libboost-dev libboost-system-dev nlohmann-json3-dev libsodium-dev libcurl4-openssl-dev
  prometheus-cpp-dev libssl-dev libjemalloc-dev wrk
)
# promtool (the Prometheus text-format checker the metrics test uses) lives in the prometheus package;
# installed without its recommends so the server itself stays disabled and small.
extra_no_recommends=(prometheus)

# `setup.sh --fuzz` (make fuzz) also installs clang with its libFuzzer and sanitizer runtimes; `setup.sh --bench`
# (make bench) the ceilings the benchmarks measure against: nginx (a static response) and RocksDB's db_bench and
# ldb.
if [ "${1:-}" = "--fuzz" ]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi
if [ "${1:-}" = "--bench" ]; then
  packages+=(nginx-light rocksdb-tools)
fi

missing=()
for p in "${packages[@]}" "${extra_no_recommends[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run as root (or install them) and retry" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The prometheus package enables a service; nothing here needs it running.
# Neither does nginx's: the benchmark starts its own on a free port.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
  systemctl disable --now nginx >/dev/null 2>&1 || true
fi
echo "setup: done" >&2
