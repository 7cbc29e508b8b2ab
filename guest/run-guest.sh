#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs one guest under uvfio-vmm with a fresh uvfio-testdev, and checks
# the exit status and the output.  Exit 0 pass, 1 fail, 77 skip (no
# usable /dev/kvm).  Every VMM run is bounded by a timeout.
#
# usage: run-guest.sh [options] VMM TESTDEV GUEST
#   --expect N      exit status the VMM must give (default 0)
#   --cpus N        vCPUs (default 1)
#   --mem SIZE      guest RAM (default 64M)
#   --devices N     uvfio-testdev processes on the bus (1 or 2; default 1)
#   --testdev-arg A an argument for uvfio-testdev (repeatable)
#   --need TEXT     a line of output must contain TEXT (repeatable)
#   --check-bars    BAR lines the guest prints match the VMM's report
#   --check-exits   the VMM's final counters: no MMIO exits for BAR1..5,
#                   some for BAR0
#   --worker        the device runs commands on its worker thread, so
#                   completions (and their interrupts) come asynchronously
#   --disconnect    kill the device once the guest says READY; the VMM
#                   must say the device disconnected and then failed,
#                   and the guest, reading all ones, exit 0
#   --restart       kill the device once the guest says READY and start
#                   it again on the same socket; the VMM must reconnect
#                   and the guest pass
#   --migrate       a second uvfio-testdev and a second VMM waiting with
#                   --incoming; once the guest says READY the first VMM
#                   gets SIGUSR2 and moves the VM there: it must end 0
#                   saying it migrated, the second run the guest to PASS
#   --hostile       broken and hostile ELF files instead of GUEST
#   --cli           bad command lines
set -u

expect=0
cpus=1
mem=64M
devices=1
needs=""
mode=run
check_bars=0
check_exits=0
tdargs=""
TIMEOUT=${GUEST_TIMEOUT:-60}

while [ $# -gt 0 ]; do
	case $1 in
	--expect) expect=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--devices) devices=$2; shift 2 ;;
	--testdev-arg) tdargs="$tdargs $2"; shift 2 ;;
	--need) needs="$needs$2
"; shift 2 ;;
	--check-bars) check_bars=1; shift ;;
	--check-exits) check_exits=1; shift ;;
	--worker) tdargs="$tdargs --worker"; shift ;;
	--disconnect) mode=disconnect; shift ;;
	--restart) mode=restart; shift ;;
	--migrate) mode=migrate; shift ;;
	--hostile) mode=hostile; shift ;;
	--cli) mode=cli; shift ;;
	*) break ;;
	esac
done
if [ $# -ne 3 ]; then
	echo "usage: $0 [options] VMM TESTDEV GUEST" >&2
	exit 1
fi
vmm=$1
testdev=$2
guest=$3

if [ ! -c /dev/kvm ] || ! (: <>/dev/kvm) 2>/dev/null; then
	echo "SKIP: /dev/kvm is missing or not accessible to $(id -un)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uvfio-guest.XXXXXX") || exit 1
sock=$tmp/sock
tdpid=
vmpid=
td2pid=
vm2pid=
extra=""
cleanup() {
	[ -n "$vmpid" ] && kill -KILL "$vmpid" 2>/dev/null
	[ -n "$vm2pid" ] && kill -KILL "$vm2pid" 2>/dev/null
	[ -n "$tdpid" ] && kill -TERM "$tdpid" 2>/dev/null && wait "$tdpid"
	[ -n "$td2pid" ] && kill -TERM "$td2pid" 2>/dev/null && wait "$td2pid"
	for p in $extra; do
		kill -TERM "$p" 2>/dev/null && wait "$p"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

# listen_wait SOCK PID: until the testdev PID listens on SOCK.
listen_wait() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "uvfio-testdev did not listen on $1"
		kill -0 "$2" 2>/dev/null || fail "uvfio-testdev died"
		sleep 0.1
	done
}

# more_testdevs SOCK: --devices 2 puts a second one at SOCK.b.
more_testdevs() {
	[ "$devices" -ge 2 ] || return 0
	# shellcheck disable=SC2086
	"$testdev" --socket "$1.b" $tdargs 2>"$1.b.log" &
	extra="$extra $!"
	listen_wait "$1.b" $!
}

