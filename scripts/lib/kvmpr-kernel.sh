#!/usr/bin/env bash
# kvmpr-kernel.sh [--no-install | --cached-only]: the ppc64le KVM-PR kernel of the ppc64-pr lane.
# --cached-only installs and builds nothing: it prints the cached entry, or says why there is none
# and exits 4 (.ci/run runs the ppc64-pr lane only when its kernel is cached).
#
# Debian builds no KVM-PR (its powerpc64le config forces CONTEXT_TRACKING_USER), so this builds
# one from Debian's linux-source-6.1 with the repository's config, scripts/lanes/config-6.1-ppc64le-kvmpr
# (pseries, KVM_BOOK3S_64_PR built in, no modules; plus a small network stack, see below), and
# caches it at
#   CACHE/kvmpr/<key>/vmlinux      (CACHE: TETRA_CACHE, else /var/cache/tetra, else REPO/.cache)
# where <key> hashes the config, the installed linux-source-6.1 version, the cross gcc's version
# and this script's build recipe (everything from the "the build" marker line on: edits above it,
# such as options and messages, keep the cached kernel). A cached build is reused as it is. The build runs in a temporary directory
# beside the entry and is renamed into place only when it succeeded, so a failed or interrupted
# build leaves no entry; a second caller with the same key waits for the first (flock) and then
# reuses its result. Prints the entry's directory on stdout; everything else goes to stderr.
# The compile runs under `nice -n ${KVMPR_NICE:-15}` with `make -j$(nproc)`; about 13 min on
# 2 quiet cores.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export LOG_TAG=${LOG_TAG:-kvmpr-kernel}

INSTALL=1 CACHED_ONLY=0
case "${1:-}" in
--no-install) INSTALL=0 ;;
--cached-only) INSTALL=0 CACHED_ONLY=1 ;;
'') ;;
*) die "usage: $0 [--no-install | --cached-only]" ;;
esac
# not_cached WHY: with --cached-only, says there is no cached kernel and exits 4.
not_cached() {
	log "no cached KVM-PR kernel: $1"
	exit 4
}

SELF="$REPO_ROOT/scripts/lib/kvmpr-kernel.sh"
CONFIG="$REPO_ROOT/scripts/lanes/config-6.1-ppc64le-kvmpr"
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
CROSS=powerpc64le-linux-gnu-
[ -r "$CONFIG" ] || die "missing $CONFIG"

if ((INSTALL)); then
	# The kernel's build needs: the cross compiler, host gcc/libc for its host tools, make, bc,
	# flex, bison, perl, libssl-dev (certificate tools), libelf-dev (objtool), xz to unpack.
	ensure_pkgs "$SRC_PKG" gcc-powerpc64le-linux-gnu gcc libc6-dev make bc flex bison perl \
		libssl-dev libelf-dev xz-utils util-linux
fi
if ((CACHED_ONLY)); then
	pkg_installed "$SRC_PKG" || not_cached "$SRC_PKG is not installed"
	command -v "${CROSS}gcc" >/dev/null || not_cached "${CROSS}gcc is not installed"
fi
pkg_installed "$SRC_PKG" || die "$SRC_PKG is not installed (needs root, or drop --no-install)"
[ -r "$SRC_TAR" ] || die "missing $SRC_TAR (package $SRC_PKG)"
command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc not found (package gcc-powerpc64le-linux-gnu)"

SRC_VER=$(dpkg-query -W -f='${Version}' "$SRC_PKG")
GCC_VER=$("${CROSS}gcc" -dumpfullversion 2>/dev/null || "${CROSS}gcc" -dumpversion)
RECIPE=$(sed -n '/^# ---- the build (hashed into the cache key) ----$/,$p' "$SELF")
[ -n "$RECIPE" ] || die "no build marker line in $SELF"
RECIPE_SHA=$(printf '%s\n' "$RECIPE" | sha256sum | cut -d' ' -f1)
KEY=$({
	printf 'source %s %s\ngcc %s\n' "$SRC_PKG" "$SRC_VER" "$GCC_VER"
	sha256sum <"$CONFIG"
	echo "$RECIPE_SHA"
} | sha256sum | cut -c1-16)

CACHE=${TETRA_CACHE:-/var/cache/tetra}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then CACHE="$REPO_ROOT/.cache"; fi
BASE="$CACHE/kvmpr"
ENTRY="$BASE/$KEY"
mkdir -p "$BASE"

if [ -s "$ENTRY/vmlinux" ]; then
	log "cached: $ENTRY ($SRC_PKG $SRC_VER; built in $(sed -n 's/^build_secs=//p' "$ENTRY/BUILD-INFO" 2>/dev/null || echo '?') s)"
	printf '%s\n' "$ENTRY"
	exit 0
