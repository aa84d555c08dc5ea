#!/bin/sh
# Start the skeleton device on a temporary socket, drive it with the sample
# client, stop the device.  Later issues replace the skeleton with dmadev.
set -e
build=${1:-build}
dir=$(mktemp -d)
sock="$dir/skeleton.sock"
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

echo "== starting $build/samples/uvfio-skeleton on $sock"
"$build/samples/uvfio-skeleton" --socket-path="$sock" &
pid=$!
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: the device did not start" >&2; exit 1; }
	sleep 0.05
done
echo "== driving it with $build/samples/uvfio-skeleton-client"
"$build/samples/uvfio-skeleton-client" "$sock"
echo "== demo finished: the client negotiated, listed, read and wrote the device"
