#!/bin/sh
# uvfio-lspci against the sample servers, against a hostile fake server
# (capability loops, pointers out of range, a bad VERSION; needs python3,
# skipped without it), and its error messages when nobody serves.
# usage: check-lspci.sh LSPCI GPIO_SERVER DMADEV_SERVER
set -e
lspci=$1
gpio=$2
dmadev=$3
tmp=$(mktemp -d)
pids=
stale=
tab=$(printf '\t')
. "$(dirname "$0")"/wait-connect.sh

cleanup() {
	for p in $pids $stale; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $pids $stale; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/out "$tmp"/err; do
		[ -f "$f" ] && { echo "--- $f"; cat "$f"; }
	done
	exit 1
}

# wait_listen PATH PID: until the server PID accepts connections on PATH.
wait_listen() {
	wait_connect "$1" "$2" || fail "nobody accepts connections on $1"
}

# wait_for FILE: until the fake server has written its ready file (after
# listen(); it accepts one connection only, so no probe may take it).
wait_for() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || fail "$1 did not appear"
		sleep 0.05
	done
}

# expect_line FILE LINE: LINE (tabs written as \t) is a whole line of FILE.
expect_line() {
	want=$(printf %b "$2")
	grep -qxF -- "$want" "$1" || fail "missing line in $1: $2"
}

# expect_re FILE BRE: a whole line of FILE matches.
expect_re() {
	grep -qx -- "$2" "$1" || fail "no line in $1 matches: $2"
}

# run_ok ARGS...: exit status 0, stdout in out, stderr in err.
run_ok() {
	"$lspci" "$@" >"$tmp"/out 2>"$tmp"/err || fail "uvfio-lspci $* failed"
}

# run_fail ARGS...: non-zero exit status.
run_fail() {
	if "$lspci" "$@" >"$tmp"/out 2>"$tmp"/err; then
		fail "uvfio-lspci $* succeeded"
	fi
}

# ---- usage -------------------------------------------------------------
run_ok --help
for o in -v --verbose -x --hex -h --help SOCKET_PATH; do
	grep -q -- "$o" "$tmp"/out || fail "--help does not mention $o"
done
run_fail
run_fail -q "$tmp"/x

# ---- gpio --------------------------------------------------------------
"$gpio" --socket "$tmp"/gpio.sock & pids="$pids $!"
wait_listen "$tmp"/gpio.sock $!
run_ok -v "$tmp"/gpio.sock
s=$tmp/gpio.sock
expect_line "$tmp"/out "vfio-user device at $s: Unassigned class [ff00]: Vendor 494f Device 0dc8"
expect_line "$tmp"/out '\tSubsystem: Vendor 494f Device 0dc8'
expect_line "$tmp"/out '\tInterrupt: pin A'
expect_line "$tmp"/out '\tRegion 2: I/O ports at <unassigned> [size=256]'
expect_re "$tmp"/out "${tab}Control: I/O[-+] Mem[-+] BusMaster[-+] .* DisINTx[-+]"
expect_line "$tmp"/out '\t\tRegion 2 (BAR2): size 0x100 [256], flags READ WRITE'
expect_line "$tmp"/out '\t\tIRQ index 0 (INTx): count 1, flags EVENTFD MASKABLE AUTOMASKED'
grep -q 'Capabilities' "$tmp"/out && fail "gpio has no capabilities"
[ -s "$tmp"/err ] && fail "unexpected stderr"

# ---- dmadev ------------------------------------------------------------
"$dmadev" --socket "$tmp"/dma.sock & pids="$pids $!"
wait_listen "$tmp"/dma.sock $!
run_ok -v -x "$tmp"/dma.sock
s=$tmp/dma.sock
expect_line "$tmp"/out "vfio-user device at $s: System peripheral [0880]: Vendor 1234 Device d3a0"
expect_line "$tmp"/out '\tRegion 0: Memory at <unassigned> (32-bit, non-prefetchable) [size=4K]'
expect_line "$tmp"/out '\tRegion 2: Memory at <unassigned> (64-bit, prefetchable) [size=1M]'
expect_re "$tmp"/out "${tab}Capabilities: \[[0-9a-f]*\] Power Management version 3"
expect_re "$tmp"/out "${tab}Capabilities: \[[0-9a-f]*\] Express (v2) Endpoint, MSI 00"
expect_re "$tmp"/out "${tab}Capabilities: \[[0-9a-f]*\] MSI-X: Enable- Count=4 Masked-"
expect_line "$tmp"/out '\t\tVector table: BAR=0 offset=00000800'
expect_line "$tmp"/out '\t\tPBA: BAR=0 offset=00000c00'
expect_re "$tmp"/out "${tab}Capabilities: \[1[0-9a-f]* v1\] Device Serial Number 00-d3-a0-d3-a0-d3-a0-01"
expect_re "$tmp"/out "${tab}${tab}Protocol: 0\.[0-9]*"
expect_line "$tmp"/out '\t\tDevice: PCI+ RESET+, 9 regions, 5 irq indexes'
expect_line "$tmp"/out '\t\tRegion 2 (BAR2): size 0x100000 [1M], flags READ WRITE MMAP'
expect_re "$tmp"/out "${tab}${tab}${tab}Sparse mmap area: offset 0x[0-9a-f]*, size 0x[0-9a-f]* \[.*\]"
expect_line "$tmp"/out '\t\tIRQ index 2 (MSI-X): count 4, flags EVENTFD NORESIZE'
expect_line "$tmp"/out '00: 34 12 a0 d3 00 00 10 00 00 00 80 08 00 00 00 00'
grep -q '^40:' "$tmp"/out && fail "-x dumped more than 64 bytes"
grep -q 'Warning' "$tmp"/out && fail "unexpected warning"
[ -s "$tmp"/err ] && fail "unexpected stderr"
# The short form names the capabilities without decoding them.
run_ok "$tmp"/dma.sock
expect_re "$tmp"/out "${tab}Capabilities: \[[0-9a-f]*\] MSI-X: Enable- Count=4 Masked-"
grep -q 'Vector table' "$tmp"/out && fail "short form decodes MSI-X"
run_ok -xxxx "$tmp"/dma.sock
expect_re "$tmp"/out 'ff0: .*'

