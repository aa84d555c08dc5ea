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
. "$(dirname "$0")"/../tests/wait-connect.sh
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# start PATH: a device on PATH, once it accepts connections.
start() {
	"$build/samples/uvfio-dmadev" --socket "$1" &
	pids="$pids $!"
	wait_connect "$1" $! || { echo "demo: the device did not start" >&2; exit 1; }
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
