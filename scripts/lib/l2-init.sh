#!/bin/busybox sh
# shellcheck shell=dash
# /init of the L2 guest initramfs that the x86_64 lane puts at /l2/initrd.cpio (with the same
# Debian kernel at /l2/bzImage). The lane boots it under tetra inside the emulated host
# (scripts/lib/l2-boot.sh) and looks for the marker lines below; then it powers off (ACPI S5 on
# x86), so the VMM should exit 0.
#
# Always printed, in this order (the first line is the boot-time marker):
#   TETRA-L2: init reached
#   TETRA-L2: nproc=<online CPUs>
#   TETRA-L2: uptime=<guest seconds since boot, from /proc/uptime>
# Then facts for the lane's checks (absent when the kernel does not provide them):
#   TETRA-L2: run-init=<printk time of "Run /init as init process" (needs printk.time=1)>
#   TETRA-L2: acpi-tables=<the tables the kernel found in /sys/firmware/acpi/tables>
#   TETRA-L2: acpi-errors=<how many "ACPI Error/Warning" and "ACPI BIOS Error/Warning" lines>
#   TETRA-L2: irq4=<the /proc/interrupts line of IRQ 4: the 8250 console, interrupt driven>
#   TETRA-L2: serial=<the 8250 driver's probe line for ttyS0>
#   TETRA-L2: rtc=<the rtc-cmos line that set the system clock> date=<date -u>
# With l2input=1 on the kernel command line (the kernel passes it to init as a variable):
#   TETRA-L2: ready for input        then the first line read from the console is echoed as
#   TETRA-L2: input=<line>           (empty after 30 s without input)
# The marker first, from a shell builtin: every fork+exec costs a lot in a nested guest.
echo "TETRA-L2: init reached"
bb=/bin/busybox
$bb mkdir -p /proc /sys
$bb mount -t proc proc /proc
echo "TETRA-L2: nproc=$($bb nproc)"
echo "TETRA-L2: uptime=$($bb cut -d' ' -f1 /proc/uptime)"
$bb mount -t sysfs sysfs /sys
log=$($bb dmesg)
# "[    0.912345] Run /init as init process" -> 0.912345
t=$(echo "$log" | $bb sed -n 's/^\[ *\([0-9.]*\)\] Run \/init as init process.*/\1/p')
[ -z "$t" ] || echo "TETRA-L2: run-init=$t"
echo "TETRA-L2: acpi-tables=$($bb ls /sys/firmware/acpi/tables 2>/dev/null | $bb tr '\n' ' ')"
echo "TETRA-L2: acpi-errors=$(echo "$log" | $bb grep -c -E 'ACPI (BIOS )?(Error|Warning)')"
echo "TETRA-L2: irq4=$($bb grep -E '^ *4:' /proc/interrupts | $bb tr -s ' ')"
echo "TETRA-L2: serial=$(echo "$log" | $bb grep -m1 'ttyS0 at' | $bb sed 's/^\[[^]]*\] //')"
echo "TETRA-L2: rtc=$(echo "$log" | $bb grep -m1 'rtc_cmos.*setting system clock' | $bb sed 's/^\[[^]]*\] //') date=$($bb date -u +%Y-%m-%dT%H:%M:%S)"
if [ "${l2input:-}" = 1 ]; then
	echo "TETRA-L2: ready for input"
	line=
	# shellcheck disable=SC3045 # busybox ash has read -t
	read -r -t 30 line
	echo "TETRA-L2: input=$line"
fi
$bb poweroff -f
