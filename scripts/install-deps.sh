#!/bin/sh
# Install the Debian packages fdtrace needs, only those that are missing.
#   scripts/install-deps.sh build   what building and the demo need
#   scripts/install-deps.sh test    that, plus the real runtimes the tests drive
#                                   and the tools the package checks use
#   scripts/install-deps.sh deb     what building the Debian package needs
set -eu

BUILD_PKGS="clang llvm libbpf-dev bpftool libelf-dev libdw-dev python3.11-dev zlib1g-dev make gcc pkg-config python3"
TEST_PKGS="python3-uvloop python3-pytest nodejs nginx-light redis-server redis-tools wrk strace bpftrace
           qemu-system-x86 busybox-static cpio libfuzzer-14-dev chromium
           prometheus prometheus-node-exporter systemd"
# The man page (built by `make`), the package build, the package checks.
DOC_PKGS="scdoc"
DEB_PKGS="dpkg-dev debhelper"
CHECK_PKGS="lintian groff-base man-db"

case "${1:-build}" in
build) want="$BUILD_PKGS $DOC_PKGS" ;;
test)  want="$BUILD_PKGS $TEST_PKGS $DOC_PKGS $DEB_PKGS $CHECK_PKGS" ;;
deb)   want="$BUILD_PKGS $DOC_PKGS $DEB_PKGS" ;;
*) echo "install-deps: unknown group '$1' (build, test or deb)" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	# nginx: any flavour will do
	if [ "$p" = nginx-light ] && command -v nginx >/dev/null 2>&1; then
		continue
	fi
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 2
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services installed here must not start on their own: tests start their
# own instances on private ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
