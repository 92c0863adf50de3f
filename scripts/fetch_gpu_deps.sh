#!/usr/bin/env bash
# Run on a Debian 12 machine with apt: downloads the Debian packages the GPU machine lacks
# (Boost.Program_options, PCRE2, nlohmann-json) into .deps/debs, which the device run carries and
# scripts/setup.sh unpacks into a private prefix there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$root/.deps/debs"
cd "$root/.deps/debs"
apt-get download libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0 \
  libpcre2-dev libpcre2-8-0 nlohmann-json3-dev
ls -la
