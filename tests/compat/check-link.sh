#!/bin/sh
# A program built against the compat headers, linked with -lvfio-user and
# no rpath, loads libvfio-user.so.0 from the build tree through
# LD_LIBRARY_PATH -- what a device built against libvfio-user does when
# pointed at uvfio's.  Usage: check-link.sh CC SRCDIR LIBDIR [SANITIZE]
# SANITIZE: the build's b_sanitize, so the probe carries the same runtime
# as the library it loads.
set -eu
cc=$1 src=$2 lib=$3
san=
case ${4:-none} in none | '') ;; *) san="-fsanitize=$4" ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
$cc $san -std=gnu11 -Wall -Werror -I"$src/compat/libvfio-user/include/vfio-user" \
	"$src/tests/compat/link_probe.c" -o "$tmp/probe" -L"$lib" -lvfio-user -ldl
if readelf -d "$tmp/probe" | grep -Eq 'RPATH|RUNPATH'; then
	echo "check-link: the probe has an rpath; the test would prove nothing" >&2
	exit 1
fi
readelf -d "$tmp/probe" | grep -q 'NEEDED.*\[libvfio-user.so.0\]' || {
	echo "check-link: the probe does not need libvfio-user.so.0" >&2
	exit 1
}
# meson test puts its own build directories on LD_LIBRARY_PATH: set it,
# and unset it below, explicitly.
out=$(LD_LIBRARY_PATH="$lib" "$tmp/probe" "$tmp/sock")
echo "$out"
loaded=$(echo "$out" | head -1)
case $(readlink -f "$loaded") in
"$(readlink -f "$lib")"/*) ;;
*) echo "check-link: loaded $loaded, not the one in $lib" >&2; exit 1 ;;
esac
echo "$out" | grep -qx 'dma_sg_size=32' || {
	echo "check-link: unexpected output" >&2
	exit 1
}
# Without the path it must not load at all -- unless the system has a
# libvfio-user of its own, which would then be the one found.
if ! ldconfig -p 2>/dev/null | grep -q 'libvfio-user.so.0 '; then
	if env -u LD_LIBRARY_PATH "$tmp/probe" "$tmp/sock2" >/dev/null 2>&1; then
		echo "check-link: the probe ran without LD_LIBRARY_PATH" >&2
		exit 1
	fi
fi
echo "check-link: ok"