fi

((CACHED_ONLY == 0)) || not_cached "none for key $KEY in $BASE (scripts/emu-test ppc64-pr builds one: about 20 min here)"

# One build per key at a time: a second caller waits here and then finds the entry.
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

# ---- the build (hashed into the cache key) ----
rm -rf "$BASE/.build-$KEY".* # left by a build that was killed (we hold the lock: none is running)
TMP=$(mktemp -d "$BASE/.build-$KEY.XXXXXX")
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

NICE=${KVMPR_NICE:-15}
JOBS=$(nproc)
S=$(date +%s)
log "building the KVM-PR kernel (key $KEY: $SRC_PKG $SRC_VER, ${CROSS}gcc $GCC_VER) in $TMP; about 13 min on 2 quiet cores"
log "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "$NICE" tar -C "$TMP" -xf "$SRC_TAR"
SRC="$TMP/linux-source-6.1"
OUT="$TMP/out"
mkdir -p "$OUT"
cp "$CONFIG" "$OUT/.config"
# On top of the recipe's config: a network stack small enough to cost little build time, for
# what the suite needs of it (Unix sockets: tetra's control socket, QMP and migration; TCP over
# loopback: migration; /dev/net/tun: the TAP tests). The recipe's config has CONFIG_NET off.
"$SRC/scripts/config" --file "$OUT/.config" -e NET -e UNIX -e INET -d IPV6 -d NETFILTER \
	-d WIRELESS -d WLAN -d ETHERNET -d WAN -d NET_VENDOR_IBM -e NETDEVICES -e NET_CORE -e TUN
MAKE=(nice -n "$NICE" make -C "$SRC" ARCH=powerpc CROSS_COMPILE="$CROSS" O="$OUT")
LOGF="$TMP/build.log"
"${MAKE[@]}" olddefconfig >"$LOGF" 2>&1 || {
	tail -n 30 "$LOGF" >&2
	die "make olddefconfig failed"
}
# The options the lane depends on must have survived olddefconfig (a newer source may drop or
# rename some; the build then fails here rather than booting a kernel without KVM-PR).
for opt in CONFIG_KVM_BOOK3S_64=y CONFIG_KVM_BOOK3S_64_PR=y CONFIG_PPC_POWERNV=y CONFIG_HVC_OPAL=y \
	CONFIG_BLK_DEV_INITRD=y CONFIG_DEVTMPFS=y CONFIG_HVC_CONSOLE=y CONFIG_UNIX=y CONFIG_TUN=y; do
	grep -qx "$opt" "$OUT/.config" || die "$opt is not in the configured kernel ($OUT/.config)"
done
# What differs from the repository's config (the additions above, and what olddefconfig changed
# for this source version), kept in the entry.
diff <(grep '^CONFIG_' "$CONFIG" | sort) <(grep '^CONFIG_' "$OUT/.config" | sort) >"$TMP/config.diff" || true
log "  $(grep -c '^[<>]' "$TMP/config.diff") option lines differ from the repository's config (the entry's config.diff)"
if ! "${MAKE[@]}" -j"$JOBS" vmlinux >>"$LOGF" 2>&1; then
	tail -n 40 "$LOGF" >&2
	die "kernel build failed after $(fmt_secs $(($(date +%s) - S))) (log above; the temporary tree is removed)"
fi
SECS=$(($(date +%s) - S))

# Assemble the entry beside its final place, then rename it in one step.
STAGE="$TMP/entry"
mkdir -p "$STAGE"
cp "$OUT/vmlinux" "$STAGE/vmlinux"
cp "$OUT/.config" "$STAGE/config"
cp "$TMP/config.diff" "$STAGE/config.diff"
tail -n 20 "$LOGF" >"$STAGE/build.log.tail"
cat >"$STAGE/BUILD-INFO" <<EOF
key=$KEY
source=$SRC_PKG $SRC_VER
gcc=${CROSS}gcc $GCC_VER
config_sha256=$(sha256sum <"$CONFIG" | cut -d' ' -f1)
recipe_sha256=$RECIPE_SHA
kernel_release=$(cat "$OUT/include/config/kernel.release" 2>/dev/null || echo '?')
build_secs=$SECS
jobs=$JOBS nice=$NICE
built=$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)
EOF
mv -T "$STAGE" "$ENTRY"
log "KVM-PR kernel built in $(fmt_secs "$SECS") ($SECS s): $ENTRY/vmlinux ($(du -h "$ENTRY/vmlinux" | cut -f1))"
printf '%s\n' "$ENTRY"
