#!/bin/busybox sh
# shellcheck shell=dash
# The x86_64, arm64 and ppc64 lanes' Linux boot under tetra: run inside the emulated host by
# lane-init.sh. For each run in LANE_L2_RUNS ("CPUS:quiet" or "CPUS:verbose", space separated) it
# boots LANE_L2_KERNEL (x86_64: /l2/bzImage; arm64: /l2/Image, with --irqchip gicv3-its) with
# /l2/initrd.cpio (init: l2-init.sh) under /bin/tetra through /bin/l2-run, which timestamps the
# guest console, types a line when the guest asks for input and kills tetra after LANE_L2_TIMEOUT
# seconds. x86_64 only: a ":pvh" suffix boots the ELF vmlinux /l2/vmlinux through its PVH entry
# instead of the bzImage. Every lane (the devices on virtio-mmio, found through ACPI or the
# device tree; :pci (x86_64, arm64) puts them on virtio-pci): a ":virtio" suffix (after ":pvh") gives the guest virtio devices and
# boots /l2/initrd-virtio.cpio, whose init loads the virtio modules (l2virtio=1): a virtio-rng
# device (--rng), a 16 MiB ext4 filesystem image (made here with the lane's e2fsprogs in /e2fs)
# whose first line, before the superblock, is TETRA-DISK-IN (--disk), a 1 MiB read-only one
# whose first line is TETRA-RO-IN (--disk ...,ro), a network card (--net tap=tetra0; this
# script gives the interface 10.0.2.1/24 once tetra made it), a vsock device
# (--vsock cid=3,uds=/tmp/v.sock: vsock-echo on both sides, each connecting to the other), and the
# console input on virtio-console (--console virtio: the guest reads the input line from hvc0;
# on ppc64 from hvc1, hvc0 being the PAPR vty, which then gets no input: its interrupt count is
# not required there).
# A run passes when the guest reached init (marker), reported nproc = CPUS, echoed the input line
# (which arrives through the UART's receive interrupt), did not panic, logged no ACPI error or
# warning, and tetra exited 0 after the guest's "reboot: Power down" (x86: ACPI S5; arm64: PSCI
# SYSTEM_OFF); arm64 also needs the UART's interrupt to have fired, the clock set from the PL031
# RTC ("rtc-pl031 ...: setting system clock to ...") and, with LANE_L2_PMU=1 (the
# default there), Linux's armv8 PMU driver line ("hw perfevents: enabled with ... N counters
# available"); a :virtio run also needs every module loaded, the virtio-rng device (id 4) on the
# guest's virtio bus and 64 bytes read from its /dev/hwrng, the disk (id 2) read (its first line)
# and mounted as ext4 (at /newroot, a root-to-be: a shell run from it by chroot writes
# /tetra-l2.txt, then sync and unmount); after tetra exits, e2fsck -fn finds the image clean and
# debugfs finds the file with its content and the guest's copy of busybox identical to this
# host's (the same Debian busybox-static); the read-only disk read, the guest's write to it
# refused and its image byte-identical (MD5), the virtio-console (id 3) carrying a line each
# way, and the network card (id 1) up with at least one of 3 pings to 10.0.2.1 answered, and
# LANE_L2_NET_MIB MiB (default 64) of random bytes carried each way over raw TCP (busybox nc)
# with matching MD5s: the guest receives this host's file from 10.0.2.1:5001, then sends its
# own to 10.0.2.1:5002, stored here in /tmp/l2-up.bin; and a line echoed through vsock each way.
# The TAP interface and these servers are in a network namespace of this host (not the lane
# init's): the script runs itself again inside a new one (unshare -n), tetra included. A :pci
# run needs all 6 bound to virtio-pci with at least 12 MSI-X lines (x86: PCI-MSI; arm64:
# ITS-MSI, through the GICv3 ITS); an arm64 :pci :snap or :migrate run also needs the virtio
# console's ITS MSIs grown across it.
# Per run, one line:
#
#   @@L2 RUN name=<n> cpus=<c> status=PASS|FAIL rc=<tetra's status> marker_s=<secs from tetra's
#        start to the marker, this host's clock> total_s=<secs to tetra's exit> guest_uptime=<the
#        guest's /proc/uptime at init> run_init=<printk time of "Run /init"> nproc=<n>
#        uart_irqs=<serial interrupts> reason=<why it failed; may contain spaces, always last>
#
# followed by the guest's facts (TETRA-L2 lines), or, on a failure, its last 30 console lines. A
# failed run is booted once more as <n>-rerun; if that passes, "@@FLAKY name=l2-boot test=<n>"
# follows and the run does not count as failed.
# With LANE_L2_QEMU=1 (arm64 and ppc64, emu-test --l2-qemu) and QEMU at /qemu (the lane's
# qemu-system-aarch64 or qemu-system-ppc64 and its libraries, run through their own ld.so), each
# run is also booted under QEMU -M virt (-M pseries) with KVM in the same host, as qemu-<run>, for
# the seconds-to-init comparison: the same kernel, initramfs, command line (console=ttyAMA0,
# QEMU's PL011; hvc0 on ppc64, QEMU's spapr-vty) and checks, but for tetra's own
# (the 16550's interrupt, the PL031, the PMU line, which are printed but not required).
# A ":vhost" suffix (after :virtio or :virtio:pci) gives the vsock device the kernel's vhost-vsock
# (--vsock cid=3 without uds=; this host loads vhost_vsock): this host's side of the echo each way
# is then its own AF_VSOCK sockets (vsock-echo listen 53, vsock-echo connect-cid 3 52).
# An ":io" suffix (after :virtio or :virtio:pci, before :snap or :migrate; snapio_* below) keeps
# disk and network I/O going across the snapshot or the migration: a third disk (a
# LANE_L2_SNAPIO_DISK_MIB MiB image, default 64, id=tetra-io) that the guest fills with
# sequence-numbered blocks, and a download of LANE_L2_SNAPIO_MIB MiB (default 64) of random bytes
# from this host's httpd, both started before snap-ready; it needs the download running at the
# pause (its TCP connection established on this host) or the switch-over, its MD5 right at the
# end, the writer going on after the restore, and every block it wrote on the image after tetra
# exits, each with its own sequence number.
# A ":bench" suffix (after :virtio or :virtio:pci; not with :io, :snap or :migrate; x86_64) is a
# benchmark, not a check of the devices: the guest gets only a read-only disk of LANE_L2_BENCH_MIB
# MiB (default 64) of random bytes with the serial tetra-bench and the network card, and runs
# io-bench (scripts/lib/io-bench.c) for LANE_L2_BENCH_S seconds (default 10) each: 4 KiB random
# reads and 1 MiB sequential reads with O_DIRECT at queue depth 1, then TCP to this host's
# io-bench (a sink on :5003, a source on :5004). With --l2-qemu the same run boots under QEMU
# (x86_64: -M q35, virtio-blk-pci and virtio-net-pci on a TAP, both the same backends: a raw
# file through the host's page cache, a TAP without vhost), and one "@@L2 BENCH" line per run
# gives tetra's figures, QEMU's and their ratios. It passes when every figure is there.
# A ":pwr" suffix (last; without :virtio, :snap or :migrate) presses the guest's power button
# with `tetra ctl powerdown` once its init says pwr-ready (after the input line): arm64 needs the
# init to read a KEY_POWER event from the gpio-keys device, ppc64 the kernel's "Power off
# requested" (the EPOW event). The guest then powers off as in every run.
# An ":s3" suffix (x86_64; after :pvh, without :virtio, :snap or :migrate) suspends the guest to
# RAM before its prompt, for LANE_L2_S3_S seconds (default 2), as `rtcwake -m mem -s 2` does (an
# RTC wake alarm, then "mem" into /sys/power/state): it needs "mem" offered, the write to
# have returned (the guest suspended and woke), the guest's clock to have gone on by at least the
# alarm's seconds less one, and the console to take the input line afterwards.
# Exit status: the number of failed runs (0: all passed, maybe after a rerun).

