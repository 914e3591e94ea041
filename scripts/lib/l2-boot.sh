#!/bin/busybox sh
# shellcheck shell=dash
# The x86_64 lane's Linux boot under tetra: run inside the emulated host by lane-init.sh. For each
# run in LANE_L2_RUNS ("CPUS:quiet" or "CPUS:verbose", space separated) it boots /l2/bzImage with
# /l2/initrd.cpio (init: l2-init.sh) under /bin/tetra through /bin/l2-run, which timestamps the
# guest console, types a line when the guest asks for input and kills tetra after LANE_L2_TIMEOUT
# seconds. A ":pvh" suffix boots the ELF vmlinux /l2/vmlinux through its PVH entry instead of the
# bzImage. A ":virtio" suffix (after ":pvh") gives the guest virtio devices and boots
# /l2/initrd-virtio.cpio, whose init loads the virtio modules (l2virtio=1): a virtio-rng device
# (--rng), a 4 MiB disk image whose first line is TETRA-DISK-IN (--disk), and a network card
# (--net tap=tetra0; this script gives the interface 10.0.2.1/24 once tetra made it), and a vsock
# device (--vsock cid=3,uds=/tmp/v.sock: vsock-echo on both sides, each connecting to the other).
# A run passes when the guest reached init (marker), reported nproc = CPUS, echoed the input line,
# did not panic, logged no ACPI error or warning, and tetra exited 0 (ACPI power-off); a :virtio
# run also needs every module loaded, the virtio-rng device (id 4) on the guest's virtio bus and
# 64 bytes read from its /dev/hwrng, the disk (id 2) read (its first line) and written (the
# guest's TETRA-DISK-OUT line at 1 MiB is in the image after tetra exits), and the network card
# (id 1) up with at least one of 3 pings to 10.0.2.1 answered.
# Per run, one line:
#
#   @@L2 RUN name=<n> cpus=<c> status=PASS|FAIL rc=<tetra's status> marker_s=<secs from tetra's
#        start to the marker, this host's clock> total_s=<secs to tetra's exit> guest_uptime=<the
#        guest's /proc/uptime at init> run_init=<printk time of "Run /init"> nproc=<n>
#        irq4=<serial interrupts> reason=<why it failed; may contain spaces, always last>
#
# followed by the guest's facts (TETRA-L2 lines), or, on a failure, its last 30 console lines. A
# failed run is booted once more as <n>-rerun; if that passes, "@@FLAKY name=l2-boot test=<n>"
# follows and the run does not count as failed.
# Exit status: the number of failed runs (0: all passed, maybe after a rerun).

L2_RUNS=${LANE_L2_RUNS:-"1:quiet 2:quiet"}
L2_TIMEOUT=${LANE_L2_TIMEOUT:-300}
L2_MEM=${LANE_L2_MEM:-256}
L2_APPEND=${LANE_L2_APPEND:-}
L2_SHOW=${LANE_L2_SHOW:-0}
MARKER="TETRA-L2: init reached"

