#!/usr/bin/env bash
# booke-e500v2-kernel.sh [--no-install]: the 32-bit e500v2 KVM host kernel of scripts/booke-kvm-probe.
#
# Debian ships no 32-bit powerpc kernel, so this builds one from Debian's linux-source-6.1:
# mpc85xx_defconfig plus KVM_E500V2 (built in), PPC_QEMU_E500 (the board QEMU's -M ppce500
# emulates), MATH_EMULATION (e500v2 has no classic FPU; Debian's powerpc libc uses FP
# instructions), minus what a probe host does not need (modules, network, storage, ...). Debug
# info stays on (the defconfig's choice) so a KVM oops can be decoded with addr2line. Cached at
#   CACHE/booke-e500v2/<key>/vmlinux  (CACHE: TETRA_CACHE, else /var/cache/tetra, else REPO/.cache)
# where <key> hashes the installed linux-source-6.1 version, the cross gcc's version and this
# script (which holds the configuration). A cached build is reused; a failed or interrupted
# build leaves no entry; a second caller with the same key waits (flock). Prints the entry's
# directory on stdout; everything else goes to stderr. Builds under `nice -n ${BOOKE_NICE:-19}`
# with `make -j2` (BOOKE_JOBS).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export LOG_TAG=${LOG_TAG:-booke-e500v2-kernel}

INSTALL=1
PRINT_KEY=0
case "${1:-}" in
--no-install) INSTALL=0 ;;
--entry) INSTALL=0 PRINT_KEY=1 ;; # print the entry's directory (built or not) and exit
'') ;;
*) die "usage: $0 [--no-install|--entry]" ;;
esac

SELF="$REPO_ROOT/scripts/lib/booke-e500v2-kernel.sh"
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
CROSS=powerpc-linux-gnu-
DEFCONFIG=mpc85xx_defconfig
# scripts/config arguments applied to the defconfig (the recipe's trim, then the e500v2 KVM host).
CONFIG_ARGS=(-d MODULES -d NET -d SCSI -d ATA -d MD -d USB_SUPPORT -d HID -d SOUND -d DRM -d FB
	-d INFINIBAND -d BTRFS_FS -d XFS_FS -d EXT4_FS -d EXT2_FS -d EXT3_FS -d FTRACE -d KPROBES
	-d SECURITY -d AUDIT -d BPF_SYSCALL -d DEBUG_INFO -e DEBUG_INFO_NONE -d MODULE_SIG -d NO_HZ_FULL
	-e NO_HZ_IDLE -d VIRT_CPU_ACCOUNTING_GEN -e DEVTMPFS -e DEVTMPFS_MOUNT -e BLK_DEV_INITRD
	-e RD_GZIP -e VIRTUALIZATION
	-e KVM_E500V2 -e PPC_QEMU_E500 -e MATH_EMULATION -d MTD -e KALLSYMS -e KALLSYMS_ALL
	-d STRICT_KERNEL_RWX)
