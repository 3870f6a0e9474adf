#!/usr/bin/env bash
# Installs every Debian package jobqueue needs to build, test and benchmark.
# Idempotent and quiet when everything is already there; safe to run on every
# invocation of the README commands.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates curl
  libpqxx-dev libpq-dev
  libpistache-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev prometheus-cpp-dev catch2
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libcurl4-openssl-dev libcli11-dev
  clang libclang-rt-14-dev
  libvips-tools time iproute2 jq
  postgresql postgresql-contrib postgresql-client
  chromium
)

# chromium: the dashboard's browser tests (tests/ui) drive Debian's build;
# no browser is downloaded. Node runs the chaos soak's orchestrator and the
# browser tests (and, >= 20, the Kubernetes checks): Debian's when there is
# none; a newer one already here is kept.
command -v node >/dev/null 2>&1 || packages+=(nodejs)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
