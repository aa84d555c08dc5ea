#!/bin/sh
# The commands of docs/writing-a-device.md and docs/client.md: start the
# tutorial device, inspect it with uvfio-lspci -v, drive it with the
# tutorial client (with the built-in loop and with --own-loop).
# usage: check-docs.sh TUTORIAL_DEVICE TUTORIAL_CLIENT LSPCI
set -e
device=$1
client=$2
lspci=$3
tmp=$(mktemp -d)
pid=
. "$(dirname "$0")"/wait-connect.sh

cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/out "$tmp"/err "$tmp"/dev.err; do
		[ -f "$f" ] && { echo "--- $f"; cat "$f"; }
	done
	exit 1
}

expect() {
	grep -qF -- "$2" "$1" || fail "missing in $1: $2"
}

# start [ARGS...]: the device on a fresh socket, $s set.
n=0
start() {
	n=$((n + 1))
	s=$tmp/dev$n.sock
	"$device" "$@" "$s" 2>"$tmp"/dev.err & pid=$!
	wait_connect "$s" "$pid" || fail "the device does not accept connections on $s"
}

stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "device exited with status $? on SIGTERM"
	pid=
	[ ! -e "$s" ] || fail "socket $s left behind"
}

# usage errors
if "$device" >"$tmp"/out 2>"$tmp"/err; then fail "device ran without a socket"; fi
expect "$tmp"/err "usage: uvfio-tutorial-device"
if "$client" >"$tmp"/out 2>"$tmp"/err; then fail "client ran without a socket"; fi
expect "$tmp"/err "usage: uvfio-tutorial-client"

for mode in "" --own-loop; do
	start -v $mode
	"$lspci" -v "$s" >"$tmp"/out 2>"$tmp"/err || fail "uvfio-lspci -v failed"
	expect "$tmp"/out "Vendor 1234 Device 7e57"
	expect "$tmp"/out "MSI-X: Enable- Count=2 Masked-"
	expect "$tmp"/out "Vector table: BAR=2 offset=0000f000"
	expect "$tmp"/out "Region 2 (BAR2): size 0x10000 [64K], flags READ WRITE MMAP"
	expect "$tmp"/out "Sparse mmap area: offset 0x0, size 0xf000 [60K]"
	expect "$tmp"/out "IRQ index 2 (MSI-X): count 2"

	"$client" "$s" >"$tmp"/out 2>"$tmp"/err || fail "tutorial client failed ($mode)"
	expect "$tmp"/out "ok: copy from the message-only window, interrupt taken"
	expect "$tmp"/out "ok: heartbeat DMA and interrupt"
	expect "$tmp"/out "ok: windows and eventfds restored"
	expect "$tmp"/out "tutorial-client: all checks passed"
	grep -q '^FAIL' "$tmp"/out && fail "a client check failed"
	stop
	expect "$tmp"/dev.err "client connected"
	expect "$tmp"/dev.err "DMA window 0x100000000+0x10000 R W"
	expect "$tmp"/dev.err "client gone"
done

# Nobody there: the client says so and fails.
if "$client" "$tmp"/none.sock >"$tmp"/out 2>"$tmp"/err; then
	fail "client succeeded without a device"
fi
expect "$tmp"/err "$tmp/none.sock"

echo "docs: ok"
