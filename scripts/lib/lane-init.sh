#!/bin/busybox sh
# shellcheck shell=dash
# /init of an emulated-host lane (scripts/emu-test). Runs as PID 1 under busybox sh inside the
# emulated arm64/ppc64/x86_64 host: loads the KVM modules, proves /dev/kvm works (kvm-smoke), runs
# the test executables in /tests, prints machine-readable markers and powers off.
#
# Markers (one per line, parsed by scripts/emu-test; the text after the marker is key=value):
#   @@LANE BOOT ...            init started
#   @@MODULE name=<m> rc=<rc>  insmod result
#   @@TEST BEGIN name=<n>      a test executable starts (its output follows)
#   @@TEST END name=<n> rc=<rc> secs=<s>
#   @@FLAKY name=<n> test=<t>  test t of executable n failed, then passed when run again alone
#   @@LANE END status=<rc> ... all done; poweroff follows
# Settings come from /etc/lane.env, written by scripts/emu-test.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
ip link set lo up 2>/dev/null # loopback, for the tests that migrate over tcp:127.0.0.1

LANE_ARCH=unknown LANE_MODE=tests LANE_FILTER='' LANE_BINS='' LANE_TEST_ARGS='' LANE_TEST_TIMEOUT=600 LANE_CMD=''
LANE_L2_RUNS=''
# shellcheck disable=SC1091
. /etc/lane.env

uptime_s() { cut -d' ' -f1 /proc/uptime; }
# secs_since START_UPTIME -> elapsed seconds with two decimals
secs_since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }'; }

finish() {
	echo "@@LANE END status=$1 $2 uptime=$(uptime_s)"
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger # poweroff -f does not return; this is a last resort
	sleep 5
}

echo "@@LANE BOOT arch=$LANE_ARCH kernel=$(uname -r) nproc=$(nproc) mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo) uptime=$(uptime_s)"

# Modules, in dependency order (emu-test resolved them with the kernel's modules.dep).
modfail=0
if [ -s /etc/lane/modules ]; then
	while read -r m; do
		[ -n "$m" ] || continue
		insmod "/lib/modules/lane/$m.ko"
		rc=$?
		echo "@@MODULE name=$m rc=$rc"
		[ "$rc" = 0 ] || modfail=1
	done </etc/lane/modules
fi

# Environment seen by every test executable.
export TETRA_BIN=/bin/tetra TETRA_REQUIRE_KVM=1 TETRA_LANE="$LANE_ARCH"
export TMPDIR=/tmp HOME=/root RUST_BACKTRACE=1
if [ -n "${LANE_L2_KERNEL:-}" ] && [ -e "$LANE_L2_KERNEL" ]; then
	export TETRA_L2_KERNEL="$LANE_L2_KERNEL" TETRA_L2_INITRD=/l2/initrd.cpio
	# x86_64 and arm64: the same plus the virtio modules, which its init loads with l2virtio=1
	[ ! -e /l2/initrd-virtio.cpio ] || export TETRA_L2_INITRD_VIRTIO=/l2/initrd-virtio.cpio
	export TETRA_L2_CMDLINE="console=ttyS0 quiet panic=-1" TETRA_L2_MARKER="TETRA-L2: init reached"
fi

echo "--- KVM in this host:"
ls -l /dev/kvm 2>&1
dmesg | grep -i -E 'kvm|svm|hypervisor' | tail -n 12

run_test() { # name command...
	name=$1
	shift
	echo "@@TEST BEGIN name=$name"
	t0=$(uptime_s)
	"$@"
	rc=$?
	echo "@@TEST END name=$name rc=$rc secs=$(secs_since "$t0")"
	return $rc
}

if [ "$LANE_MODE" = shell ]; then
	echo "lane shell: the environment above is exported; 'exit' powers off"
	setsid cttyhack sh
	finish 0 "mode=shell"
fi

status=0
run_test kvm-smoke /bin/kvm-smoke || status=1
[ "$modfail" = 0 ] || status=1

if [ "$LANE_MODE" = cmd ]; then
	run_test cmd sh -c "$LANE_CMD" || status=1
	finish "$status" "mode=cmd"
fi

# Test executables. LANE_BINS: space-separated shell patterns over the names in /tests (empty:
# all). LANE_FILTER goes to each libtest/libtest-mimic executable as its name filter.
ran=0 failed=0
cd /tmp || finish 1 "error=no-tmp"
selected() { # name: is it chosen by LANE_BINS?
	[ -n "$LANE_BINS" ] || return 0
	for pat in $LANE_BINS; do
		# shellcheck disable=SC2254
		case "$1" in $pat) return 0 ;; esac
	done
	return 1
}
# x86_64 and arm64: tetra boots the L2 Linux guest first (scripts/lib/l2-boot.sh), reported like a test
# executable named l2-boot.
if [ -x /bin/l2-boot ] && [ -n "$LANE_L2_RUNS" ] && selected l2-boot; then
	ran=$((ran + 1))
	run_test l2-boot /bin/l2-boot || failed=$((failed + 1))
fi
# failed_tests FILE: the names libtest lists under its last "failures:" heading.
failed_tests() {
	awk '/^failures:$/ { n = 0; on = 1; next } on && /^    [^ ]/ { a[n++] = $1; next } on && /^$/ && n { on = 0 } END { for (i = 0; i < n; i++) print a[i] }' "$1"
}
for t in /tests/*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	selected "$name" || continue
	ran=$((ran + 1))
	if [ -n "$LANE_FILTER" ]; then set -- "$LANE_FILTER"; else set --; fi
	out=/tmp/lane-out
	# shellcheck disable=SC2086
	# shellcheck disable=SC2016 # $1.. belong to the inner shell
	run_test "$name" sh -c 'timeout "$1" "$2" $3 ${5:+"$5"} >"$4" 2>&1; rc=$?; cat "$4"; exit $rc' \
		sh "$LANE_TEST_TIMEOUT" "$t" "$LANE_TEST_ARGS" "$out" "$@" && continue
	# The emulated hosts' nested virtualization has rare faults of its own (docs/lanes.md, "Known
	# faults of the emulated hosts"): a test that failed is run once more, alone, and the lane
	# reports it as FLAKY if it then passes. A real failure fails twice. At most 6 retried: one fault of the
	# emulated x86 host once failed 4 unrelated tests of one run (CI of 2026-12-04), which all
	# passed in the next run of the same code.
	names=$(failed_tests "$out")
	if [ -z "$names" ] || [ "$(echo "$names" | wc -l)" -gt 6 ]; then
		failed=$((failed + 1))
		continue
	fi
	again=0 exe=$name
	for n in $names; do
		# shellcheck disable=SC2086
		if run_test "$exe.retry" timeout "$LANE_TEST_TIMEOUT" "$t" $LANE_TEST_ARGS --exact "$n"; then
			echo "@@FLAKY name=$exe test=$n"
		else
			again=1
		fi
	done
	[ "$again" = 0 ] || failed=$((failed + 1))
done
[ "$failed" = 0 ] || status=1
if [ "$ran" = 0 ]; then
	echo "no test executable matched LANE_BINS='$LANE_BINS'"
	status=1
fi
finish "$status" "mode=tests binaries=$ran failed=$failed"