# The network namespace: this script again, inside a new one (its loopback up).
if [ -z "${L2_NETNS_OF_LANE:-}" ]; then
	L2_NETNS_OF_LANE=$(readlink /proc/self/ns/net)
	export L2_NETNS_OF_LANE
	exec unshare -n -- "$0" "$@"
fi
ip link set lo up
echo "--- l2-boot: in network namespace $(readlink /proc/self/ns/net) (the lane's init: $L2_NETNS_OF_LANE)"

L2_RUNS=${LANE_L2_RUNS:-"1:quiet 2:quiet"}
L2_TIMEOUT=${LANE_L2_TIMEOUT:-300}
L2_MEM=${LANE_L2_MEM:-256}
L2_APPEND=${LANE_L2_APPEND:-}
L2_SHOW=${LANE_L2_SHOW:-0}
NET_MIB=${LANE_L2_NET_MIB:-64}
BENCH_S=${LANE_L2_BENCH_S:-10}
S3_S=${LANE_L2_S3_S:-2}
BENCH_MIB=${LANE_L2_BENCH_MIB:-64}
SNAPIO_MIB=${LANE_L2_SNAPIO_MIB:-64}
SNAPIO_DISK_MIB=${LANE_L2_SNAPIO_DISK_MIB:-64}
L2_KERNEL=${LANE_L2_KERNEL:-/l2/bzImage}
ARCH=${TETRA_LANE:-x86_64}
TETRA_ARGS= L2_PMU=0
# The virtio console's device in the guest: hvc0, but for ppc64, whose hvc0 is the PAPR vty.
VCON=hvc0
[ "$ARCH" != ppc64 ] || VCON=hvc1
if [ "$ARCH" = arm64 ]; then
	# The complete machine: GICv3 with the ITS as the MSI controller; the host offers a vPMU.
	TETRA_ARGS="--irqchip gicv3-its" L2_PMU=${LANE_L2_PMU:-1}
fi
MARKER="TETRA-L2: init reached"
# The emulated x86 host's nested-SVM fault (docs/lanes.md, "Known faults"): tetra's report of a
# triple fault with the vCPU already in its reset state (the L1 KVM resets the VMCB on a shutdown
# intercept, so what the guest was doing is gone).
SVM_RESET_FAULT='triple fault (KVM_EXIT_SHUTDOWN); rip=0xfff0 '

# svm_fault LOG: whether the run logged in LOG ended in one of the emulated x86 host's two known
# nested-SVM faults (docs/lanes.md, "Known faults"): the triple fault above, or a hang whose
# vCPU, paused by the hang probe, reads back the L1 host's own registers at its VMRUN (rip inside
# this host's kvm_amd module, whose place and size the probe printed).
svm_fault() {
	grep -q "$SVM_RESET_FAULT" "$1" && return 0
	local m base size rip
	m=$(grep -m1 '^\[on-timeout\] module kvm_amd ' "$1") || return 1
	size=$(echo "$m" | awk '{ print $4 }')
	base=$(echo "$m" | awk '{ print $NF }')
	case "$size:$base" in [0-9]*:0x[0-9a-f]*) ;; *) return 1 ;; esac
	for rip in $(grep '^\[on-timeout\] vcpu .*rip=0x' "$1" | sed 's/.*rip=\(0x[0-9a-f]*\).*/\1/'); do
		# (Signed 64-bit arithmetic: both are kernel addresses, their difference is small.)
		[ $((rip - base)) -ge 0 ] && [ $((rip - base)) -lt "$size" ] && return 0
	done
	return 1
}
# --l2-qemu: the QEMU binary in /qemu/bin, its loader in /qemu/lib, and the machine. pseries boots
# -kernel through its Virtual Open Firmware (vof.bin in /qemu/share, no SLOF), on the in-kernel
# XICS (the host's KVM has no XIVE device), with the capabilities this nested KVM-HV lacks
# turned off (QEMU refuses to start when KVM cannot give one asked for).
QEMU_BIN=qemu-system-aarch64 QEMU_LDSO=ld-linux-aarch64.so.1 QEMU_MACHINE="-M virt,gic-version=3"
if [ "$ARCH" = x86_64 ]; then
	# SeaBIOS (bios-256k.bin) and the -kernel option ROMs in /qemu/share.
	QEMU_BIN=qemu-system-x86_64 QEMU_LDSO=ld-linux-x86-64.so.2 QEMU_MACHINE="-L /qemu/share -M q35"
elif [ "$ARCH" = ppc64 ]; then
	QEMU_BIN=qemu-system-ppc64 QEMU_LDSO=ld64.so.2
	QEMU_MACHINE="-L /qemu/share -M pseries,x-vof=on,ic-mode=xics,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off,cap-large-decr=off,cap-fwnmi=off,cap-rpt-invalidate=off"
fi

