#!/bin/sh
# uvfio-migrate between two uvfio-dmadev processes (stop-copy, then back
# with pre-copy), towards a device without migration (uvfio-skeleton), and
# its usage and connection errors.
# usage: check-migrate.sh MIGRATE DMADEV SKELETON
set -e
migrate=$1
dmadev=$2
skeleton=$3
tmp=$(mktemp -d)
pids=
. "$(dirname "$0")"/wait-connect.sh

cleanup() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $pids; do
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

expect_line() {
	grep -qxF -- "$2" "$1" || fail "missing line in $1: $2"
}

expect_re() {
	grep -qx -- "$2" "$1" || fail "no line in $1 matches: $2"
}

# run EXPECTED_STATUS ARGS...
run() {
	want=$1
	shift
	set +e
	"$migrate" "$@" >"$tmp"/out 2>"$tmp"/err
	got=$?
	set -e
	[ "$got" = "$want" ] || fail "uvfio-migrate $* exited $got, not $want"
}

# ---- usage -------------------------------------------------------------
run 0 --help
for o in --from --to --precopy --iterations --threshold --chunk \
	--resume-source -v; do
	grep -q -- "$o" "$tmp"/out || fail "--help does not mention $o"
done
run 2
run 2 --from "$tmp"/a.sock
run 2 --from "$tmp"/a.sock --to "$tmp"/a.sock
run 2 --from "$tmp"/a.sock --to "$tmp"/b.sock --iterations 3
run 2 --from "$tmp"/a.sock --to "$tmp"/b.sock --precopy --iterations 0
run 2 --from "$tmp"/a.sock --to "$tmp"/b.sock --chunk 12Q

# ---- nobody there --------------------------------------------------------
run 1 --from "$tmp"/none.sock --to "$tmp"/b.sock
expect_line "$tmp"/err "uvfio-migrate: no such socket: $tmp/none.sock"
[ "$(wc -l <"$tmp"/err)" = 1 ] || fail "more than one error line"

# ---- servers -------------------------------------------------------------
"$dmadev" --socket "$tmp"/a.sock 2>"$tmp"/a.log & a=$!
"$dmadev" --socket "$tmp"/b.sock 2>"$tmp"/b.log & b=$!
"$skeleton" --socket-path="$tmp"/s.sock & s=$!
pids="$pids $a $b $s"
wait_listen "$tmp"/a.sock $a
wait_listen "$tmp"/b.sock $b
wait_listen "$tmp"/s.sock $s

# Towards a device that cannot migrate: refused before anything changes.
run 1 --from "$tmp"/s.sock --to "$tmp"/a.sock
expect_line "$tmp"/err "uvfio-migrate: server at $tmp/s.sock does not support migration (DEVICE_FEATURE MIGRATION: Operation not supported)"

run 1 --from "$tmp"/a.sock --to "$tmp"/s.sock
expect_line "$tmp"/err "uvfio-migrate: server at $tmp/s.sock does not support migration (DEVICE_FEATURE MIGRATION: Operation not supported)"

# Stop-copy a -> b: the 1 MiB memory BAR at least moves.
run 0 --from "$tmp"/a.sock --to "$tmp"/b.sock
expect_line "$tmp"/out "migrated $tmp/a.sock -> $tmp/b.sock (stop-copy)"
expect_re "$tmp"/out 'bytes moved: [0-9]* (pre-copy 0, stop-copy [0-9]*)'
n=$(sed -n 's/^bytes moved: \([0-9]*\) .*/\1/p' "$tmp"/out)
[ "$n" -ge 1048576 ] || fail "only $n bytes moved"
expect_line "$tmp"/out 'pre-copy passes: 0'
expect_re "$tmp"/out 'downtime: [0-9]*\.[0-9][0-9][0-9] ms'
expect_re "$tmp"/out 'total time: [0-9]*\.[0-9][0-9][0-9] ms'
expect_re "$tmp"/out 'throughput: [0-9]*\.[0-9] MiB/s'
expect_line "$tmp"/out 'source: STOP'
expect_line "$tmp"/out 'destination: RUNNING'
[ -s "$tmp"/err ] && fail "unexpected stderr"

# Back with pre-copy, the source resumed afterwards; -v narrates on stderr.
run 0 --from "$tmp"/b.sock --to "$tmp"/a.sock --precopy --iterations 3 \
	--chunk 64K --resume-source -v
expect_line "$tmp"/out "migrated $tmp/b.sock -> $tmp/a.sock (pre-copy)"
expect_re "$tmp"/out 'pre-copy passes: [1-3]'
expect_re "$tmp"/out 'bytes moved: [0-9]* (pre-copy [1-9][0-9]*, stop-copy [0-9]*)'
expect_line "$tmp"/out 'source: RUNNING (resumed)'
expect_re "$tmp"/err "uvfio-migrate: source $tmp/b.sock: migration flags STOP_COPY.*, state RUNNING"
expect_re "$tmp"/err "uvfio-migrate: destination $tmp/a.sock: migration flags STOP_COPY.*, state STOP"

# Both run again: a third migration works (b was resumed, a runs).
run 0 --from "$tmp"/a.sock --to "$tmp"/b.sock --resume-source
expect_line "$tmp"/out 'source: RUNNING (resumed)'

echo "migrate: ok"
