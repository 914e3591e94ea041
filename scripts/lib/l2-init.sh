#!/bin/busybox sh
# shellcheck shell=dash
# /init of the L2 guest initramfs that the x86_64 and arm64 lanes put at /l2/initrd.cpio (with the
# same Debian kernel at /l2/bzImage or /l2/Image). The lane boots it under tetra inside the
# emulated host (scripts/lib/l2-boot.sh) and looks for the marker lines below; then it powers off
# (ACPI S5 on x86, PSCI SYSTEM_OFF on arm64), so the VMM should exit 0.
#
# Always printed, in this order (the first line is the boot-time marker):
#   TETRA-L2: init reached
#   TETRA-L2: nproc=<online CPUs>
#   TETRA-L2: uptime=<guest seconds since boot, from /proc/uptime>
# Then facts for the lane's checks (absent when the kernel does not provide them):
#   TETRA-L2: run-init=<printk time of "Run /init as init process" (needs printk.time=1)>
#   TETRA-L2: acpi-tables=<the tables the kernel found in /sys/firmware/acpi/tables>
#   TETRA-L2: clocksources=<the kernel's available clocksources (x86: acpi_pm among them)>
#   TETRA-L2: acpi-errors=<how many "ACPI Error/Warning" and "ACPI BIOS Error/Warning" lines>
#   TETRA-L2: irq4=<the /proc/interrupts line of IRQ 4: the 8250 console, interrupt driven>
#   TETRA-L2: serial-irq=<the /proc/interrupts line of the console: ttyS0 (x86: IRQ 4; arm64: a
#             GIC SPI) or ppc64's hvc_console (its XICS source)>
#   TETRA-L2: mmu=<ppc64: /proc/cpuinfo's MMU line, Radix or Hash; l2-boot checks it against
#             LANE_L2_MMU, radix on the KVM-HV lane, the hashed page table on KVM-PR>
#   TETRA-L2: pmu=<the kernel's "hw perfevents:" line (arm64's PMU driver and its counters)>
#   TETRA-L2: serial=<the 8250 driver's probe line for ttyS0>
#   TETRA-L2: rtc=<the RTC line that set the system clock (x86: rtc_cmos; arm64: rtc-pl031)>
#             date=<date -u>
# With l2virtio=1 on the kernel command line, before the facts above: it mounts devtmpfs on /dev,
# loads the virtio modules listed in /etc/l2-modules (dependencies first; emu-test resolved the
# order) from /lib/modules/l2 (both only in /l2/initrd-virtio.cpio), and reports what Linux found:
#   TETRA-L2: modules=<the modules loaded>
#   TETRA-L2: modules-failed=<the modules insmod refused; empty when all loaded>
#   TETRA-L2: modules-s=<guest seconds the loading took>
# With l2bench=SECS as well (the lane's :bench runs), only these follow, instead of the lines
# below up to the facts (io-bench's result lines; the disk whose serial is tetra-bench):
#   TETRA-L2: bench-randread=iops=<4 KiB O_DIRECT random reads per second, queue depth 1> ...
#   TETRA-L2: bench-seqread=mibs=<MiB/s of 1 MiB O_DIRECT sequential reads> ...
#   TETRA-L2: bench-tcp-up=mibs=<MiB/s the guest sent to 10.0.2.1:5003 for SECS s> ...
#   TETRA-L2: bench-tcp-down=mibs=<MiB/s the guest received from 10.0.2.1:5004> ...
#   TETRA-L2: virtio=<the device ids on the virtio bus (/sys/bus/virtio/devices/*/device)>
#   TETRA-L2: virtio-irq=<the /proc/interrupts lines of virtio devices>
#   TETRA-L2: virtio-msi=<how many of them are PCI-MSI(-X) lines>
#   TETRA-L2: virtio-its=<how many of them are arm64 ITS MSI lines (ITS-MSI, ITS-PCI-MSI)>
#   TETRA-L2: virtio-pci=<how many PCI functions the virtio-pci driver bound>
#   TETRA-L2: pci=<each PCI function: address=vendor:device>
#   TETRA-L2: hwrng-current=<the kernel's current hardware RNG (rng_current)>
#   TETRA-L2: hwrng=<bytes read from /dev/hwrng: 64 asked for, 10 s at most>
#   TETRA-L2: disk-in=<the first line of /dev/vda (before the ext4 superblock, at 1 KiB)>
#                       (the disks are found by serial: tetra-l2 read-write, tetra-ro read-only)
#   TETRA-L2: ext4-mount=<the /proc/mounts line of the read-write disk, an ext4 filesystem,
#                         mounted read-write at /newroot as a root-to-be>
#   TETRA-L2: ext4-read=<what a shell run from it by chroot (its /bin/busybox, copied in) wrote
#                        into its /tetra-l2.txt (TETRA-EXT4-OUT) and read back>
#   TETRA-L2: ext4=<ok once that was synced and /newroot unmounted, else what failed>
#   TETRA-L2: ro-in=<the first line of the read-only disk>
#   TETRA-L2: ro-flag=<its /sys/block/vdX/ro>
#   TETRA-L2: ro-write=<refused when writing TETRA-RO-OUT into it failed, written if it did not>
#   TETRA-L2: eth0=<eth0's address line once configured as 10.0.2.15/24>
#   TETRA-L2: ping=<replies to 3 pings of 10.0.2.1 (the host's TAP interface)>
#   TETRA-L2: down-md5=<MD5 of the l2netmib MiB received over TCP from 10.0.2.1:5001 (nc)>
#   TETRA-L2: down-s=<guest seconds the transfer took>  down-mibs=<MiB/s>
#   TETRA-L2: up-md5=<MD5 of l2netmib MiB of random bytes, which it then sends over TCP to
#                     10.0.2.1:5002 (nc)>
#   TETRA-L2: up=<ok, or nc's status and error>
#   TETRA-L2: up-s=<guest seconds the transfer took>  up-mibs=<MiB/s>
#   TETRA-L2: vsock-out=<what host port 53 echoed of hello-from-guest (vsock-echo, if present)>
#   TETRA-L2: vsock-in=<the line the host sent to guest port 52 and got echoed>
#   TETRA-L2: virtio-dmesg=<a kernel line about virtio>  (each, when a device or its bytes are
#                                                         missing)
# With l2snap=1 as well (the lane's :snap and :migrate runs), before the prompt:
#   TETRA-L2: snap-before=<date +%s>
#   TETRA-L2: vcon-msi-before=<interrupts of the virtio console's MSI vectors so far (with
#             l2virtio=1; empty without MSI vectors)>
#   TETRA-L2: snap-ready             the lane snapshots or migrates the VM here, and types the
#                                    line into the restored (or destination) VM; the read waits
#                                    300 s instead of 30
# and after the input line:
#   TETRA-L2: vcon-msi-after=<the same count: the input's interrupts came through them>
#   TETRA-L2: snap-after=<date +%s>  then, after a sleep 1 (the guest's timers after the restore):
#   TETRA-L2: snap-slept=<date +%s>
# With l2snapio=1 as well (the lane's :io runs, with l2snap=1 and l2virtio=1), I/O goes on across
# the snapshot or migration: before snap-ready the guest starts, in the background, a writer of
# sequence-numbered blocks on the disk whose serial is tetra-io (the block at 4 KiB index n holds
# 256 lines "SEQ-<n, 10 digits>.", 64 KiB per chunk, chunks written alternately with O_DIRECT and
# through the page cache with an fsync) and a download of http://10.0.2.1:8080/snapio.bin
# (l2snapiomib MiB; busybox wget piped to md5sum, begun again up to 3 times if it fails); once
# both are under way:
#   TETRA-L2: snapio-disk=<the tetra-io disk>
#   TETRA-L2: snapio-ready-n=<4 KiB blocks written>  snapio-ready-rx=<eth0's received bytes>
# and after snap-slept (the writer runs 2 s more, then stops and the guest syncs):
#   TETRA-L2: snapio-input-n=<blocks written when the input line came>
#   TETRA-L2: snapio-n=<blocks written in all, each complete>
#   TETRA-L2: snapio-full=<1 when the writer stopped at the disk's end>
#   TETRA-L2: snapio-md5=<the download's MD5, or failed>
#   TETRA-L2: snapio-tries=<downloads begun>  snapio-down-s=<guest seconds from start to end>
#   TETRA-L2: snapio-rx=<eth0's received bytes>
# With l2s3=SECS (the x86_64 lane's :s3 runs), before the prompt: suspend to RAM for SECS
# seconds, as `rtcwake -m mem -s SECS` does (Debian's busybox has no rtcwake applet: the same two
# steps through sysfs, an RTC wake alarm SECS seconds ahead, then "mem" into /sys/power/state):
#   TETRA-L2: s3-states=<the sleep states /sys/power/state offers>
#   TETRA-L2: s3-rc=<0 once the write of mem returned, i.e. the guest suspended and resumed>
#   TETRA-L2: s3-slept=<seconds of the guest's clock across it>
#   TETRA-L2: s3-resume=<the kernel's "PM: suspend exit" line, if it logged one>
# With l2input=1 on the kernel command line (the kernel passes it to init as a variable):
#   TETRA-L2: hvc0-out=hello-from-hvc0  (with l2virtio=1 and a /dev/hvc0: written to hvc0, or
#                                        to l2vcon=NAME's /dev/NAME where given)
#   TETRA-L2: input-from=<console, or hvc0 (l2vcon) with l2virtio=1 and a /dev/hvc0>
#   TETRA-L2: ready for input        then the first line read from there is echoed as
#   TETRA-L2: input=<line>           (empty after 30 s without input)
#   TETRA-L2: serial-irq-after=<the console's /proc/interrupts line after that>
# With l2pwr=1 (the :pwr runs), after the input line: the power button (arm64: its gpio-keys
# event device, loaded from /lib/modules/l2 when there):
#   TETRA-L2: pwr-dev=<eventN of gpio-keys, or none>
#   TETRA-L2: pwr-ready              then the lane presses the button; arm64:
#   TETRA-L2: pwr=<key once a KEY_POWER event came, none after 60 s without>
#                                    (ppc64: the kernel powers off by itself before that)
# The marker first, from a shell builtin: every fork+exec costs a lot in a nested guest.
echo "TETRA-L2: init reached"
bb=/bin/busybox
# rate T0 T1 [MIB]: the seconds from T0 to T1 (two decimals), or MIB's MiB/s over them.
rate() { $bb awk -v a="$1" -v b="$2" -v m="${3:-}" 'BEGIN { d = b - a; if (m == "") printf "%.2f", d; else printf "%.1f", (d > 0 ? m / d : 0) }'; }
$bb mkdir -p /proc /sys
$bb mount -t proc proc /proc
echo "TETRA-L2: nproc=$($bb nproc)"
echo "TETRA-L2: uptime=$($bb cut -d' ' -f1 /proc/uptime)"
$bb mount -t sysfs sysfs /sys
if [ "${l2virtio:-}" = 1 ]; then
	$bb mount -t devtmpfs devtmpfs /dev
	read -r t0 _ </proc/uptime
	loaded= failed=
	if [ -r /etc/l2-modules ]; then
		while read -r m; do
			[ -n "$m" ] || continue
			if $bb insmod "/lib/modules/l2/$m.ko"; then loaded="$loaded $m"; else failed="$failed $m"; fi
		done </etc/l2-modules
	else
		failed=" (no /etc/l2-modules: this is not the virtio initramfs)"
	fi
	read -r t1 _ </proc/uptime
	echo "TETRA-L2: modules=${loaded# }"
	echo "TETRA-L2: modules-failed=${failed# }"
	echo "TETRA-L2: modules-s=$($bb awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
	# l2bench=SECS (the lane's :bench runs, under tetra and under QEMU alike): only the disk whose
	# serial is tetra-bench and the network card, measured by io-bench for SECS seconds each
	# (the same binary serves TCP on the host's side), instead of the device checks below.
	if [ -n "${l2bench:-}" ]; then
		dev=/dev/missing
		for b in /sys/block/vd*; do
			[ -r "$b/serial" ] || continue
			read -r s <"$b/serial"
			[ "$s" != tetra-bench ] || dev=/dev/${b##*/}
		done
		echo "TETRA-L2: bench-randread=$(/bin/io-bench randread "$dev" "$l2bench" 2>&1)"
		echo "TETRA-L2: bench-seqread=$(/bin/io-bench seqread "$dev" "$l2bench" 2>&1)"
		$bb ip link set lo up
		$bb ip addr add 10.0.2.15/24 dev eth0 && $bb ip link set eth0 up
		echo "TETRA-L2: bench-tcp-up=$(/bin/io-bench tcp-send 10.0.2.1 5003 "$l2bench" 2>&1)"
		echo "TETRA-L2: bench-tcp-down=$(/bin/io-bench tcp-recv 10.0.2.1 5004 2>&1)"
	else
	ids=
	for d in /sys/bus/virtio/devices/*; do
		[ -r "$d/device" ] || continue
		read -r id <"$d/device"
		ids="$ids $id"
	done
	[ ! -x /bin/vsock-echo ] || /bin/vsock-echo listen 52 >/vsock-in 2>&1 &
	echo "TETRA-L2: virtio=${ids# }"
	echo "TETRA-L2: virtio-irq=$($bb awk '/virtio/ { $1 = $1; printf "%s%s", s, $0; s = "; " }' /proc/interrupts)"
	echo "TETRA-L2: virtio-msi=$($bb awk '/PCI-MSI/ && /virtio/ { n++ } END { print n + 0 }' /proc/interrupts)"
	echo "TETRA-L2: virtio-its=$($bb awk '/ITS-(PCI-)?MSI/ && /virtio/ { n++ } END { print n + 0 }' /proc/interrupts)"
	n=0
	for d in /sys/bus/pci/drivers/virtio-pci/0000:*; do [ ! -e "$d" ] || n=$((n + 1)); done
	echo "TETRA-L2: virtio-pci=$n"
	pci=
	for d in /sys/bus/pci/devices/*; do
		[ -r "$d/vendor" ] || continue
		read -r v <"$d/vendor"
		read -r i <"$d/device"
		pci="$pci ${d##*/}=$v:$i"
	done
	echo "TETRA-L2: pci=${pci# }"
	cur=
	[ ! -r /sys/class/misc/hw_random/rng_current ] || read -r cur </sys/class/misc/hw_random/rng_current
	echo "TETRA-L2: hwrng-current=$cur"
	n=$($bb timeout 10 $bb head -c 64 /dev/hwrng 2>/dev/null | $bb wc -c)
	echo "TETRA-L2: hwrng=$n"
	# The disks by their serial (tetra's id=): the read-write one and the read-only one.
	rw=/dev/missing ro=/dev/missing
	for b in /sys/block/vd*; do
		[ -r "$b/serial" ] || continue
		read -r s <"$b/serial"
		case "$s" in
		tetra-l2) rw=/dev/${b##*/} ;;
		tetra-ro) ro=/dev/${b##*/} ;;
		esac
	done
	line=
	[ ! -b "$rw" ] || read -r line <"$rw"
	echo "TETRA-L2: disk-in=$line"
	# The read-write disk is an ext4 filesystem (l2-boot made it), mounted as a root-to-be: a
	# shell run from it through chroot writes a file; then sync, unmount, and the host reads the
	# file with debugfs once the guest powered off.
	st=missing mnt= got=
	if [ -b "$rw" ]; then
		$bb mkdir -p /newroot
		if ! st=$($bb mount -t ext4 -o rw "$rw" /newroot 2>&1); then
			st="mount failed: $st"
		else
			mnt=$($bb grep ' /newroot ' /proc/mounts)
			st=ok
			$bb mkdir -p /newroot/bin && $bb cp /bin/busybox /newroot/bin/busybox || st="copying busybox in failed"
			got=$($bb chroot /newroot /bin/busybox sh -c \
				'echo TETRA-EXT4-OUT >/tetra-l2.txt && /bin/busybox cat /tetra-l2.txt' 2>&1) ||
				st="the write through chroot failed"
			$bb sync
			$bb umount /newroot || st="umount failed"
		fi
	fi
	echo "TETRA-L2: ext4-mount=$mnt"
	echo "TETRA-L2: ext4-read=$(echo "$got" | $bb tr '\n' ' ' | $bb sed 's/ $//')"
	echo "TETRA-L2: ext4=$st"
	line= st=missing flag=
	if [ -b "$ro" ]; then
		read -r line <"$ro"
		read -r flag <"/sys/block/${ro##*/}/ro"
		echo TETRA-RO-OUT | $bb dd of="$ro" bs=512 seek=8 conv=fsync 2>/dev/null && st=written || st=refused
	fi
	echo "TETRA-L2: ro-in=$line"
	echo "TETRA-L2: ro-flag=$flag"
	echo "TETRA-L2: ro-write=$st"
	got=
	if [ -e /sys/class/net/eth0 ]; then
		$bb ip link set lo up
		$bb ip addr add 10.0.2.15/24 dev eth0 && $bb ip link set eth0 up
		echo "TETRA-L2: eth0=$($bb ip -4 addr show eth0 | $bb awk '/inet / { print $2 }')"
		got=$($bb ping -c 3 -W 3 10.0.2.1 2>&1 | $bb sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	fi
	echo "TETRA-L2: ping=$got"
	if [ -n "$got" ] && [ "$got" != 0 ] && [ -n "${l2netmib:-}" ]; then
		# Raw TCP each way (busybox nc): the host sends its file and closes; the guest sends its
		# own, and the host closes once it has all of it.
		read -r t0 _ </proc/uptime
		$bb timeout 200 $bb nc 10.0.2.1 5001 </dev/null >/tmp/down.bin
		read -r t1 _ </proc/uptime
		echo "TETRA-L2: down-md5=$($bb md5sum /tmp/down.bin | $bb cut -d' ' -f1)"
		echo "TETRA-L2: down-s=$(rate "$t0" "$t1") down-mibs=$(rate "$t0" "$t1" "$l2netmib")"
		$bb rm -f /tmp/down.bin
		$bb dd if=/dev/urandom of=/tmp/up.bin bs=1048576 count="$l2netmib" 2>/dev/null
		echo "TETRA-L2: up-md5=$($bb md5sum /tmp/up.bin | $bb cut -d' ' -f1)"
		read -r t0 _ </proc/uptime
		up=$($bb timeout 200 $bb nc 10.0.2.1 5002 </tmp/up.bin 2>&1) && up=ok || up="status $?: $up"
		read -r t1 _ </proc/uptime
		echo "TETRA-L2: up=$(echo "$up" | $bb tr '\n' ' ')"
		echo "TETRA-L2: up-s=$(rate "$t0" "$t1") up-mibs=$(rate "$t0" "$t1" "$l2netmib")"
		$bb rm -f /tmp/up.bin
	fi
	if [ -x /bin/vsock-echo ]; then
		out=$($bb timeout 20 /bin/vsock-echo connect 53 hello-from-guest 2>&1)
		echo "TETRA-L2: vsock-out=${out#out=}"
		i=0
		while ! $bb grep -q '^in=' /vsock-in && [ $i -lt 300 ]; do $bb sleep 0.1; i=$((i + 1)); done
		echo "TETRA-L2: vsock-in=$($bb sed -n 's/^in=//p' /vsock-in)"
	fi
	if [ -z "$ids" ] || [ "$n" != 64 ]; then
		$bb dmesg | $bb grep -i -E 'virtio|LNRO|hwrng|hw_random' | $bb grep -v l2virtio |
			$bb tail -n 20 | $bb sed 's/^/TETRA-L2: virtio-dmesg=/'
	fi
	fi
fi
# The l2snapio=1 block (see above): snapio_start before snap-ready, snapio_finish after the
# restore (or the migration) and snap-slept.
if [ "${l2snapio:-}" = 1 ]; then
	# snapio_writer DEV BLOCKS: 64 KiB chunks of sequence-numbered 4 KiB blocks until /snapio-stop
	# exists or DEV is full; /snapio-n holds the count of blocks written (complete ones only).
	snapio_writer() {
		n=0
		echo 0 >/snapio-n.t && $bb mv -f /snapio-n.t /snapio-n
		while [ ! -e /snapio-stop ] && [ $((n + 16)) -le "$2" ]; do
			if [ $((n % 32)) = 0 ]; then
				flags="bs=4096 seek=$n oflag=direct"
			else
				flags="bs=65536 seek=$((n / 16)) conv=fsync"
			fi
			# shellcheck disable=SC2086 # $flags: dd's options
			$bb awk -v b="$n" 'BEGIN { for (i = 0; i < 16; i++) for (j = 0; j < 256; j++) printf "SEQ-%010d.\n", b + i }' |
				$bb dd of="$1" iflag=fullblock $flags 2>/dev/null || break
			n=$((n + 16))
			# Renamed into place: a reader never sees the file empty, between truncation and write.
			echo "$n" >/snapio-n.t && $bb mv -f /snapio-n.t /snapio-n
		done
		[ $((n + 16)) -le "$2" ] || : >/snapio-full
		: >/snapio-done
	}
	# snapio_net: the download, begun again (up to 3 times) when wget fails; /snapio-md5 at the end.
	snapio_net() {
		t=0
		while [ $t -lt 3 ]; do
			t=$((t + 1))
			echo "$t" >/snapio-tries
			$bb rm -f /snapio-werr
			# (No wget -T: busybox 1.35's static wget segfaults with it.)
			sum=$({ $bb timeout 300 $bb wget -q -O - http://10.0.2.1:8080/snapio.bin || : >/snapio-werr; } | $bb md5sum)
			if [ ! -e /snapio-werr ]; then
				echo "${sum%% *}" >/snapio-md5
				return
			fi
		done
		echo failed >/snapio-md5
	}
	snapio_start() {
		io=/dev/missing
		for b in /sys/block/vd*; do
			[ -r "$b/serial" ] || continue
			read -r s <"$b/serial"
			[ "$s" != tetra-io ] || io=/dev/${b##*/}
		done
		echo "TETRA-L2: snapio-disk=$io"
		read -r snapio_t0 _ </proc/uptime
		snapio_wpid=
		if [ -b "$io" ]; then
			read -r sectors <"/sys/block/${io#/dev/}/size"
			snapio_writer "$io" $((sectors / 8)) &
			snapio_wpid=$!
		fi
		snapio_net &
		i=0 n=0
		while [ $i -lt 300 ]; do
			[ ! -r /snapio-n ] || read -r n </snapio-n
			case $n in '' | *[!0-9]*) n=0 ;; esac
			[ "$n" -lt 64 ] || break
			$bb sleep 0.1
			i=$((i + 1))
		done
		read -r rx </sys/class/net/eth0/statistics/rx_bytes
		echo "TETRA-L2: snapio-ready-n=$n snapio-ready-rx=$rx"
	}
	snapio_finish() {
		read -r n </snapio-n
		echo "TETRA-L2: snapio-input-n=$n"
		$bb sleep 2
		: >/snapio-stop
		[ -z "$snapio_wpid" ] || wait "$snapio_wpid"
		i=0
		while [ ! -e /snapio-md5 ] && [ $i -lt 1200 ]; do
			$bb sleep 0.1
			i=$((i + 1))
		done
		read -r t1 _ </proc/uptime
		$bb sync
		read -r n </snapio-n
		echo "TETRA-L2: snapio-n=$n"
		echo "TETRA-L2: snapio-full=$([ -e /snapio-full ] && echo 1 || echo 0)"
		md5=
		[ ! -r /snapio-md5 ] || read -r md5 </snapio-md5
		echo "TETRA-L2: snapio-md5=$md5"
		echo "TETRA-L2: snapio-tries=$($bb cat /snapio-tries 2>/dev/null)"
		echo "TETRA-L2: snapio-down-s=$($bb awk -v a="$snapio_t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
		echo "TETRA-L2: snapio-rx=$($bb cat /sys/class/net/eth0/statistics/rx_bytes)"
	}
fi
log=$($bb dmesg)
# "[    0.912345] Run /init as init process" -> 0.912345
t=$(echo "$log" | $bb sed -n 's/^\[ *\([0-9.]*\)\] Run \/init as init process.*/\1/p')
[ -z "$t" ] || echo "TETRA-L2: run-init=$t"
echo "TETRA-L2: acpi-tables=$($bb ls /sys/firmware/acpi/tables 2>/dev/null | $bb tr '\n' ' ')"
echo "TETRA-L2: clocksources=$($bb cat /sys/devices/system/clocksource/clocksource0/available_clocksource 2>/dev/null)"
echo "TETRA-L2: acpi-errors=$(echo "$log" | $bb grep -c -E 'ACPI (BIOS )?(Error|Warning)')"
echo "TETRA-L2: irq4=$($bb grep -E '^ *4:' /proc/interrupts | $bb tr -s ' ')"
echo "TETRA-L2: serial-irq=$($bb grep -m1 -E 'ttyS0|hvc_console' /proc/interrupts | $bb tr -s ' ')"
echo "TETRA-L2: mmu=$($bb sed -n 's/^MMU[[:space:]]*: //p' /proc/cpuinfo)"
echo "TETRA-L2: pmu=$(echo "$log" | $bb grep -m1 'hw perfevents' | $bb sed 's/^\[[^]]*\] //')"
echo "TETRA-L2: serial=$(echo "$log" | $bb grep -m1 'ttyS0 at' | $bb sed 's/^\[[^]]*\] //')"
echo "TETRA-L2: rtc=$(echo "$log" | $bb grep -m1 'setting system clock' | $bb sed 's/^\[[^]]*\] //') date=$($bb date -u +%Y-%m-%dT%H:%M:%S)"
# vcon_msi: the interrupts of the virtio console's MSI vectors (virtioN-config, -input, ...),
# summed over CPUs; empty when it has none (virtio-mmio, or no virtio console).
vcon_msi() {
	for d in /sys/bus/virtio/devices/*; do
		[ -r "$d/device" ] || continue
		read -r id <"$d/device"
		[ "$id" = 0x0003 ] || continue
		$bb awk -v n="${d##*/}-" '/MSI/ && index($0, n) {
			for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; seen = 1 }
			END { if (seen) print s + 0 }' /proc/interrupts
		return
	done
}
if [ -n "${l2s3:-}" ]; then
	echo "TETRA-L2: s3-states=$($bb cat /sys/power/state 2>/dev/null)"
	t0=$($bb date +%s)
	st=alarm
	if echo "+$l2s3" >/sys/class/rtc/rtc0/wakealarm; then
		echo mem >/sys/power/state && st=0 || st=$?
	fi
	t1=$($bb date +%s)
	echo "TETRA-L2: s3-rc=$st"
	echo "TETRA-L2: s3-slept=$((t1 - t0))"
	echo "TETRA-L2: s3-resume=$($bb dmesg | $bb grep -m1 'PM: suspend exit' | $bb sed 's/^\[[^]]*\] //')"
fi
if [ "${l2input:-}" = 1 ]; then
	# A :virtio run's console input comes through virtio-console (tetra's --console virtio feeds
	# stdin to hvc0; l2vcon=hvc1 on ppc64, whose hvc0 is the PAPR vty); a line written to it
	# reaches tetra's stdout beside the console's. It stays open from before the prompt, so the
	# line cannot arrive while it is closed.
	in=/dev/console
	if [ "${l2virtio:-}" = 1 ] && [ -c "/dev/${l2vcon:-hvc0}" ]; then
		in=/dev/${l2vcon:-hvc0}
	fi
	exec 3<>"$in"
	[ "$in" = /dev/console ] || echo "TETRA-L2: hvc0-out=hello-from-hvc0" >&3
	echo "TETRA-L2: input-from=${in#/dev/}"
	wait_s=30
	if [ "${l2snap:-}" = 1 ]; then
		# The lane snapshots (or migrates) the VM now, and types the line into the restored one.
		[ "${l2snapio:-}" != 1 ] || snapio_start
		[ "${l2virtio:-}" != 1 ] || echo "TETRA-L2: vcon-msi-before=$(vcon_msi)"
		echo "TETRA-L2: snap-before=$($bb date +%s)"
		echo "TETRA-L2: snap-ready"
		wait_s=300
	fi
	echo "TETRA-L2: ready for input"
	line=
	# shellcheck disable=SC3045 # busybox ash has read -t
	read -r -t "$wait_s" line <&3
	exec 3>&-
	echo "TETRA-L2: input=$line"
	# The console's interrupt count once the line came in (ppc64's hvc0 interrupts only on input).
	echo "TETRA-L2: serial-irq-after=$($bb grep -m1 -E 'ttyS0|hvc_console' /proc/interrupts | $bb tr -s ' ')"
	if [ "${l2snap:-}" = 1 ]; then
		[ "${l2virtio:-}" != 1 ] || echo "TETRA-L2: vcon-msi-after=$(vcon_msi)"
		echo "TETRA-L2: snap-after=$($bb date +%s)"
		$bb sleep 1
		echo "TETRA-L2: snap-slept=$($bb date +%s)"
		[ "${l2snapio:-}" != 1 ] || snapio_finish
	fi
fi
if [ "${l2pwr:-}" = 1 ]; then
	# The power button (the lanes' :pwr runs): the lane presses it once this says pwr-ready.
	# arm64: gpio-keys reports KEY_POWER on its event device (gpio_keys and evdev are modules);
	# one struct input_event (24 bytes on a 64-bit kernel) read from it is the press, and this
	# init powers off as a power-key daemon would. ppc64: the kernel powers off by itself (ras.c
	# logs "Power off requested", then orderly_poweroff: no /sbin/poweroff here, so it forces
	# it); this init only waits.
	$bb mount -t devtmpfs devtmpfs /dev 2>/dev/null
	for m in gpio_keys gpio-keys evdev; do
		[ ! -f "/lib/modules/l2/$m.ko" ] || $bb insmod "/lib/modules/l2/$m.ko" 2>/dev/null
	done
	dev=
	for e in /sys/class/input/event*; do
		[ "$($bb cat "$e/device/name" 2>/dev/null)" != gpio-keys ] || dev=${e##*/}
	done
	echo "TETRA-L2: pwr-dev=${dev:-none}"
	echo "TETRA-L2: pwr-ready"
	if [ -n "$dev" ]; then
		if $bb timeout 60 $bb dd if="/dev/input/$dev" of=/dev/null bs=24 count=1 2>/dev/null; then
			echo "TETRA-L2: pwr=key"
		else
			echo "TETRA-L2: pwr=none"
		fi
	else
		$bb sleep 60
		echo "TETRA-L2: pwr=none"
	fi
fi
$bb poweroff -f