# field KEY FILE: the value after "TETRA-L2: KEY=" in the guest's log (first occurrence).
field() { sed -n "s/.*TETRA-L2: $1=//p" "$2" | head -n 1; }
# kv KEY LINE: the value of KEY=... in a summary line.
kv() { echo "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# virtio_reason LOG IMAGE VSOCK: why a :virtio run failed (empty when the guest found each device and
# used it: 64 bytes from virtio-rng, the disk read and written, a ping answered through the card).
virtio_reason() {
	vsock_side="/tmp/v.sock"
	[ "${vhost:-0}" = 0 ] || vsock_side="vhost-vsock, CID 3"
	if [ -n "$(field modules-failed "$1")" ]; then
		echo "insmod failed in the guest for: $(field modules-failed "$1")"
	elif [ "${pci:-0}" = 1 ] && [ "$(field virtio-pci "$1")" != $((6 + ${snapio:-0})) ]; then
		echo "$(field virtio-pci "$1") of the $((6 + ${snapio:-0})) devices are bound to the guest's virtio-pci driver (PCI: $(field pci "$1"))"
	elif [ "${pci:-0}" = 1 ] && [ "$ARCH" = arm64 ] && [ "$(($(field virtio-its "$1") + 0))" -lt 12 ]; then
		# arm64: MSI-X through the GICv3 ITS (the chip is ITS-MSI or ITS-PCI-MSI, by kernel).
		echo "$(field virtio-its "$1") ITS MSI interrupt lines of virtio devices in /proc/interrupts, expected a config and a queue vector each (at least 12): $(field virtio-irq "$1")"
	elif [ "${pci:-0}" = 1 ] && [ "$ARCH" != arm64 ] && [ "$(($(field virtio-msi "$1") + 0))" -lt 12 ]; then
		echo "$(field virtio-msi "$1") PCI-MSI interrupt lines of virtio devices in /proc/interrupts, expected a config and a queue vector each (at least 12): $(field virtio-irq "$1")"
	elif ! field virtio "$1" | grep -qw 0x0004; then
		echo "the guest found no virtio-rng device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field hwrng "$1")" != 64 ]; then
		echo "the guest read $(field hwrng "$1") of 64 bytes from /dev/hwrng (hwrng-current=$(field hwrng-current "$1"))"
	elif ! field virtio "$1" | grep -qw 0x0002; then
		echo "the guest found no virtio-blk device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field disk-in "$1")" != TETRA-DISK-IN ]; then
		echo "the guest read '$(field disk-in "$1")' from /dev/vda, expected TETRA-DISK-IN"
	elif [ "$(field ext4 "$1")" != ok ] || [ "$(field ext4-read "$1")" != "$EXT4_TEXT" ]; then
		echo "the guest's write into its ext4 disk failed (ext4=$(field ext4 "$1"), ext4-read=$(field ext4-read "$1"), ext4-mount=$(field ext4-mount "$1"))"
	elif [ "$fsck_rc" != 0 ]; then
		echo "e2fsck -fn of the guest's ext4 image exited $fsck_rc: $fsck_out"
	elif [ "$ext4_file" != "$EXT4_TEXT" ]; then
		echo "debugfs found '$ext4_file' in the image's /tetra-l2.txt, expected $EXT4_TEXT"
	elif [ "$ext4_bb" != "$(md5 /bin/busybox)" ]; then
		echo "the image's /bin/busybox has MD5 '$ext4_bb', this host's $(md5 /bin/busybox)"
	elif [ "$(field ro-in "$1")" != TETRA-RO-IN ]; then
		echo "the guest read '$(field ro-in "$1")' from the read-only disk, expected TETRA-RO-IN"
	elif [ "$(field ro-flag "$1")" != 1 ] || [ "$(field ro-write "$1")" != refused ]; then
		echo "the read-only disk took a write (ro-flag=$(field ro-flag "$1"), ro-write=$(field ro-write "$1"))"
	elif [ "$(md5 "$ro_img")" != "$ro_md5" ]; then
		echo "the read-only disk's image changed (MD5 $(md5 "$ro_img"), was $ro_md5)"
	elif ! field virtio "$1" | grep -qw 0x0003; then
		echo "the guest found no virtio-console device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field input-from "$1")" != "$VCON" ] || [ "$(field hvc0-out "$1")" != hello-from-hvc0 ]; then
		echo "$VCON did not carry the lines (input-from=$(field input-from "$1"), hvc0-out=$(field hvc0-out "$1"))"
	elif ! field virtio "$1" | grep -qw 0x0001; then
		echo "the guest found no virtio-net device (virtio bus: '$(field virtio "$1")')"
	elif [ "$(field ping "$1")" = "" ] || [ "$(field ping "$1")" = 0 ]; then
		echo "no ping from the guest (10.0.2.15) to the host's TAP interface (10.0.2.1) was answered (ping=$(field ping "$1"), eth0: $(field eth0 "$1"))"
	elif [ "$(field down-md5 "$1")" != "$(md5 "$NET_DIR/blob")" ]; then
		echo "the guest's copy of this host's $NET_MIB MiB has MD5 '$(field down-md5 "$1")', not $(md5 "$NET_DIR/blob")"
	elif [ ! -s /tmp/l2-up.bin ]; then
		echo "this host received none of the guest's $NET_MIB MiB (up-md5=$(field up-md5 "$1"), up=$(field up "$1"))"
	elif [ "$(field up-md5 "$1")" != "$(md5 /tmp/l2-up.bin)" ]; then
		echo "this host's copy of the guest's $NET_MIB MiB has MD5 $(md5 /tmp/l2-up.bin), the guest's is '$(field up-md5 "$1")'"
	elif [ "$(field vsock-out "$1")" != hello-from-guest ]; then
		echo "the guest's vsock connection to host port 53 ($vsock_side) did not echo (vsock-out=$(field vsock-out "$1"))"
	elif [ "$(field vsock-in "$1")" != hello-from-host ] || [ "$(sed -n 's/^out=//p' "$3")" != hello-from-host ]; then
		echo "the host's connection ($vsock_side) to guest port 52 did not echo (vsock-in=$(field vsock-in "$1"), host: $(tr '\n' ' ' <"$3"))"
	fi
}

md5() { md5sum "$1" | cut -d' ' -f1; }

# tap_up NAME: gives the TAP interface NAME the address 10.0.2.1/24 and brings it up as soon as
# tetra made it (tetra runs as root here: it creates the interface), for 60 s at most. (Asked of
# ip, not /sys/class/net: that sysfs was mounted in the lane init's network namespace.)
tap_up() {
	i=0
	while [ $i -lt 600 ] && ! ip link show "$1" >/dev/null 2>&1; do
		sleep 0.1
		i=$((i + 1))
	done
	ip addr add 10.0.2.1/24 dev "$1" && ip link set "$1" up
}

# e2 TOOL ARGS...: the lane's e2fsprogs (mke2fs, e2fsck, debugfs), through their own ld.so.
e2() {
	tool=$1
	shift
	/e2fs/lib/ld.so --library-path /e2fs/lib "/e2fs/bin/$tool" "$@"
}

# What the guest writes into its ext4 disk's /tetra-l2.txt (l2-init.sh).
EXT4_TEXT=TETRA-EXT4-OUT

# ext4_image FILE: a 16 MiB ext4 filesystem (mke2fs's built-in defaults for ext4: journal,
# extents, metadata_csum) whose first line, in the 1 KiB before its superblock, is TETRA-DISK-IN.
ext4_image() {
	dd if=/dev/zero of="$1" bs=1048576 count=16 2>/dev/null
	e2 mke2fs -q -F -t ext4 -L tetra-l2 "$1" && echo TETRA-DISK-IN | dd of="$1" conv=notrunc 2>/dev/null
}

# ext4_check FILE: after the guest powered off, e2fsck -fn of its disk image (sets fsck_rc and
# fsck_out, its last line) and what debugfs finds in it (ext4_file: /tetra-l2.txt; ext4_bb: the
# MD5 of /bin/busybox).
ext4_check() {
	fsck_out=$(e2 e2fsck -fn "$1" 2>&1)
	fsck_rc=$?
	fsck_out=$(echo "$fsck_out" | tail -n 1)
	ext4_file=$(e2 debugfs -R 'cat /tetra-l2.txt' "$1" 2>/dev/null)
	ext4_bb=$(e2 debugfs -R 'cat /bin/busybox' "$1" 2>/dev/null | md5sum | cut -d' ' -f1)
	echo "--- L2 $name: this host's e2fsck -fn of the guest's ext4 image: exit $fsck_rc ($fsck_out); debugfs: /tetra-l2.txt '$ext4_file', /bin/busybox MD5 $ext4_bb"
}

# net_servers DIR: this host's TCP servers for the guest's transfers (busybox nc, one connection
# each): port 5001 sends DIR/blob, NET_MIB random MiB, and closes; port 5002 stores what it
# receives in /tmp/l2-up.bin until the guest closes. Sets net_pids.
net_servers() {
	rm -rf "$1" /tmp/l2-up.bin && mkdir -p "$1"
	dd if=/dev/urandom of="$1/blob" bs=1048576 count="$NET_MIB" 2>/dev/null
	printf '#!/bin/busybox sh\nexec cat %s\n' "$1/blob" >"$1/down"
	printf '#!/bin/busybox sh\nexec cat >/tmp/l2-up.bin\n' >"$1/up"
	chmod +x "$1/down" "$1/up"
	nc -l -p 5001 -e "$1/down" &
	net_pids=$!
	nc -l -p 5002 -e "$1/up" &
	net_pids="$net_pids $!"
}