start_testdev() {
	# shellcheck disable=SC2086
	"$testdev" --socket "$sock" $tdargs 2>"$tmp/testdev.log" &
	tdpid=$!
	listen_wait "$sock" "$tdpid"
	more_testdevs "$sock"
}

# dev_args SOCK: the VMM's --device options for the testdevs at SOCK.
dev_args() {
	echo "--device vfio-user,socket=$1"
	[ "$devices" -ge 2 ] && echo "--device vfio-user,socket=$1.b"
	return 0
}

# run_vmm OUT ARGS...: the VMM's status in $status, output in OUT.
run_vmm() {
	out=$1
	shift
	start=$(date +%s.%N)
	timeout -k 5 "$TIMEOUT" "$vmm" "$@" >"$out" 2>&1
	status=$?
	end=$(date +%s.%N)
	echo "--- $vmm $* (status $status," \
		"$(awk "BEGIN { printf \"%.3f\", $end - $start }") s)"
	cat "$out"
	[ $status -eq 124 ] && fail "the VMM ran over ${TIMEOUT}s"
	[ $status -gt 125 ] && fail "the VMM died of a signal ($status)"
	return 0
}

vmm_args() {
	echo "--mem $mem --cpus $cpus $(dev_args "$sock") --stats -v"
}

check_needs() {
	printf '%s' "$needs" | while IFS= read -r n; do
		[ -z "$n" ] && continue
		grep -qF -- "$n" "$1" || { echo "FAIL: output lacks '$n'"; \
			exit 1; }
	done || exit 1
	if grep -q '^FAIL' "$1"; then
		fail "the guest reported failures"
	fi
}

# Each "BARn at A size S" the guest printed matches the VMM's line.
check_bar_lines() {
	n=0
	grep '^BAR[0-5] at ' "$1" >"$tmp/bars" || fail "no BAR lines"
	while read -r bar _ addr _ size; do
		grep -q "00:01.0 $bar mem[0-9]* at $addr size $size " "$1" ||
			fail "guest sees $bar at $addr size $size; the VMM" \
				"reported otherwise"
		n=$((n + 1))
	done <"$tmp/bars"
	[ $n -eq 6 ] || fail "$n BAR lines, want 6"
	echo "BAR lines match the VMM's report"
}

stat_of() {
	sed -n "s/^uvfio-vmm: stat $2 \([0-9]*\)$/\1/p" "$1"
}

check_exit_stats() {
	for bar in 1 2 3 4 5; do
		v=$(stat_of "$1" "mmio.dev0.bar$bar")
		[ "$v" = 0 ] || fail "BAR$bar caused '$v' MMIO exits"
	done
	v=$(stat_of "$1" mmio.dev0.bar0)
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "BAR0 caused no MMIO exits"
	echo "exit counters: BAR1..5 0, BAR0 $v"
}

run_one() {
	start_testdev
	# shellcheck disable=SC2046
	run_vmm "$tmp/out" $(vmm_args) --guest "$guest"
	[ "$status" -eq "$expect" ] ||
		fail "exit status $status, want $expect"
	check_needs "$tmp/out"
	[ $check_bars -eq 1 ] && check_bar_lines "$tmp/out"
	[ $check_exits -eq 1 ] && check_exit_stats "$tmp/out"
	echo "PASS"
}

# vmm_until_ready ARGS...: the VMM in the background with the guest (its
# pid in $vmpid), once the guest said READY; then the device is killed.
vmm_until_ready() {
	start_testdev
	# shellcheck disable=SC2046
	timeout -k 5 "$TIMEOUT" "$vmm" $(vmm_args) "$@" --guest "$guest" \
		>"$tmp/out" 2>&1 &
	vmpid=$!
	i=0
	until grep -q '^READY' "$tmp/out"; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$vmpid" 2>/dev/null; then
			cat "$tmp/out"
			fail "the guest never became ready"
		fi
		sleep 0.1
	done
	kill -KILL "$tdpid"
	wait "$tdpid" 2>/dev/null
	tdpid=
}

# vmm_end: waits for the VMM; its exit status must be 0.
vmm_end() {
	wait "$vmpid"
	status=$?
	vmpid=
	cat "$tmp/out"
	[ "$status" -eq 0 ] || fail "exit status $status, want 0"
}