# field KEY FILE: the value after "TETRA-L2: KEY=" in the guest's log (first occurrence).
field() { sed -n "s/.*TETRA-L2: $1=//p" "$2" | head -n 1; }
# kv KEY LINE: the value of KEY=... in a summary line.
kv() { echo "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# virtio_reason LOG IMAGE VSOCK: why a :virtio run failed (empty when the guest found each device and
# used it: 64 bytes from virtio-rng, the disk read and written, a ping answered through the card).
virtio_reason() {
	if [ -n "$(field modules-failed "$1")" ]; then
		echo "insmod failed in the guest for: $(field modules-failed "$1")"
	elif ! field virtio "$1" | grep -qw 0x0004; then
		echo "the guest found no virtio-rng device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field hwrng "$1")" != 64 ]; then
		echo "the guest read $(field hwrng "$1") of 64 bytes from /dev/hwrng (hwrng-current=$(field hwrng-current "$1"))"
	elif ! field virtio "$1" | grep -qw 0x0002; then
		echo "the guest found no virtio-blk device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field disk-in "$1")" != TETRA-DISK-IN ]; then
		echo "the guest read '$(field disk-in "$1")' from /dev/vda, expected TETRA-DISK-IN"
	elif [ "$(dd if="$2" bs=1048576 skip=1 count=1 2>/dev/null | head -n 1)" != TETRA-DISK-OUT ]; then
		echo "the guest's write (TETRA-DISK-OUT at 1 MiB of /dev/vda) is not in the image (disk-out=$(field disk-out "$1"))"
	elif ! field virtio "$1" | grep -qw 0x0001; then
		echo "the guest found no virtio-net device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field ping "$1")" = "" ] || [ "$(field ping "$1")" = 0 ]; then
		echo "no ping from the guest (10.0.2.15) to the host's TAP interface (10.0.2.1) was answered (ping=$(field ping "$1"), eth0: $(field eth0 "$1"))"
	elif [ "$(field vsock-out "$1")" != hello-from-guest ]; then
		echo "the guest's vsock connection to host port 53 (/tmp/v.sock_53) did not echo (vsock-out=$(field vsock-out "$1"))"
	elif [ "$(field vsock-in "$1")" != hello-from-host ] || [ "$(sed -n 's/^out=//p' "$3")" != hello-from-host ]; then
		echo "the host's connection through /tmp/v.sock to guest port 52 did not echo (vsock-in=$(field vsock-in "$1"), host: $(tr '\n' ' ' <"$3"))"
	fi
}