# pwr_reason LOG: why a :pwr run failed (empty when the press was answered and the guest took
# it: arm64 read the KEY_POWER event, ppc64's kernel said "Power off requested").
pwr_reason() {
	out=$(tr '\n' ' ' <"/tmp/l2-$name.pwr" 2>/dev/null)
	if [ "${out% }" != "ok: pressed" ]; then
		echo "tetra ctl powerdown answered '${out% }'"
	elif [ "$ARCH" = ppc64 ] && ! grep -q 'Power off requested' "$1"; then
		echo "the guest's kernel did not take the EPOW event (no 'Power off requested'; pwr='$(field pwr "$1")')"
	elif [ "$ARCH" != ppc64 ] && [ "$(field pwr "$1")" != key ]; then
		echo "the guest read no KEY_POWER event (pwr='$(field pwr "$1")', pwr-dev='$(field pwr-dev "$1")')"
	fi
}

# s3_reason LOG: why an :s3 run failed (empty when the guest suspended to RAM and woke).
s3_reason() {
	if ! field s3-states "$1" | grep -qw mem; then
		echo "the guest offers no suspend to RAM (/sys/power/state: '$(field s3-states "$1")')"
	elif [ "$(field s3-rc "$1")" != 0 ]; then
		echo "the guest's suspend to RAM failed (s3-rc=$(field s3-rc "$1"))"
	elif [ "$(($(field s3-slept "$1") + 1))" -lt "$S3_S" ]; then
		echo "the guest's clock went on by $(field s3-slept "$1") s across the suspend, the alarm was $S3_S s ahead"
	fi
}

# bench_setup: a :bench run's devices (for tetra in devices, for QEMU in qemu_devices) and this
# host's io-bench servers, a sink on :5003 and a source on :5004 (in net_pids).
bench_setup() {
	cmdline="$cmdline l2virtio=1 l2bench=$BENCH_S"
	initrd=/l2/initrd-virtio.cpio
	bench_img=/tmp/l2-bench.img
	[ -s "$bench_img" ] || dd if=/dev/urandom of="$bench_img" bs=1048576 count="$BENCH_MIB" 2>/dev/null
	devices="--disk $bench_img,ro,id=tetra-bench --net tap=tetra0"
	if [ "${pci:-0}" = 1 ]; then devices="--transport pci $devices"; else devices="--transport mmio $devices"; fi
	qemu_devices="-drive file=$bench_img,if=none,id=bench,format=raw,readonly=on"
	qemu_devices="$qemu_devices -device virtio-blk-pci,drive=bench,serial=tetra-bench"
	qemu_devices="$qemu_devices -netdev tap,id=n0,ifname=tetra0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile="
	/bin/io-bench tcp-sink 5003 >"/tmp/l2-$name.sink" 2>&1 &
	net_pids=$!
	/bin/io-bench tcp-source 5004 "$BENCH_S" >/dev/null 2>&1 &
	net_pids="$net_pids $!"
	tap_up tetra0 &
	tap_pid=$!
}

# bench_value LOG KEY FIELD: FIELD's value (iops, mibs) in the guest's bench-KEY line.
bench_value() { field "bench-$2" "$1" | sed -n "s/.*$3=\([0-9.]*\).*/\1/p"; }

# bench_reason LOG: why a :bench run failed (empty when the guest reported every figure).
bench_reason() {
	for k in randread:iops seqread:mibs tcp-up:mibs tcp-down:mibs; do
		v=$(bench_value "$1" "${k%%:*}" "${k#*:}")
		if [ -z "$v" ] || [ "$(awk -v v="$v" 'BEGIN { print (v > 0) }')" != 1 ]; then
			echo "no bench-${k%%:*} figure from the guest (bench-${k%%:*}='$(field "bench-${k%%:*}" "$1")')"
			return
		fi
	done
}

# bench_line NAME: the "@@L2 BENCH" line of a :bench run NAME, with QEMU's figures (qemu-NAME) and
# the ratios tetra/QEMU when it ran too.
bench_line() {
	line="@@L2 BENCH name=$1"
	for k in randread:iops seqread:mibs tcp-up:mibs tcp-down:mibs; do
		t=$(bench_value "/tmp/l2-$1.log" "${k%%:*}" "${k#*:}")
		q=$(bench_value "/tmp/l2-qemu-$1.log" "${k%%:*}" "${k#*:}" 2>/dev/null)
		line="$line ${k%%:*}_${k#*:}=${t:--}"
		[ -z "$q" ] || line="$line/qemu=$q/ratio=$(awk -v t="${t:-0}" -v q="$q" 'BEGIN { printf "%.2f", (q > 0 ? t / q : 0) }')"
	done
	echo "$line"
}

# boot NAME KERNEL CPUS KQ VIRTIO [VMM]: one run under tetra (or, VMM=qemu, under QEMU with KVM),
# reported as above; returns 0 when it passed.
boot() {
	name=$1 kernel=$2 cpus=$3 kq=$4 virtio=$5 vmm=${6:-tetra}
	log="/tmp/l2-$name.log"
	token="tetra-input-$cpus-$$"
	con=ttyS0
	[ "$vmm" = tetra ] || [ "$ARCH" != arm64 ] || con=ttyAMA0
	[ "$ARCH" != ppc64 ] || con=hvc0
	cmdline="console=$con $kq panic=-1 printk.time=1 l2input=1"
	[ -z "$state" ] || cmdline="$cmdline l2snap=1"
	[ "${s3:-0}" = 0 ] || cmdline="$cmdline l2s3=$S3_S"
	[ "${pwr:-0}" = 0 ] || cmdline="$cmdline l2pwr=1"
	devices= qemu_devices= initrd=/l2/initrd.cpio img= ro_img= ro_md5= tap_pid= net_pids=
	if [ "$virtio" = 1 ] && [ "${bench:-0}" = 1 ]; then
		bench_setup
	elif [ "$virtio" = 1 ]; then
		cmdline="$cmdline l2virtio=1"
		[ "$VCON" = hvc0 ] || cmdline="$cmdline l2vcon=$VCON"
		img="/tmp/l2-$name.img"
		ext4_image "$img" || echo "--- L2 $name: mke2fs failed"
		ro_img="/tmp/l2-$name-ro.img"
		dd if=/dev/zero of="$ro_img" bs=1048576 count=1 2>/dev/null
		echo TETRA-RO-IN | dd of="$ro_img" conv=notrunc 2>/dev/null
		ro_md5=$(md5 "$ro_img")
		vsock="--vsock cid=3,uds=/tmp/v.sock"
		[ "${vhost:-0}" = 0 ] || vsock="--vsock cid=3"
		devices="--rng --disk $img,id=tetra-l2 --disk $ro_img,ro,id=tetra-ro --net tap=tetra0 $vsock --console virtio"
		# tetra's default transport is pci on x86: a :virtio run without :pci asks for mmio.
		if [ "${pci:-0}" = 1 ]; then devices="--transport pci $devices"; else devices="--transport mmio $devices"; fi
		cmdline="$cmdline l2netmib=$NET_MIB"
		initrd=/l2/initrd-virtio.cpio
		NET_DIR=/tmp/l2-net-$name
		net_servers "$NET_DIR"
		tap_up tetra0 &
		tap_pid=$!
		if [ "${vhost:-0}" = 1 ]; then
			# The kernel's vhost-vsock: this host's own AF_VSOCK sockets.
			/bin/vsock-echo listen 53 >/dev/null 2>&1 &
			vsock_pids="${vsock_pids:-} $!"
			/bin/vsock-echo connect-cid 3 52 hello-from-host "$L2_TIMEOUT" >"/tmp/l2-$name.vsock" 2>&1 &
		else
			/bin/vsock-echo unix-listen /tmp/v.sock_53 >/dev/null 2>&1 &
			vsock_pids="${vsock_pids:-} $!"
			/bin/vsock-echo unix-connect /tmp/v.sock 52 hello-from-host "$L2_TIMEOUT" >"/tmp/l2-$name.vsock" 2>&1 &
		fi
		vsock_pids="${vsock_pids:-} $!"
	fi
	[ "${snapio:-0}" = 0 ] || snapio_setup
	# A :pwr run's modules (arm64: gpio_keys, evdev) are in the virtio archive.
	[ "${pwr:-0}" = 0 ] || [ ! -f /l2/initrd-virtio.cpio ] || initrd=/l2/initrd-virtio.cpio
	cmdline="$cmdline $L2_APPEND"
	if [ "$vmm" = qemu ]; then
		echo "--- L2 $name: $QEMU_BIN $QEMU_MACHINE -accel kvm -cpu host -smp $cpus -m $L2_MEM $qemu_devices${qemu_devices:+ }-kernel $kernel -initrd $initrd -append '$cmdline'"
		# shellcheck disable=SC2086 # $QEMU_MACHINE, $qemu_devices: options without spaces in them
		sum=$(/bin/l2-run --log "$log" --timeout "$L2_TIMEOUT" --marker "$MARKER" \
			--prompt "TETRA-L2: ready for input" --input "$token" -- \
			"/qemu/lib/$QEMU_LDSO" --library-path /qemu/lib "/qemu/bin/$QEMU_BIN" \
			$QEMU_MACHINE -accel kvm -cpu host -smp "$cpus" -m "$L2_MEM" -nodefaults \
			-no-user-config -display none -no-reboot -serial stdio -monitor none $qemu_devices \
			-kernel "$kernel" -initrd "$initrd" -append "$cmdline" | tail -n 1)
	else
		boot_tetra
	fi
	[ -z "$img" ] || ext4_check "$img"
	judge
}

