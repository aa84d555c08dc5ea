# Sourced by the test scripts and scripts/demo.sh (POSIX sh).
#
# wait_connect PATH [PID]: until a server accepts connections on the UNIX
# socket PATH (connect() succeeds, or finds its backlog full: someone
# listens), for at most 10 s, or WAIT_CONNECT_SECONDS; non-zero status and a
# line on stderr otherwise, at once if process PID is gone.  A file at PATH
# is not enough: it may be a stale socket, or (a server that binds before
# it listens) one nobody accepts on yet.  The probe's connection is closed
# at once, so the server sees a client come and go.
wait_connect() {
	python3 - "$1" "${2:-0}" "${WAIT_CONNECT_SECONDS:-10}" <<'EOF'
import socket, sys, time

path, pid, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])


def gone(pid):
    # A child the shell has not reaped yet is a zombie: gone too.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


end = time.monotonic() + limit
while True:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        sys.exit(0)
    except BlockingIOError:
        sys.exit(0)
    except OSError as e:
        why = e.strerror
    finally:
        s.close()
    if pid and gone(pid):
        sys.exit('wait_connect: the process %d meant to listen on %s '
                 'exited' % (pid, path))
    if time.monotonic() >= end:
        sys.exit('wait_connect: nobody accepts connections on %s after '
                 '%g s (%s)' % (path, limit, why))
    time.sleep(0.01)
EOF
}
