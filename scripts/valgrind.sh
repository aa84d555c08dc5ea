#!/bin/sh
# make valgrind: the integration tests under valgrind memcheck, on a plain
# debug build (no sanitizers: they and valgrind exclude each other).
#
# Usage: scripts/valgrind.sh [BUILD_DIR]   (default build-valgrind)
#
# Fails on any memcheck error (invalid access, uninitialised value used,
# definite leak).  Tests that only wrap shell scripts or other programs
# (lspci, trace, docs, demo, install, exports, bench-quick) are left out:
# valgrind would check the shell, not the library, and the programs they
# start are not traced.  The unit tests of pure code (codec, pci) add
# little over ASan and are left to `make check`; fuzz replays likewise.
# dma asserts timings (65535 maps in under a second) that cannot hold at
# valgrind's speed; so do threads (no call over 1 s) and listen (starts
# and connects by the thousand).
set -e
build=${1:-build-valgrind}
here=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v valgrind >/dev/null 2>&1; then
	echo "uvfio: installing valgrind (apt-get)"
	if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; else
		echo "uvfio: not root and no sudo: please install valgrind" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi

cd "$here"
test -f "$build/build.ninja" || meson setup "$build" -Dbuildtype=debug >/dev/null
ninja -C "$build"

supp=""
[ -f scripts/valgrind.supp ] && supp="--suppressions=$here/scripts/valgrind.supp"

# The library's own tests over real sockets and processes.  Each test's
# timeout is multiplied: valgrind runs code 20-50 times slower.
tests="fault fault-client client client-bad skeleton device server transport
	migration migration-server client-inplace server-inplace
	client-vmm qemu-dma dma-atomic dma-sg quiesce loop nvme layout
	compat-api"

# shellcheck disable=SC2086
exec meson test -C "$build" --no-rebuild --print-errorlogs \
	--timeout-multiplier 10 \
	--wrap="valgrind --quiet --error-exitcode=1 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite \
--child-silent-after-fork=yes $supp" \
	$tests