run_disconnect() {
	vmm_until_ready --reconnect-ms 300
	vmm_end
	grep -q 'disconnected' "$tmp/out" || fail "no word of the disconnect"
	grep -q 'failed' "$tmp/out" || fail "no word of the device failing"
	grep -q '^GONE' "$tmp/out" || fail "the guest did not see it go"
	echo "PASS"
}

run_restart() {
	# Starting a process can take seconds on a loaded (or emulated)
	# machine: the test is that the VMM reconnects, not how soon.
	vmm_until_ready --reconnect-ms 30000
	rm -f "$sock"
	start_testdev
	vmm_end
	grep -q 'reconnected' "$tmp/out" || fail "no word of the reconnect"
	check_needs "$tmp/out"
	echo "PASS"
}

# wait_file PATH WHAT PID: until PATH exists, while PID lives.
wait_file() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$3" 2>/dev/null; then
			cat "$tmp"/*.out 2>/dev/null
			fail "$2"
		fi
		sleep 0.1
	done
}

# child_of PID: a process whose parent is PID.
child_of() {
	for st in /proc/[0-9]*/stat; do
		# pid (comm) state ppid: comm has no spaces for our processes
		read -r cpid _ _ ppid _ <"$st" 2>/dev/null || continue
		[ "$ppid" = "$1" ] && { echo "$cpid"; return 0; }
	done
	return 1
}

run_migrate() {
	"$testdev" --socket "$tmp/sock2" $tdargs 2>"$tmp/testdev2.log" &
	td2pid=$!
	wait_file "$tmp/sock2" "the second uvfio-testdev did not listen" \
		"$td2pid"
	more_testdevs "$tmp/sock2"
	# shellcheck disable=SC2046
	timeout -k 5 "$TIMEOUT" "$vmm" --mem "$mem" --cpus "$cpus" \
		$(dev_args "$tmp/sock2") --stats -v \
		--incoming unix:"$tmp/mig" >"$tmp/dst.out" 2>&1 &
	vm2pid=$!
	wait_file "$tmp/mig" "the destination VMM never listened" "$vm2pid"
	start_testdev
	# shellcheck disable=SC2046
	timeout -k 5 "$TIMEOUT" "$vmm" $(vmm_args) --guest "$guest" \
		--migrate-to unix:"$tmp/mig" >"$tmp/src.out" 2>&1 &
	vmpid=$!
	i=0
	until grep -q '^READY' "$tmp/src.out"; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$vmpid" 2>/dev/null; then
			cat "$tmp/src.out"
			fail "the guest never became ready"
		fi
		sleep 0.1
	done
	# $vmpid is timeout(1)'s, which would die of SIGUSR2: its child.
	kill -USR2 "$(child_of "$vmpid")" || fail "no VMM under $vmpid"
	wait "$vmpid"
	status=$?
	vmpid=
	echo "--- source"
	cat "$tmp/src.out"
	if [ "$status" -ne 0 ]; then
		kill "$vm2pid" 2>/dev/null
		wait "$vm2pid"
		vm2pid=
		echo "--- destination"
		cat "$tmp/dst.out"
		fail "source exit status $status, want 0"
	fi
	grep -q 'migrated to' "$tmp/src.out" || fail "no word of the move"
	wait "$vm2pid"
	status=$?
	vm2pid=
	echo "--- destination"
	cat "$tmp/dst.out"
	[ "$status" -eq 0 ] || fail "destination exit status $status, want 0"
	grep -q '^FAIL' "$tmp/src.out" && fail "the guest failed before"
	check_needs "$tmp/dst.out"
	grep -q 'the VM moved' "$tmp/dst.out" || fail "the guest did not move"
	echo "PASS"
}

# patch OFF BYTES: a copy of the guest with BYTES (printf octal escapes,
# little endian) written at OFF.
patch() {
	cp "$guest" "$tmp/bad.elf"
	printf "$2" | dd of="$tmp/bad.elf" bs=1 seek="$1" conv=notrunc \
		2>/dev/null
}

expect_refused() {
	run_vmm "$tmp/out" --mem 64M --guest "$1"
	[ "$status" -eq 125 ] || fail "$2: exit status $status, want 125"
	grep -q "$3" "$tmp/out" || fail "$2: no '$3' in the error"
}

