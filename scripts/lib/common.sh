# shellcheck shell=bash
# Shared helpers for scripts/cross-build and scripts/emu-test. Sourced, never executed.
#
# Everything here targets a Debian 12 (bookworm) x86_64 machine. Package installation runs only
# when something is missing, so a second run costs a few dpkg-query calls.

# The repository root (the directory above scripts/).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

# apt-get waits for a lock held by another apt run instead of failing at once.
APT_GET=(apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)

log() { printf '[%s] %s\n' "${LOG_TAG:-tetra}" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "${LOG_TAG:-tetra}" "$*" >&2; }
die() {
	printf '[%s] ERROR: %s\n' "${LOG_TAG:-tetra}" "$*" >&2
	exit 2
}

# fmt_secs SECONDS -> "1m05s" / "42s"
fmt_secs() {
	local s=$1
	if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# Seconds since the epoch with centiseconds, for phase timing.
now() { date +%s.%N | cut -c1-13; }
# elapsed START -> seconds (one decimal) since START (from `now`).
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Set by apt_update_once so one script run updates the index at most once.
APT_UPDATED=0

# apt_update_once: refresh the package index (at most once per run).
# A transient index error for one foreign arch (seen with ppc64el) must not stop the run, so
# failures are reported and the install that follows decides.
apt_update_once() {
	((APT_UPDATED)) && return 0
	APT_UPDATED=1
	log "apt-get update"
	local out
	out=$(mktemp)
	if ! DEBIAN_FRONTEND=noninteractive "${APT_GET[@]}" -q update >"$out" 2>&1; then
		warn "apt-get update reported errors; continuing (a transient foreign-arch index size mismatch is known and harmless):"
		grep -E '^(E|Err):' "$out" | head -n 5 | sed 's/^/    /' >&2
	fi
	cat "$out" >>"${APT_LOG:-/dev/null}"
	rm -f "$out"
}

# pkg_installed NAME[:ARCH] -> status 0 when dpkg reports it installed.
pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# need_root WHAT: abort with a clear message when we are not root but must change the system.
need_root() {
	is_root || die "$1 needs root (run as root, or install it yourself and pass --no-install)"
}

# ensure_foreign_arch ARCH...: dpkg --add-architecture for each missing one.
ensure_foreign_arch() {
	local a have
	have=" $(dpkg --print-architecture) $(dpkg --print-foreign-architectures | tr '\n' ' ') "
	for a in "$@"; do
		case "$have" in *" $a "*) continue ;; esac
		need_root "dpkg --add-architecture $a"
		log "dpkg --add-architecture $a"
		dpkg --add-architecture "$a"
		APT_UPDATED=0 # the index of the new arch must be fetched
	done
}

# ensure_pkgs [-t RELEASE] PKG...: install the packages that are not installed yet.
ensure_pkgs() {
	local release=() p missing=()
	if [ "${1:-}" = "-t" ]; then
		release=(-t "$2")
		shift 2
	fi
	for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	need_root "installing ${missing[*]}"
	apt_update_once
	log "apt-get install ${release[*]} ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive "${APT_GET[@]}" -q install -y --no-install-recommends \
		"${release[@]}" "${missing[@]}" >>"${APT_LOG:-/dev/null}" 2>&1 ||
		die "apt-get install failed for: ${missing[*]} (rerun with APT_LOG=/dev/stderr to see why)"
}

# os_codename -> bookworm, trixie, ...
os_codename() { sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"'; }

# ensure_backports: on bookworm, add a bookworm-backports source if no source names it.
ensure_backports() {
	[ "$(os_codename)" = bookworm ] || return 0
	if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	need_root "adding the bookworm-backports apt source"
	log "adding /etc/apt/sources.list.d/bookworm-backports.sources"
	cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	APT_UPDATED=0
}

# apt_candidate PKG[:ARCH] -> the candidate version apt would install (empty if none).
apt_candidate() {
	apt-cache policy "$1" 2>/dev/null | awk '/^  Candidate:/ { if ($2 != "(none)") print $2; exit }'
}

# deb_fetch PKG[:ARCH] DIR -> prints the path of PKG's candidate .deb inside DIR, downloading it
# with `apt-get download` unless a file for that exact version is already there (the cache key is
# the package version, which apt puts into the file name). A stale index (the mirror dropped that
# version) is refreshed once and the version resolved again.
deb_fetch() {
	local pkg=$1 dir=$2 ver name arch file try
	name=${pkg%%:*}
	arch=${pkg#"$name"}
	arch=${arch#:}
	[ -n "$arch" ] || arch=$(dpkg --print-architecture)
	mkdir -p "$dir"
	for try in 1 2; do
		ver=$(apt_candidate "$pkg")
		if [ -n "$ver" ]; then
			file="$dir/${name}_${ver//:/%3a}_${arch}.deb"
			[ -s "$file" ] && break
			log "apt-get download $pkg=$ver"
			(cd "$dir" && "${APT_GET[@]}" -q download "$pkg=$ver" >/dev/null 2>&1) && [ -s "$file" ] && break
		fi
		file=
		[ "$try" = 1 ] || break
		APT_UPDATED=0
		apt_update_once
	done
	[ -n "$file" ] || die "cannot download $pkg (candidate '${ver:-none}'); is its architecture enabled?"
	printf '%s\n' "$file"
}
