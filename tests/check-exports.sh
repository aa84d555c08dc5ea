#!/bin/sh
# The shared library exports only uvfio_* symbols, versioned, with a SONAME,
# and the pkg-config file describes it.
set -e
lib=$1
build=$2
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | grep -v '^uvfio_' | grep -v '^UVFIO_' || true)
if [ -n "$bad" ]; then
	echo "exported symbols outside the uvfio_ namespace:"; echo "$bad"; exit 1
fi
n=$(nm -D --defined-only "$lib" | grep -c ' T uvfio_')
[ "$n" -ge 20 ] || { echo "only $n uvfio_ functions exported"; exit 1; }
objdump -p "$lib" | grep -q 'SONAME *libuvfio.so.0' || { echo "no SONAME libuvfio.so.0"; exit 1; }
objdump -T "$lib" | grep -q 'UVFIO_0.1' || { echo "symbols not versioned UVFIO_0.1"; exit 1; }
pc="$build/meson-private/uvfio.pc"
grep -q '^Name: uvfio' "$pc" && grep -q 'json-c' "$pc" || { echo "bad $pc"; exit 1; }
echo "exports: $n uvfio_ functions, SONAME and version node present"
