#!/bin/sh
# make fuzz: builds the libFuzzer harnesses with clang (ASan+UBSan, build
# dir build-fuzz), seeds them from the recorded conversations, runs each
# for FUZZ_SECONDS (default 60) and prints one line per harness:
#   fuzz <name>: <execs> execs, <edges> edges, <n> findings
# FUZZ_RUNS, when set, also stops a harness after that many executions.
# Findings (crash, leak, timeout inputs) land in build-fuzz/findings/NAME;
# the script fails when there is one.  The corpus grows in
# build-fuzz/corpus/NAME from run to run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$top/build-fuzz}
secs=${FUZZ_SECONDS:-60}
harnesses=${FUZZ_HARNESSES:-"dispatch negotiate pci client elf irqstate vmstream"}

if [ ! -f "$build/build.ninja" ]; then
	# clang's warnings are not gcc's: CI's -Werror build is the gcc one.
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link -Dwerror=false >/dev/null
fi
targets=
for h in $harnesses; do
	targets="$targets fuzz/fuzz_$h"
done
# shellcheck disable=SC2086
ninja -C "$build" $targets >/dev/null
python3 "$top/fuzz/seeds.py" "$build/seeds" >/dev/null

runs=${FUZZ_RUNS:+-runs=$FUZZ_RUNS}
fail=0
for h in $harnesses; do
	# The ELF loader reports every refused image on stderr, as uvfio-vmm
	# does for its user; at 10k inputs a second that is all the log holds.
	# libFuzzer keeps its own copy of stderr for its report.
	quiet=
	case $h in elf | vmstream) quiet=-close_fd_mask=2 ;; esac
	corpus=$build/corpus/$h
	found=$build/findings/$h
	log=$build/fuzz-$h.log
	mkdir -p "$corpus" "$found" "$build/seeds/$h"
	before=$(find "$found" -type f | wc -l)
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1 "$build/fuzz/fuzz_$h" \
		-max_total_time="$secs" $runs $quiet -print_final_stats=1 \
		-artifact_prefix="$found/" -dict="$top/fuzz/vfio-user.dict" \
		-max_len=65536 -timeout=10 -rss_limit_mb=4096 \
		"$corpus" "$build/seeds/$h" "$top/fuzz/regress/$h" \
		>"$log" 2>&1 || true
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
	edges=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{ print $2 }')
	n=$(($(find "$found" -type f | wc -l) - before))
	echo "fuzz $h: ${execs:-0} execs, ${edges:-0} edges, $n findings"
	if [ "$n" -ne 0 ] || [ -z "$execs" ]; then
		echo "fuzz $h: see $log and $found" >&2
		fail=1
	fi
done
exit $fail