# hang_probe API: the shell command l2-run runs before it kills a tetra that outlived
# L2_TIMEOUT: the vCPUs' places and KVM_RUN counts twice, 2 s apart (are they still exiting?),
# each time with this host's KVM counters (debugfs, the non-zero ones: has the vCPU exited to
# KVM, halted, taken interrupts, in those 2 s?), then a pause and each vCPU's registers, through
# tetra's control socket API, and the host's last kernel messages.
# KVM's note of each MSR access it ignored: every Linux guest's boot writes an AMD performance
# counter MSR this host's KVM lacks, so the host's kernel messages below leave these lines out.
HOST_DMESG_SKIP='Unhandled [RW][DR]MSR'
hang_probe() {
	# shellcheck disable=SC2016 # expanded by the probe's shell, not here
	local k='[ -d /sys/kernel/debug/kvm ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null; printf "kvm:"; for f in /sys/kernel/debug/kvm/*; do [ -f "$f" ] && v=$(cat "$f" 2>/dev/null) && [ "$v" != 0 ] && printf " %s=%s" "${f##*/}" "$v"; done; echo'
	echo "c='/bin/tetra ctl --api $1'; k() { $k; }; \$c vcpus; k; sleep 2; \$c vcpus; k; \$c pause && \$c vcpus; dmesg | grep -v '$HOST_DMESG_SKIP' | tail -n 5; grep -E '^kvm_(amd|intel) ' /proc/modules | sed 's/^/module /'"
}

# host_dmesg: this host's last kernel messages after a VMM that did not exit 0 (KVM's own
# complaints, if any, next to the guest's last lines); not after a hang, whose probe printed them.
host_dmesg() {
	[ "$(kv rc "$sum")" != 0 ] && [ "$(kv timeout "$sum")" != 1 ] || return 0
	dmesg | grep -v "$HOST_DMESG_SKIP" | tail -n 5 | sed 's/^/[host dmesg] /' >>"$log"
}

# boot_tetra: boot() under tetra; sets sum.
boot_tetra() {
	if [ -n "$state" ]; then
		boot_state
		return
	fi
	api=/tmp/l2-$name.api
	rm -f "$api" "$log"
	echo "--- L2 $name: tetra run --kernel $kernel --initrd $initrd --cpus $cpus --mem $L2_MEM $TETRA_ARGS${TETRA_ARGS:+ }$devices${devices:+ }--api $api --cmdline '$cmdline'"
	pwr_pid=
	if [ "${pwr:-0}" = 1 ]; then
		# The power button, once the guest is ready for it: `tetra ctl powerdown`.
		rm -f "/tmp/l2-$name.pwr"
		(
			i=0
			while [ "$i" -lt "$L2_TIMEOUT" ] && ! grep -q 'TETRA-L2: pwr-ready' "$log" 2>/dev/null; do
				sleep 1
				i=$((i + 1))
			done
			echo "--- L2 $name: tetra ctl --api $api powerdown"
			/bin/tetra ctl --api "$api" powerdown >"/tmp/l2-$name.pwr" 2>&1
		) &
		pwr_pid=$!
	fi
	# shellcheck disable=SC2086 # $devices, $TETRA_ARGS: options without spaces in them
	sum=$(/bin/l2-run --log "$log" --timeout "$L2_TIMEOUT" --marker "$MARKER" \
		--prompt "TETRA-L2: ready for input" --input "$token" --on-timeout "$(hang_probe "$api")" -- \
		/bin/tetra run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
		--cpus "$cpus" --mem "$L2_MEM" $TETRA_ARGS $devices --api "$api" | tail -n 1)
	[ -z "$pwr_pid" ] || { kill "$pwr_pid" 2>/dev/null; wait "$pwr_pid" 2>/dev/null; }
	host_dmesg
	rm -f "$api"
	# shellcheck disable=SC2086 # the pids
	[ -z "${vsock_pids:-}" ] || kill $vsock_pids 2>/dev/null
	vsock_pids=
}