run_hostile() {
	ff='\377\377\377\377\377\377\377\377'
	# Program headers of our guests start at 64 (checked here).
	phoff=$(od -An -j32 -N8 -tu8 "$guest" | tr -d ' ')
	[ "$phoff" = 64 ] || fail "guest's e_phoff is $phoff, not 64"

	: >"$tmp/empty.elf"
	expect_refused "$tmp/empty.elf" "empty file" "not an ELF"
	echo "#!/bin/sh" >"$tmp/text.elf"
	expect_refused "$tmp/text.elf" "text file" "not an ELF"
	head -c 100 "$guest" >"$tmp/short.elf"
	expect_refused "$tmp/short.elf" "truncated" "program header table"
	expect_refused "$tmp" "directory" "regular file"
	expect_refused "$tmp/nonexistent" "missing file" "No such file"
	patch 16 '\003\000'			# e_type ET_DYN
	expect_refused "$tmp/bad.elf" "ET_DYN" "not a static executable"
	patch 18 '\050\000'			# e_machine EM_ARM
	expect_refused "$tmp/bad.elf" "wrong machine" "x86-64"
	patch 24 '\000\000\000\000\000\000\000\000'	# e_entry 0
	expect_refused "$tmp/bad.elf" "entry 0" "entry point"
	patch 32 "$ff"				# e_phoff huge
	expect_refused "$tmp/bad.elf" "e_phoff" "program header table"
	patch 56 '\377\377'			# e_phnum 65535
	expect_refused "$tmp/bad.elf" "e_phnum" "program header table"
	patch 54 '\020\000'			# e_phentsize 16
	expect_refused "$tmp/bad.elf" "e_phentsize" "program header table"
	patch $((64 + 8)) "$ff"			# p_offset huge
	expect_refused "$tmp/bad.elf" "p_offset" "bad sizes"
	patch $((64 + 32)) "$ff"		# p_filesz huge
	expect_refused "$tmp/bad.elf" "p_filesz" "bad sizes"
	patch $((64 + 40)) "$ff"		# p_memsz wraps
	expect_refused "$tmp/bad.elf" "p_memsz" "outside the load area"
	patch $((64 + 16)) '\000\020\000\000\000\000\000\000'	# at 0x1000
	expect_refused "$tmp/bad.elf" "low p_vaddr" "outside the load area"
	patch $((64 + 16)) '\000\360\377\377\377\377\377\377'	# wraps
	expect_refused "$tmp/bad.elf" "wrapping p_vaddr" \
		"outside the load area"
	patch $((64 + 16)) '\000\000\000\004\000\000\000\000'	# 64 MiB
	expect_refused "$tmp/bad.elf" "p_vaddr past RAM" \
		"outside the load area"
	echo "PASS"
}

expect_usage() {
	run_vmm "$tmp/out" "$@"
	[ "$status" -eq 125 ] || fail "'$*': exit status $status, want 125"
	grep -q "$want" "$tmp/out" || fail "'$*': no '$want' in the output"
}

run_cli() {
	want="usage:"
	expect_usage
	expect_usage --guest "$guest" --bogus
	expect_usage --guest "$guest" extra
	want="bad --mem"
	expect_usage --guest "$guest" --mem 1
	expect_usage --guest "$guest" --mem 65G
	expect_usage --guest "$guest" --mem 3M
	expect_usage --guest "$guest" --mem 64X
	expect_usage --guest "$guest" --mem -- -1
	want="bad --cpus"
	expect_usage --guest "$guest" --cpus 0
	expect_usage --guest "$guest" --cpus 65
	expect_usage --guest "$guest" --cpus 1x
	want="bad --device"
	expect_usage --guest "$guest" --device vfio-user
	expect_usage --guest "$guest" --device vfio-user,socket=
	expect_usage --guest "$guest" --device virtio,socket=/x
	expect_usage --guest "$guest" --device vfio-user,path=/x
	expect_usage --guest "$guest" \
		--device vfio-user,socket=/a,socket=/b
	want="cannot connect"
	expect_usage --guest "$guest" --device vfio-user,socket="$tmp/none"
	run_vmm "$tmp/out" --help
	[ "$status" -eq 0 ] && grep -q "usage:" "$tmp/out" ||
		fail "--help: status $status"
	echo "PASS"
}

case $mode in
run) run_one ;;
disconnect) run_disconnect ;;
restart) run_restart ;;
migrate) run_migrate ;;
hostile) run_hostile ;;
cli) run_cli ;;
esac
