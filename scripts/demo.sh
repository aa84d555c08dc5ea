#!/bin/sh
# make demo: start uvfio-dmadev on a temporary socket, show it with
# uvfio-lspci, drive it with the narrating sample client, migrate it live
# to a second uvfio-dmadev, stop both.
set -e
build=${1:-build}
dir=$(mktemp -d)
sock="$dir/dmadev.sock"
sock2="$dir/dmadev2.sock"
pids=
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT

start() {
	"$build/samples/uvfio-dmadev" --socket "$1" &
	pids="$pids $!"
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "demo: the device did not start" >&2; exit 1; }
		sleep 0.05
	done
}

echo "== starting uvfio-dmadev (a DMA engine with MSI-X) on $sock"
start "$sock"
echo "== uvfio-lspci $sock"
"$build/tools/uvfio-lspci" "$sock"
echo "== uvfio-demo: the sample client at work"
"$build/samples/uvfio-demo" "$sock"
echo "== live migration: a second uvfio-dmadev on $sock2, then"
echo "== uvfio-migrate --precopy --from $sock --to $sock2"
start "$sock2"
"$build/tools/uvfio-migrate" --precopy --from "$sock" --to "$sock2"