# Kernel patches applied to the source (each file says why): the two e500v2 KVM bugs found by
# issue 15 (docs/booke.md). BOOKE_NO_PATCHES=1 builds without them (its own cache entry).
PATCH_DIR="$REPO_ROOT/tools/booke-kvm-probe/patches"
PATCHES=()
if [ "${BOOKE_NO_PATCHES:-0}" != 1 ]; then PATCHES=("$PATCH_DIR"/*.patch); fi
# BOOKE_STRICT_RWX=1 keeps mpc85xx_defconfig's STRICT_KERNEL_RWX (the kernel that hangs; its own
# cache entry), to reproduce the finding.
STRICT_RWX=${BOOKE_STRICT_RWX:-0}
if [ "$STRICT_RWX" = 1 ]; then CONFIG_ARGS=("${CONFIG_ARGS[@]:0:${#CONFIG_ARGS[@]}-2}"); fi
# STRICT_KERNEL_RWX off: e500v2 KVM (kvmppc_booke_init) copies its exit stubs into a page from
# __get_free_pages and points IVPR at it while a guest runs. With STRICT_KERNEL_RWX (on in
# mpc85xx_defconfig) the TLB1 CAM entries map lowmem past _sinittext without execute permission,
# so the first guest exit fetches a stub from a non-executable page: an instruction storage
# interrupt whose vector is in the same page, forever; the host hangs silently in the first
# KVM_RUN. See docs/booke.md "e500v2 KVM under QEMU".
# (-d DEBUG_INFO does not stick: mpc85xx_defconfig's debug-info choice survives olddefconfig,
# which is what the oops decoding wants.)

if ((INSTALL)); then
	ensure_pkgs "$SRC_PKG" gcc-powerpc-linux-gnu gcc libc6-dev make bc flex bison perl patch \
		libssl-dev libelf-dev xz-utils util-linux
fi
pkg_installed "$SRC_PKG" || die "$SRC_PKG is not installed (needs root, or drop --no-install)"
[ -r "$SRC_TAR" ] || die "missing $SRC_TAR (package $SRC_PKG)"
command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc not found (package gcc-powerpc-linux-gnu)"

SRC_VER=$(dpkg-query -W -f='${Version}' "$SRC_PKG")
GCC_VER=$("${CROSS}gcc" -dumpfullversion 2>/dev/null || "${CROSS}gcc" -dumpversion)
KEY=$({
	printf 'source %s %s\ngcc %s\n' "$SRC_PKG" "$SRC_VER" "$GCC_VER"
	[ "$STRICT_RWX" = 1 ] && printf 'strict-rwx\n'
	for p in "${PATCHES[@]}"; do sha256sum <"$p"; done
	sha256sum <"$SELF"
} | sha256sum | cut -c1-16)

CACHE=${TETRA_CACHE:-/var/cache/tetra}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then CACHE="$REPO_ROOT/.cache"; fi
BASE="$CACHE/booke-e500v2"
ENTRY="$BASE/$KEY"
mkdir -p "$BASE"

if ((PRINT_KEY)); then
	printf '%s\n' "$ENTRY"
	exit 0
fi
if [ -s "$ENTRY/vmlinux" ]; then
	log "cached: $ENTRY ($SRC_PKG $SRC_VER; built in $(sed -n 's/^build_secs=//p' "$ENTRY/BUILD-INFO" 2>/dev/null || echo '?') s)"
	printf '%s\n' "$ENTRY"
	exit 0
fi

exec 8>"$BASE/.lock-$KEY"
if ! flock -n 8; then
	log "another build of $KEY is under way; waiting for it"
	flock 8
fi
if [ -s "$ENTRY/vmlinux" ]; then
	log "cached (built meanwhile): $ENTRY"
	printf '%s\n' "$ENTRY"
	exit 0
fi

rm -rf "$BASE/.build-$KEY".*
TMP=$(mktemp -d "$BASE/.build-$KEY.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

NICE=${BOOKE_NICE:-19}
JOBS=${BOOKE_JOBS:-2}
S=$(date +%s)
log "building the e500v2 KVM host kernel (key $KEY: $SRC_PKG $SRC_VER, ${CROSS}gcc $GCC_VER) in $TMP; about 25 min on 2 loaded cores"
log "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "$NICE" tar -C "$TMP" -xf "$SRC_TAR"
SRC="$TMP/linux-source-6.1"
OUT="$TMP/out"
for p in "${PATCHES[@]}"; do
	log "  applying $(basename "$p")"
	patch -d "$SRC" -p1 -s <"$p" || die "patch $p does not apply"
done
mkdir -p "$OUT"
MAKE=(nice -n "$NICE" make -C "$SRC" ARCH=powerpc CROSS_COMPILE="$CROSS" O="$OUT")
LOGF="$TMP/build.log"
"${MAKE[@]}" "$DEFCONFIG" >"$LOGF" 2>&1 || die "make $DEFCONFIG failed"
"$SRC/scripts/config" --file "$OUT/.config" "${CONFIG_ARGS[@]}"
"${MAKE[@]}" olddefconfig >>"$LOGF" 2>&1 || die "make olddefconfig failed"
for opt in CONFIG_KVM_E500V2=y CONFIG_PPC_QEMU_E500=y CONFIG_MATH_EMULATION=y CONFIG_BLK_DEV_INITRD=y \
	CONFIG_DEVTMPFS=y CONFIG_KALLSYMS=y; do
	grep -qx "$opt" "$OUT/.config" || die "$opt is not in the configured kernel ($OUT/.config)"
done
if [ "$STRICT_RWX" = 1 ]; then
	grep -qx CONFIG_STRICT_KERNEL_RWX=y "$OUT/.config" || die "BOOKE_STRICT_RWX=1 but STRICT_KERNEL_RWX is off"
else
	grep -qx '# CONFIG_STRICT_KERNEL_RWX is not set' "$OUT/.config" || die "STRICT_KERNEL_RWX is still on"
fi
if ! "${MAKE[@]}" -j"$JOBS" vmlinux >>"$LOGF" 2>&1; then
	tail -n 40 "$LOGF" >&2
	die "kernel build failed after $(fmt_secs $(($(date +%s) - S)))"
fi
SECS=$(($(date +%s) - S))

STAGE="$TMP/entry"
mkdir -p "$STAGE"
cp "$OUT/vmlinux" "$STAGE/vmlinux"
cp "$OUT/.config" "$STAGE/config"
cp "$OUT/System.map" "$STAGE/System.map"
tail -n 20 "$LOGF" >"$STAGE/build.log.tail"
cat >"$STAGE/BUILD-INFO" <<EOF
key=$KEY
source=$SRC_PKG $SRC_VER
gcc=${CROSS}gcc $GCC_VER
script_sha256=$(sha256sum <"$SELF" | cut -d' ' -f1)
kernel_release=$(cat "$OUT/include/config/kernel.release" 2>/dev/null || echo '?')
build_secs=$SECS
jobs=$JOBS nice=$NICE
strict_kernel_rwx=$STRICT_RWX
patches=$(for p in "${PATCHES[@]}"; do basename "$p"; done | paste -sd' ')
built=$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)
EOF
mv -T "$STAGE" "$ENTRY"
log "e500v2 kernel built in $(fmt_secs "$SECS") ($SECS s): $ENTRY/vmlinux"
printf '%s\n' "$ENTRY"
