#!/bin/busybox sh
# shellcheck shell=dash
# /init of the L2 guest initramfs that the x86_64 lane puts at /l2/initrd.cpio (with the same
# Debian kernel at /l2/bzImage). Tests boot it under tetra inside the emulated host and look for
# the marker lines below; then it powers off (ACPI on x86), so the VMM should exit 0.
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo "TETRA-L2: init reached"
echo "TETRA-L2: nproc=$(/bin/busybox nproc)"
echo "TETRA-L2: uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
/bin/busybox poweroff -f