# ---- nobody there ----------------------------------------------------
run_fail "$tmp"/none.sock
grep -qxF "uvfio-lspci: no such socket: $tmp/none.sock" "$tmp"/err ||
	fail "wrong message for a missing socket"

# A socket file whose server died without removing it.
"$gpio" --socket "$tmp"/stale.sock & stale=$!
wait_listen "$tmp"/stale.sock $stale
kill -KILL $stale
wait $stale 2>/dev/null || true
stale=
[ -S "$tmp"/stale.sock ] || fail "stale socket vanished"
run_fail "$tmp"/stale.sock
grep -qxF "uvfio-lspci: nothing is listening on $tmp/stale.sock" "$tmp"/err ||
	fail "wrong message for a socket nobody listens on"

: >"$tmp"/plain
run_fail "$tmp"/plain
grep -qxF "uvfio-lspci: $tmp/plain is not a socket" "$tmp"/err ||
	fail "wrong message for a plain file"

# ---- a hostile server --------------------------------------------------
if ! python3 -c 'import socket, struct' 2>/dev/null; then
	echo "python3 not available: hostile server checks skipped"
	fake badreply
run_fail "$s"
[ "$(wc -l <"$tmp"/err)" = 2 ] || fail "library errors not on one line"
expect_re "$tmp"/err "uvfio-lspci: $s: .*DEVICE_GET_INFO.*"
grep -qxF "uvfio-lspci: $s: protocol error" "$tmp"/err ||
	fail "no protocol error line"

fake hangup
run_fail "$s"
expect_re "$tmp"/err "uvfio-lspci: $s: connection lost during DEVICE_GET_INFO: .*"

echo "lspci: ok"
	exit 0
fi

cat >"$tmp"/fake.py <<'EOF'
# A vfio-user server that negotiates properly and then lies in config
# space, answers VERSION with a version nobody speaks, sends a malformed
# reply, or hangs up in the middle of a request.
import socket, struct, sys, os

path, mode, ready = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = bytearray(4096)
struct.pack_into('<HHHH', cfg, 0, 0x1af4, 0x1234, 0, 0x10)  # Cap+
cfg[0x0b] = 0x02  # network controller
cfg[0x34] = 0x40
if mode == 'loops':
    # 0x40 -> 0x50 -> 0x40, and 0x100 -> 0x200 -> 0x100
    cfg[0x40:0x42] = bytes([0x01, 0x50])
    cfg[0x50:0x53] = bytes([0x09, 0x40, 0x08])
    struct.pack_into('<I', cfg, 0x100, 0x0003 | 1 << 16 | 0x200 << 20)
    struct.pack_into('<I', cfg, 0x200, 0x0001 | 1 << 16 | 0x100 << 20)
elif mode == 'badptr':
    # PM -> unknown -> MSI squeezed at the end -> pointer into the header;
    # extended chain leaving the extended space.
    cfg[0x40:0x42] = bytes([0x01, 0x60])
    cfg[0x60:0x62] = bytes([0x77, 0xf8])
    cfg[0xf8:0xfc] = bytes([0x05, 0x10, 0x80, 0x01])
    struct.pack_into('<I', cfg, 0x100, 0x0001 | 1 << 16 | 0x80 << 20)
elif mode == 'endless':
    # 63 distinct standard capabilities cannot fit; 48 do, then loop.
    for i in range(48):
        off = 0x40 + 4 * i
        nxt = off + 4 if i < 47 else 0x40
        cfg[off:off + 2] = bytes([0x09, nxt])
        cfg[off + 2] = 4

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
open(ready, 'w').close()
c, _ = s.accept()