# uptime_s: this host's seconds since boot.
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# boot_state: boot_tetra() for a :snap or :migrate run. The first tetra (with a control socket)
# boots the guest; when the guest says snap-ready (its prompt follows), the lane either pauses it,
# snapshots it and kills it, then restores the snapshot in a new tetra (:snap), or starts a
# destination tetra (--incoming) and live-migrates the guest to it (:migrate). The input line
# goes to the second tetra, whose guest then finishes as any run does; the two consoles are
# judged as one log. Sets sum (the second run's summary, with the first one's marker time) and
# state_s (seconds from seeing snap-ready to the end of the pause and snapshot, or to the end of
# `tetra migrate`).
boot_state() {
	api=/tmp/l2-$name.api snap=/tmp/l2-$name.snap mig=/tmp/l2-$name.mig
	rm -f "$api" "$snap" "$snap".mem-* "$mig" "$log.1" "$log.2"
	echo "--- L2 $name ($state): tetra run --kernel $kernel --initrd $initrd --cpus $cpus --mem $L2_MEM $TETRA_ARGS${TETRA_ARGS:+ }$devices${devices:+ }--api $api --cmdline '$cmdline'"
	# shellcheck disable=SC2086 # $devices, $TETRA_ARGS: options without spaces in them
	/bin/l2-run --log "$log.1" --timeout "$L2_TIMEOUT" --marker "$MARKER" --on-timeout "$(hang_probe "$api")" -- \
		/bin/tetra run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
		--cpus "$cpus" --mem "$L2_MEM" $TETRA_ARGS $devices --api "$api" >"/tmp/l2-$name.sum1" &
	first=$!
	i=0
	while ! grep -q 'TETRA-L2: snap-ready' "$log.1" 2>/dev/null; do
		if ! kill -0 "$first" 2>/dev/null || [ $i -ge $((L2_TIMEOUT * 5)) ]; then
			break
		fi
		sleep 0.2
		i=$((i + 1))
	done
	t0=$(uptime_s)
	second= state_err= state_s=-
	if ! grep -q 'TETRA-L2: snap-ready' "$log.1" 2>/dev/null; then
		state_err="the first tetra's guest never said snap-ready"
	elif [ "$state" = snap ]; then
		out=$( (/bin/tetra ctl --api "$api" pause && { [ "${snapio:-0}" = 0 ] || snapio_paused; } &&
			/bin/tetra ctl --api "$api" snapshot "$snap") 2>&1) ||
			state_err="pause/snapshot failed: $(echo "$out" | tr '\n' ' ')"
		state_s=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
		# shellcheck disable=SC2046 # the one tetra's pid
		kill -9 $(pidof tetra) 2>/dev/null
		wait "$first"
		if [ -z "$state_err" ]; then
			echo "--- L2 $name: tetra run --restore $snap (a new process)"
			# The restored tetra makes the TAP interface anew (the first one's went with it).
			tap2_pid=
			if [ "$virtio" = 1 ]; then
				tap_up tetra0 &
				tap2_pid=$!
			fi
			second=$(/bin/l2-run --log "$log.2" --timeout "$L2_TIMEOUT" --prompt "" --input "$token" -- \
				/bin/tetra run --restore "$snap" | tail -n 1)
			[ -z "$tap2_pid" ] || { kill "$tap2_pid" 2>/dev/null; wait "$tap2_pid" 2>/dev/null; }
		fi
	else
		/bin/l2-run --log "$log.2" --timeout "$L2_TIMEOUT" --prompt "" --input "$token" -- \
			/bin/tetra run --incoming "unix:$mig" >"/tmp/l2-$name.sum2" &
		dest=$!
		i=0
		while [ ! -S "$mig" ] && [ $i -lt 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		echo "--- L2 $name: tetra migrate --api $api --to unix:$mig (to a new process)"
		# (:io: the download is under way as the pre-copy begins; on a loaded emulated host the
		# pre-copy can outlast it: 144 s for 64 MiB at about 0.7 MiB/s.)
		[ "${snapio:-0}" = 0 ] || snapio_paused
		out=$(/bin/tetra migrate --api "$api" --to "unix:$mig" 2>&1) ||
			state_err="migrate failed: $(echo "$out" | tr '\n' ' ')"
		state_s=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
		echo "$out" | grep -v '^tetra: progress' | sed 's/^/  | /'
		# shellcheck disable=SC2046 # both tetras' pids
		[ -z "$state_err" ] || kill -9 $(pidof tetra) 2>/dev/null
		wait "$first" "$dest"
		second=$(tail -n 1 "/tmp/l2-$name.sum2")
		[ "$(kv rc "$(tail -n 1 "/tmp/l2-$name.sum1")")" = 0 ] || [ -n "$state_err" ] ||
			state_err="the migration's source did not exit 0 ($(tail -n 1 "/tmp/l2-$name.sum1"))"
	fi
	cat "$log.1" "$log.2" >"$log" 2>/dev/null
	sum1=$(tail -n 1 "/tmp/l2-$name.sum1")
	if [ -n "$state_err" ] || [ -z "$second" ]; then
		sum="L2RUN rc=- state_err=1 marker_s=$(kv marker_s "$sum1")"
	else
		# The second run's verdict, with the first run's boot time.
		sum="$(echo "$second" | sed "s/marker_s=[^ ]*/marker_s=$(kv marker_s "$sum1")/")"
	fi
	rm -f "$snap" "$snap".mem-* "$api" "$mig"
}

# state_reason: why a :snap or :migrate run failed (empty when the restored guest went on: its
# clock continued, neither backwards nor by more than 5 minutes, and its sleep 1 slept).
state_reason() {
	before=$(field snap-before "$log") after=$(field snap-after "$log") slept=$(field snap-slept "$log")
	if [ -n "$state_err" ]; then
		echo "$state_err"
	elif [ -z "$after" ] || [ -z "$before" ]; then
		echo "the restored guest did not go on (snap-before=$before snap-after=$after)"
	elif [ "$after" -lt "$before" ] || [ $((after - before)) -gt 300 ]; then
		echo "the guest's clock jumped across the $state: $before -> $after"
	elif [ -z "$slept" ] || [ $((slept - after)) -lt 1 ] || [ $((slept - after)) -gt 10 ]; then
		echo "the restored guest's sleep 1 took $((${slept:-0} - after)) s of its clock"
	elif [ "$vmm" = tetra ] && [ "$ARCH" = arm64 ] && [ "${pci:-0}" = 1 ] &&
		[ "$(($(field vcon-msi-after "$log") + 0))" -le "$(($(field vcon-msi-before "$log") + 0))" ]; then
		# The input line came in after the restore: through the virtio console's MSI-X, the ITS.
		echo "the virtio console's ITS MSIs did not grow across the $state (vcon-msi-before=$(field vcon-msi-before "$log") vcon-msi-after=$(field vcon-msi-after "$log"))"
	fi
}

# judge: boot()'s verdict on the run that just ended, and its report.
judge() {
	rc=$(kv rc "$sum")
	nproc=$(field nproc "$log")
	# The serial port's interrupt count: the sum of the per-CPU columns of its /proc/interrupts
	# line (x86: IRQ 4 through the IOAPIC; arm64: its GIC SPI).
	# After the input line where the guest printed it (ppc64's hvc0 interrupts only on input).
	irq_line=$(field serial-irq-after "$log")
	[ -n "$irq_line" ] || irq_line=$(field serial-irq "$log")
	uart_irqs=$(echo "$irq_line" | awk '{ s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }')
	reason=
	if [ -n "$state" ] && [ -n "$(state_reason)" ]; then
		reason="$(state_reason)"
	elif [ -z "$rc" ]; then
		reason="l2-run failed: $sum"
	elif [ "$(kv timeout "$sum")" = 1 ]; then
		reason="hang: $vmm still running after ${L2_TIMEOUT}s (killed)"
		# What the control socket said of the vCPUs just before the kill (hang_probe).
		probe=$(grep '^\[on-timeout\] vcpu ' "$log" | tail -n "$cpus" | sed 's/^\[on-timeout\] //' | tr '\n' ';')
		[ -z "$probe" ] || reason="$reason; at the kill: $probe"
	elif grep -q 'Kernel panic' "$log"; then
		reason="kernel panic in the L2 guest: $(grep -m1 -o 'Kernel panic.*' "$log")"
	elif ! grep -q "$MARKER" "$log"; then
		reason="the guest never reached init (no '$MARKER'; $vmm exit $rc)"
	elif [ "$nproc" != "$cpus" ]; then
		reason="nproc=$nproc, expected $cpus"
	elif ! grep -q "TETRA-L2: input=$token" "$log"; then
		reason="console input did not reach the guest (no 'TETRA-L2: input=$token')"
	elif [ "$vmm" = tetra ] && [ "$ARCH" != x86_64 ] && [ "${uart_irqs:-0}" = 0 ] &&
		! { [ "$ARCH" = ppc64 ] && [ "$virtio" = 1 ]; }; then
		# (A ppc64 :virtio run's input comes through virtio-console, not the vty's interrupt.)
		reason="the console's interrupt never fired (its /proc/interrupts line: '$irq_line')"
	elif [ "$vmm" = tetra ] && [ "$ARCH" = arm64 ] && ! field rtc "$log" | grep -q 'setting system clock'; then
		reason="the guest did not set its clock from the PL031 RTC (rtc='$(field rtc "$log")')"
	elif [ "$vmm" = tetra ] && [ "$L2_PMU" = 1 ] && ! field pmu "$log" | grep -q 'counters available'; then
		reason="no PMU in the guest: no 'hw perfevents: enabled with ... counters available' line (pmu='$(field pmu "$log")')"
	elif [ "$vmm" = tetra ] && [ -n "${LANE_L2_MMU:-}" ] && [ "$(field mmu "$log")" != "$LANE_L2_MMU" ]; then
		reason="the guest's MMU is '$(field mmu "$log")' (/proc/cpuinfo), expected $LANE_L2_MMU"
	elif [ "${bench:-0}" = 1 ] && [ -n "$(bench_reason "$log")" ]; then
		reason=$(bench_reason "$log")
	elif [ "$virtio" = 1 ] && [ "${bench:-0}" = 0 ] && [ -n "$(virtio_reason "$log" "$img" "/tmp/l2-$name.vsock")" ]; then
		reason=$(virtio_reason "$log" "$img" "/tmp/l2-$name.vsock")
	elif [ "${pwr:-0}" = 1 ] && [ -n "$(pwr_reason "$log")" ]; then
		reason=$(pwr_reason "$log")
	elif [ "${s3:-0}" = 1 ] && [ -n "$(s3_reason "$log")" ]; then
		reason=$(s3_reason "$log")
	elif [ "${snapio:-0}" = 1 ] && [ -n "$(snapio_reason "$log")" ]; then
		reason=$(snapio_reason "$log")
	elif [ "$vmm" = tetra ] && [ "$ARCH" = x86_64 ] && ! field clocksources "$log" | grep -qw acpi_pm; then
		# The FADT's PM timer (issue 18): Linux registers it as a clocksource.
		reason="the guest has no acpi_pm clocksource (clocksources='$(field clocksources "$log")')"
	elif [ "$(field acpi-errors "$log")" != 0 ]; then
		reason="the guest logged ACPI errors or warnings (acpi-errors=$(field acpi-errors "$log"))"
	elif [ "$rc" != 0 ]; then
		reason="$vmm exited $rc, expected 0 (the guest's power-off)"
	elif ! grep -q 'reboot: Power down' "$log"; then
		reason="$vmm exited 0 but the guest did not power down (no 'reboot: Power down')"
	fi
	if [ -n "$img" ] || [ -n "$net_pids" ]; then
		rm -rf "$img" "$ro_img" "$NET_DIR" /tmp/l2-up.bin "/tmp/l2-$name-io.img" "/tmp/www-$name"
		# shellcheck disable=SC2086 # the pids
		kill "$tap_pid" $net_pids 2>/dev/null
		# shellcheck disable=SC2086 # the pids
		wait "$tap_pid" $net_pids 2>/dev/null
	fi
	status=PASS
	[ -z "$reason" ] || status=FAIL
	extra=
	[ -z "$state" ] || extra=" ${state}_s=$state_s"
	echo "@@L2 RUN name=$name cpus=$cpus status=$status rc=${rc:--} marker_s=$(kv marker_s "$sum") total_s=$(kv total_s "$sum")$extra guest_uptime=$(field uptime "$log") run_init=$(field run-init "$log") nproc=${nproc:--} uart_irqs=${uart_irqs:--} reason=$reason"
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

# ---- :io runs (snapio=1): disk and network I/O across the snapshot or migration ----------------

# snapio_setup: boot()'s additions for an :io run: the third disk (sparse, zeros), the download
# (busybox httpd on :8080 serving the run's web root, in the run's network namespace; its pid
# joins net_pids) and the guest's command line. The :virtio checks' own transfers shrink to
# 1 MiB each way (an :io run is about the I/O across the state change; 16 MiB up took 128 s on
# a loaded machine).
snapio_setup() {
	dd if=/dev/urandom of="$NET_DIR/blob" bs=1048576 count=1 2>/dev/null
	cmdline=$(echo "$cmdline" | sed "s/l2netmib=$NET_MIB/l2netmib=1/")
	WWW=/tmp/www-$name
	rm -rf "$WWW" && mkdir -p "$WWW"
	io_img="/tmp/l2-$name-io.img"
	rm -f "$io_img"
	dd if=/dev/zero of="$io_img" bs=1048576 seek=$((SNAPIO_DISK_MIB - 1)) count=1 2>/dev/null
	dd if=/dev/urandom of="$WWW/snapio.bin" bs=1048576 count="$SNAPIO_MIB" 2>/dev/null
	httpd -f -p 8080 -h "$WWW" &
	net_pids="$net_pids $!"
	devices="$devices --disk $io_img,id=tetra-io"
	cmdline="$cmdline l2snapio=1 l2snapiomib=$SNAPIO_MIB"
	rm -f "/tmp/l2-$name.conns"
}

# snapio_paused: at the pause (:snap) or as `tetra migrate` begins (:migrate): how many TCP
# connections to this host's :8080 are established (the guest's download: it must span the
# snapshot, or run during the pre-copy), into /tmp/l2-NAME.conns (it runs in a command
# substitution).
snapio_paused() {
	netstat -tn 2>/dev/null | grep -c ':8080 .*ESTABLISHED' >"/tmp/l2-$name.conns"
	true
}

# snapio_reason LOG: why an :io run failed (empty when the download spanned the pause and came
# out whole, the writer went on after the restore, and every block it wrote is on the image).
snapio_reason() {
	ready=$(field snapio-ready-n "$1") ready=${ready%% *} input=$(field snapio-input-n "$1") n=$(field snapio-n "$1")
	conns=$(cat "/tmp/l2-$name.conns" 2>/dev/null)
	if [ "$(field snapio-disk "$1")" = /dev/missing ] || [ -z "$(field snapio-disk "$1")" ]; then
		echo "the guest found no disk with serial tetra-io (snapio-disk=$(field snapio-disk "$1"))"
	elif [ "${conns:-0}" = 0 ]; then
		echo "no download from this host's :8080 was under way at the $state (established: ${conns:--})"
	elif [ "$(field snapio-md5 "$1")" != "$(md5 "$WWW/snapio.bin")" ]; then
		echo "the guest's download has MD5 '$(field snapio-md5 "$1")' after $(field snapio-tries "$1") tries, not $(md5 "$WWW/snapio.bin")"
	elif [ -z "$ready" ] || [ -z "$input" ] || [ -z "$n" ] || [ "$ready" -lt 16 ] || [ "$n" -le "$input" ]; then
		echo "the writer did not go on across the $state (blocks at snap-ready: '$ready', at the input line: '$input', at the end: '$n', full: $(field snapio-full "$1"))"
	else
		bad=$(dd if="/tmp/l2-$name-io.img" bs=65536 count=$((n / 16)) 2>/dev/null |
			awk '{ b = int((NR - 1) / 256); if ($0 != sprintf("SEQ-%010d.", b)) { if (!bad) first = b; bad++ } }
				END { printf "%d %d %d", NR, bad, first }')
		lines=${bad%% *} rest=${bad#* } first=${rest#* } rest=${rest%% *}
		if [ "$lines" != $((n * 256)) ] || [ "$rest" != 0 ]; then
			echo "the image holds $rest wrong lines of $lines (expected $((n * 256)) lines for $n blocks; the first bad block is $first)"
		fi
	fi
}

failed=0
BASE_TETRA_ARGS=$TETRA_ARGS
for spec in $L2_RUNS; do
	cpus=${spec%%:*}
	flavor=${spec#*:}
	kernel=$L2_KERNEL suffix= virtio=0 state= pci=0 vhost=0 snapio=0 bench=0 s3=0 pwr=0
	TETRA_ARGS=$BASE_TETRA_ARGS
	# x86_64: a last ":cput=SPEC" boots with --cpu-template SPEC (e.g. 2:quiet:cput=-kvm-pv-ipi:
	# host passthrough less one KVM paravirt feature, to bisect a guest fault).
	case "$flavor" in
	*:cput=*)
		cput=${flavor##*:cput=} suffix=-cput$(echo "${flavor##*:cput=}" | tr ',' '_')
		# The run's name names its files: a long template (every paravirt feature withheld)
		# keeps its first 40 characters and a digest of the whole.
		if [ ${#suffix} -gt 48 ]; then
			suffix=$(printf %.40s "$suffix")-$(printf %s "$cput" | md5sum | cut -c1-8)
		fi
		flavor=${flavor%:cput=*}
		TETRA_ARGS="$TETRA_ARGS${TETRA_ARGS:+ }--cpu-template $cput"
		;;
	esac
	case "$flavor" in
	*:pwr)
		pwr=1 suffix=-pwr$suffix
		flavor=${flavor%:pwr}
		;;
	esac
	case "$flavor" in
	*:s3)
		s3=1 suffix=-s3$suffix
		flavor=${flavor%:s3}
		;;
	esac
	case "$flavor" in
	*:snap | *:migrate)
		state=${flavor##*:} suffix=-$state$suffix
		flavor=${flavor%:*}
		;;
	esac
	case "$flavor" in
	*:bench)
		bench=1 suffix=-bench$suffix
		flavor=${flavor%:bench}
		;;
	esac
	case "$flavor" in
	*:io)
		snapio=1 suffix=-io$suffix
		flavor=${flavor%:io}
		;;
	esac
	case "$flavor" in
	*:vhost)
		vhost=1 suffix=-vhost$suffix
		flavor=${flavor%:vhost}
		;;
	esac
	case "$flavor" in
	*:virtio:pci)
		pci=1 suffix=-pci$suffix
		flavor=${flavor%:pci}
		;;
	esac
	case "$flavor" in
	*:virtio)
		virtio=1 suffix=-virtio$suffix
		flavor=${flavor%:virtio}
		;;
	esac
	# x86_64: ":pit" or ":nopit" (after ":pvh") boots with --pit on or --pit off instead of
	# tetra's choice (--pit auto: none for PVH, a PIT for the bzImage).
	case "$flavor" in
	*:pit | *:nopit)
		pit=${flavor##*:} suffix=-${flavor##*:}$suffix
		flavor=${flavor%:*}
		if [ "$pit" = pit ]; then pit=on; else pit=off; fi
		TETRA_ARGS="$TETRA_ARGS${TETRA_ARGS:+ }--pit $pit"
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
		echo "@@L2 RUN name=$spec cpus=$cpus status=FAIL reason=bad run spec '$spec' (want CPUS:quiet or CPUS:verbose, optionally :pvh, then optionally :virtio or :virtio:pci, then optionally :vhost, then optionally :io, then optionally :snap or :migrate)"
		failed=$((failed + 1))
		continue
		;;
	esac
	if [ "$vhost" = 1 ] && [ "$virtio" = 0 ]; then
		echo "@@L2 RUN name=$spec cpus=$cpus status=FAIL reason=bad run spec '$spec' (:vhost needs :virtio or :virtio:pci before it)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$snapio" = 1 ] && { [ "$virtio" = 0 ] || [ -z "$state" ]; }; then
		echo "@@L2 RUN name=$spec cpus=$cpus status=FAIL reason=bad run spec '$spec' (:io needs :virtio before it and :snap or :migrate after it)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$bench" = 1 ] && { [ "$virtio" = 0 ] || [ -n "$state" ] || [ "$snapio" = 1 ]; }; then
		echo "@@L2 RUN name=$spec cpus=$cpus status=FAIL reason=bad run spec '$spec' (:bench needs :virtio or :virtio:pci before it, and no :io, :snap or :migrate)"
		failed=$((failed + 1))
		continue
	fi
	run="cpus$cpus-$flavor$suffix"
	boot "$run" "$kernel" "$cpus" "$kq" "$virtio" && continue
	# The emulated hosts' nested virtualization has rare faults of its own (docs/lanes.md, "Known faults of
	# the emulated hosts"): a failed run is booted once more, and reported FLAKY if that passes.
	# A tetra or guest bug that fails every time fails the lane.
	if boot "$run-rerun" "$kernel" "$cpus" "$kq" "$virtio"; then
		echo "@@FLAKY name=l2-boot test=$run"
	elif svm_fault "/tmp/l2-$run-rerun.log" &&
		boot "$run-rerun2" "$kernel" "$cpus" "$kq" "$virtio"; then
		# The rerun, too, ended in a fault of the emulated SVM (the triple fault with the vCPU in
		# its reset state, or the hang with the L1 host's registers in the vCPU's: docs/lanes.md):
		# those faults alone earn a third boot.
		echo "@@FLAKY name=l2-boot test=$run"
	else
		failed=$((failed + 1))
	fi
