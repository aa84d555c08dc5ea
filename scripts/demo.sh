#!/bin/sh
# make demo: start uvfio-dmadev on a temporary socket, show it with
# uvfio-lspci, drive it with the narrating sample client, stop it.
set -e
build=${1:-build}
dir=$(mktemp -d)
sock="$dir/dmadev.sock"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

echo "== starting uvfio-dmadev (a DMA engine with MSI-X) on $sock"
"$build/samples/uvfio-dmadev" --socket "$sock" &
pid=$!
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: the device did not start" >&2; exit 1; }
	sleep 0.05
done
echo "== uvfio-lspci $sock"
"$build/tools/uvfio-lspci" "$sock"
echo "== uvfio-demo: the sample client at work"
"$build/samples/uvfio-demo" "$sock"