def recv(n):
    b = b''
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            sys.exit(0)
        b += x
    return b

def reply(mid, cmd, payload):
    c.sendall(struct.pack('<HHIII', mid, cmd, 16 + len(payload), 1, 0) + payload)

while True:
    mid, cmd, size, flags, err = struct.unpack('<HHIII', recv(16))
    p = recv(size - 16)
    if cmd == 1:
        reply(mid, 1, struct.pack('<HH', 9 if mode == 'badversion' else 0, 0))
    elif cmd == 4 and mode == 'badreply':
        reply(mid, 4, struct.pack('<II', 16, 3))
    elif cmd == 4 and mode == 'hangup':
        sys.exit(0)
    elif cmd == 4:
        reply(mid, 4, struct.pack('<IIII', 16, 3, 10, 5))
    elif cmd == 5:
        argsz, _, idx = struct.unpack_from('<III', p)
        if idx == 9:
            # a device-specific region named by a TYPE capability
            if argsz < 48:
                reply(mid, 5, struct.pack('<IIIIQQ', 48, 1, 9, 0, 4096, 0))
            else:
                reply(mid, 5, struct.pack('<IIIIQQHHIII', 48, 1 | 8, 9, 32,
                                          4096, 0, 2, 1, 0, 3, 1))
            continue
        size = {0: 4096, 7: 4096}.get(idx, 0)
        reply(mid, 5, struct.pack('<IIIIQQ', 32, 3 if size else 0, idx, 0,
                                  size, 0))
    elif cmd == 7:
        _, _, idx, _ = struct.unpack_from('<IIII', p)
        reply(mid, 7, struct.pack('<IIII', 16, 1, idx, 1))
    elif cmd == 9:
        off, region, count = struct.unpack_from('<QII', p)
        reply(mid, 9, struct.pack('<QII', off, region, count) +
              bytes(cfg[off:off + count]))
    else:
        c.sendall(struct.pack('<HHIII', mid, cmd, 16, 0x21, 95))
EOF

# fake MODE: start the fake server on a fresh socket, set $s.
n=0
fake() {
	n=$((n + 1))
	s=$tmp/fake$n.sock
	python3 "$tmp"/fake.py "$s" "$1" "$tmp"/ready$n & pids="$pids $!"
	wait_for "$tmp"/ready$n
}

fake loops
run_ok -v "$s"
expect_line "$tmp"/out '\tCapabilities: [40] Power Management version 0'
expect_line "$tmp"/out '\tCapabilities: [50] Vendor Specific Information: Len=08'
expect_line "$tmp"/out '\tWarning: capability chain loops back to [40]; stopping'
expect_line "$tmp"/out '\tCapabilities: [100 v1] Device Serial Number 00-00-00-00-00-00-00-00'
expect_line "$tmp"/out '\tCapabilities: [200 v1] Advanced Error Reporting'
expect_line "$tmp"/out '\tWarning: extended capability chain loops back to [100]; stopping'
expect_line "$tmp"/out '\t\tRegion 9 (region 9, type 0x3 subtype 0x1): size 0x1000 [4K], flags READ'

fake badptr
run_ok -v "$s"
expect_line "$tmp"/out '\tCapabilities: [60] Unknown id 77'
expect_line "$tmp"/out '\tCapabilities: [f8] MSI: Enable- Count=1/1 Maskable+ 64bit+'
expect_re "$tmp"/out "${tab}${tab}<truncated: .*>"
expect_line "$tmp"/out '\tWarning: capability pointer 0x10 is outside 0x40..0xff; chain broken'
expect_line "$tmp"/out '\tWarning: extended capability pointer 0x080 is outside 0x100..0xfff; chain broken'

fake endless
run_ok -v "$s"
[ "$(grep -c 'Vendor Specific' "$tmp"/out)" = 48 ] || fail "not 48 capabilities"
expect_line "$tmp"/out '\tWarning: capability chain loops back to [40]; stopping'

fake badversion
run_fail "$s"
expect_re "$tmp"/err "uvfio-lspci: $s: .*protocol version 9\.0.*"
grep -qxF "uvfio-lspci: $s: protocol error" "$tmp"/err ||
	fail "no protocol error line"

fake badreply
run_fail "$s"
[ "$(wc -l <"$tmp"/err)" = 2 ] || fail "library errors not on one line"
expect_re "$tmp"/err "uvfio-lspci: $s: .*DEVICE_GET_INFO.*"
grep -qxF "uvfio-lspci: $s: protocol error" "$tmp"/err ||
	fail "no protocol error line"

fake hangup
run_fail "$s"
expect_re "$tmp"/err "uvfio-lspci: $s: connection lost during DEVICE_GET_INFO: .*"

echo "lspci: ok"