# tap_up NAME: gives the TAP interface NAME the address 10.0.2.1/24 and brings it up as soon as
# tetra made it (tetra runs as root here: it creates the interface), for 60 s at most.
tap_up() {
	i=0
	while [ $i -lt 600 ]; do
		if [ -e "/sys/class/net/$1" ]; then
			ip addr add 10.0.2.1/24 dev "$1" && ip link set "$1" up
			return
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# boot NAME KERNEL CPUS KQ VIRTIO: one run, reported as above; returns 0 when it passed.
boot() {
	name=$1 kernel=$2 cpus=$3 kq=$4 virtio=$5
	log="/tmp/l2-$name.log"
	token="tetra-input-$cpus-$$"
	cmdline="console=ttyS0 $kq panic=-1 printk.time=1 l2input=1"
	devices= initrd=/l2/initrd.cpio img=
	if [ "$virtio" = 1 ]; then
		cmdline="$cmdline l2virtio=1"
		img="/tmp/l2-$name.img"
		dd if=/dev/zero of="$img" bs=1048576 count=4 2>/dev/null
		echo TETRA-DISK-IN | dd of="$img" conv=notrunc 2>/dev/null
		devices="--rng --disk $img,id=tetra-l2 --net tap=tetra0 --vsock cid=3,uds=/tmp/v.sock"
		initrd=/l2/initrd-virtio.cpio
		tap_up tetra0 &
		/bin/vsock-echo unix-listen /tmp/v.sock_53 >/dev/null 2>&1 &
		/bin/vsock-echo unix-connect /tmp/v.sock 52 hello-from-host "$L2_TIMEOUT" >"/tmp/l2-$name.vsock" 2>&1 &
		vsock_pids="${vsock_pids:-} $!"
	fi
	cmdline="$cmdline $L2_APPEND"
	echo "--- L2 $name: tetra run --kernel $kernel --initrd $initrd --cpus $cpus --mem $L2_MEM $devices${devices:+ }--cmdline '$cmdline'"
	# shellcheck disable=SC2086 # $devices: options without spaces in them
	sum=$(/bin/l2-run --log "$log" --timeout "$L2_TIMEOUT" --marker "$MARKER" \
		--prompt "TETRA-L2: ready for input" --input "$token" -- \
		/bin/tetra run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
		--cpus "$cpus" --mem "$L2_MEM" $devices | tail -n 1)
	# shellcheck disable=SC2086 # the pids
	[ -z "${vsock_pids:-}" ] || kill $vsock_pids 2>/dev/null
	vsock_pids=
	rc=$(kv rc "$sum")
	nproc=$(field nproc "$log")
	reason=
	if [ -z "$rc" ]; then
		reason="l2-run failed: $sum"
	elif [ "$(kv timeout "$sum")" = 1 ]; then
		reason="hang: tetra still running after ${L2_TIMEOUT}s (killed)"
	elif grep -q 'Kernel panic' "$log"; then
		reason="kernel panic in the L2 guest: $(grep -m1 -o 'Kernel panic.*' "$log")"
	elif ! grep -q "$MARKER" "$log"; then
		reason="the guest never reached init (no '$MARKER'; tetra exit $rc)"
	elif [ "$nproc" != "$cpus" ]; then
		reason="nproc=$nproc, expected $cpus"
	elif ! grep -q "TETRA-L2: input=$token" "$log"; then
		reason="console input did not reach the guest (no 'TETRA-L2: input=$token')"
	elif [ "$virtio" = 1 ] && [ -n "$(virtio_reason "$log" "$img" "/tmp/l2-$name.vsock")" ]; then
		reason=$(virtio_reason "$log" "$img" "/tmp/l2-$name.vsock")
	elif [ "$(field acpi-errors "$log")" != 0 ]; then
		reason="the guest logged ACPI errors or warnings (acpi-errors=$(field acpi-errors "$log"))"
	elif [ "$rc" != 0 ]; then
		reason="tetra exited $rc, expected 0 (ACPI power-off)"
	elif ! grep -q 'reboot: Power down' "$log"; then
		reason="tetra exited 0 but the guest did not power down (no 'reboot: Power down')"
	fi
	[ -z "$img" ] || rm -f "$img"
	status=PASS
	[ -z "$reason" ] || status=FAIL
	irq4=$(field irq4 "$log" | awk '{ s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }')
	echo "@@L2 RUN name=$name cpus=$cpus status=$status rc=${rc:--} marker_s=$(kv marker_s "$sum") total_s=$(kv total_s "$sum") guest_uptime=$(field uptime "$log") run_init=$(field run-init "$log") nproc=${nproc:--} irq4=${irq4:--} reason=$reason"
	if [ "$status" = PASS ] && [ "$L2_SHOW" != 1 ]; then
		grep 'TETRA-L2: [a-z0-9-]*=' "$log" | sed 's/^/  | /'
	elif [ "$L2_SHOW" = 1 ]; then
		sed 's/^/  | /' "$log"
	else
		echo "--- L2 $name: last 30 console lines (seconds since tetra started):"
		tail -n 30 "$log" | sed 's/^/  | /'
	fi
	[ "$status" = PASS ]
}

failed=0
for spec in $L2_RUNS; do
	cpus=${spec%%:*}
	flavor=${spec#*:}
	kernel=/l2/bzImage suffix= virtio=0
	case "$flavor" in
	*:virtio)
		virtio=1 suffix=-virtio
		flavor=${flavor%:virtio}
		;;
	esac
	case "$flavor" in
	*:pvh)
		kernel=/l2/vmlinux suffix=-pvh$suffix
		flavor=${flavor%:pvh}
		;;
	esac
	case "$flavor" in
	quiet) kq=quiet ;;
	verbose) kq= ;;
	*)
		echo "@@L2 RUN name=$spec cpus=$cpus status=FAIL reason=bad run spec '$spec' (want CPUS:quiet or CPUS:verbose, optionally :pvh, then optionally :virtio)"
		failed=$((failed + 1))
		continue
		;;
	esac
	run="cpus$cpus-$flavor$suffix"
	boot "$run" "$kernel" "$cpus" "$kq" "$virtio" && continue
	# The emulated host's nested SVM has rare faults of its own (docs/lanes.md, "Known faults of
	# the emulated hosts"): a failed run is booted once more, and reported FLAKY if that passes.
	# A tetra or guest bug that fails every time fails the lane.
	if boot "$run-rerun" "$kernel" "$cpus" "$kq" "$virtio"; then
		echo "@@FLAKY name=l2-boot test=$run"
	else
		failed=$((failed + 1))
	fi
done
exit "$failed"
