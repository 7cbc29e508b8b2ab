#!/bin/sh
# Runs every benchmark; each prints its own floor and ratio last.
set -e
b=${1:-build}
"$b/bench/region_rtt" "$b/devices/testdev/uvfio-testdev"