done
# The same runs under QEMU with KVM, for comparison (--l2-qemu): the plain ones (CPUS:quiet,
# CPUS:verbose) and the :bench ones (on virtio-pci); QEMU gets none of tetra's other devices.
if [ "${LANE_L2_QEMU:-0}" = 1 ] && [ -x "/qemu/bin/$QEMU_BIN" ]; then
	for spec in $L2_RUNS; do
		cpus=${spec%%:*} flavor=${spec#*:}
		kq=quiet
		[ "${flavor%%:*}" = quiet ] || kq=
		state= snapio=0 bench=0 virtio=0 pci=1
		case "$flavor" in
		quiet | verbose) name="qemu-cpus$cpus-$flavor" ;;
		*:virtio:bench | *:virtio:pci:bench)
			bench=1 virtio=1
			name="qemu-cpus$cpus-$(echo "${flavor%:bench}" | tr : -)-bench"
			;;
		*) continue ;;
		esac
		boot "$name" "$L2_KERNEL" "$cpus" "$kq" "$virtio" qemu || failed=$((failed + 1))
	done
fi
# The :bench runs' figures, beside QEMU's where it ran.
for spec in $L2_RUNS; do
	case "$spec" in
	*:bench) bench_line "cpus${spec%%:*}-$(echo "${spec#*:}" | sed 's/:bench$//' | tr : -)-bench" ;;
	esac
done
exit "$failed"
