# A vfio-user client that sends every command of the protocol (1-18) to
# uvfio-dmadev, for check-trace.sh to see each one decoded by uvfio-trace.
# It answers the device's DMA_READ/DMA_WRITE in the spec layout and checks
# what comes back, so a proxy that garbled anything makes it fail.
# usage: trace-client.py SOCKET
import os, socket, struct, sys

HDR = struct.Struct('<HHIII')
REPLY, NO_REPLY, ERROR = 0x1, 0x10, 0x20
ENOTSUP = 95
EINVAL = 22
MSG_IOVA, FD_IOVA, LEN = 0x20000000, 0x10000000, 0x100

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
guest = bytearray(0x1000)  # the message-only window at MSG_IOVA
dma_seen = []
next_id = 0


def exact(n):
    b = b''
    while len(b) < n:
        x = s.recv(n - len(b))
        if not x:
            sys.exit('connection closed')
        b += x
    return b


def recv():
    """One message: (header tuple, payload, fds)."""
    h, fds, _, _ = socket.recv_fds(s, HDR.size, 8)
    if len(h) < HDR.size:
        if not h:
            sys.exit('connection closed')
        h += exact(HDR.size - len(h))
    hdr = HDR.unpack(h)
    return hdr, exact(hdr[2] - HDR.size), fds


def send(cmd, payload=b'', flags=0, fds=(), mid=None):
    global next_id
    if mid is None:
        next_id += 1
        mid = next_id
    msg = HDR.pack(mid, cmd, HDR.size + len(payload), flags, 0) + payload
    if fds:
        socket.send_fds(s, [msg], list(fds))
    else:
        s.sendall(msg)
    return mid


def serve_dma(hdr, body):
    """Answer a server-to-client DMA_READ (11) / DMA_WRITE (12)."""
    mid, cmd = hdr[0], hdr[1]
    addr, count = struct.unpack_from('<QQ', body)
    off = addr - MSG_IOVA
    assert 0 <= off and off + count <= len(guest), (hex(addr), count)
    dma_seen.append(cmd)
    if cmd == 11:
        out = struct.pack('<QQ', addr, count) + bytes(guest[off:off + count])
    else:
        assert len(body) == 16 + count, (len(body), count)
        guest[off:off + count] = body[16:]
        out = struct.pack('<QQ', addr, count)
    s.sendall(HDR.pack(mid, cmd, HDR.size + len(out), REPLY, 0) + out)


def call(cmd, payload=b'', fds=(), err=0):
    """Send a command and wait for its reply, serving DMA meanwhile."""
    mid = send(cmd, payload, fds=fds)
    while True:
        hdr, body, rfds = recv()
        if not hdr[3] & REPLY:
            serve_dma(hdr, body)
            continue
        assert hdr[:2] == (mid, cmd), (hdr, mid, cmd)
        if err:
            assert hdr[3] & ERROR and hdr[4] == err, (cmd, hdr)
        else:
            assert not hdr[3] & ERROR, (cmd, hdr)
        return body, rfds


def rw(region, off, data=None, flags=0):
    if data is None:
        return call(9, struct.pack('<QII', off, region, 4))[0][16:]
    p = struct.pack('<QII', off, region, len(data)) + data
    if flags & NO_REPLY:
        send(10, p, NO_REPLY)
    else:
        call(10, p)


def reg(off, v=None, flags=0):
    if v is None:
        return struct.unpack('<I', rw(0, off))[0]
    rw(0, off, struct.pack('<I', v), flags)


# VERSION (1): 0.2, twin socket offered (the proxy strips it)
js = b'{"capabilities":{"max_msg_fds":8,"twin_socket":{"supported":true}}}\0'
body, _ = call(1, struct.pack('<HH', 0, 2) + js)
assert b'"write_multiple":true' in body, body
# DMA_MAP (2): a window served with messages, then one backed by a memfd
call(2, struct.pack('<IIQQQ', 32, 3, 0, MSG_IOVA, 0x1000))
mfd = os.memfd_create('trace-guest')
os.ftruncate(mfd, 0x3000)
call(2, struct.pack('<IIQQQ', 32, 3, 0x1000, FD_IOVA, 0x2000), fds=[mfd])
os.close(mfd)
# DMA_UNMAP (3): exactly the fd window (ALL comes at the end)
body, _ = call(3, struct.pack('<IIQQ', 24, 0, FD_IOVA, 0x2000))
assert body == struct.pack('<IIQQ', 24, 0, FD_IOVA, 0x2000), body
# DEVICE_GET_INFO (4)
body, _ = call(4, struct.pack('<IIII', 16, 0, 0, 0))
assert struct.unpack('<IIII', body)[2:] == (9, 5), body
# DEVICE_GET_REGION_INFO (5): BAR2 with argsz 32, then the size it needs
body, fds = call(5, struct.pack('<IIIIQQ', 32, 0, 2, 0, 0, 0))
need = struct.unpack_from('<I', body)[0]
assert need > 32 and not fds, (need, fds)
body, fds = call(5, struct.pack('<IIIIQQ', need, 0, 2, 0, 0, 0))
assert len(body) == need and len(fds) == 1, (len(body), fds)
for fd in fds:
    os.close(fd)
# DEVICE_GET_REGION_IO_FDS (6): BAR0, argsz 16
body, _ = call(6, struct.pack('<IIII', 16, 0, 0, 0))
# DEVICE_GET_IRQ_INFO (7): MSI-X
body, _ = call(7, struct.pack('<IIII', 16, 0, 2, 0))
assert struct.unpack('<IIII', body)[2:] == (2, 4), body
# DEVICE_SET_IRQS (8): eventfds on MSI-X vectors 1-2, then disable all
efds = [os.eventfd(0), os.eventfd(0)]
call(8, struct.pack('<IIIII', 20, 0x04 | 0x20, 2, 1, 2), fds=efds)
call(8, struct.pack('<IIIII', 20, 0x01 | 0x20, 2, 0, 0))
for fd in efds:
    os.close(fd)
# REGION_WRITE (10) with a reply and with NO_REPLY, REGION_READ (9)
reg(0x10, 0)                      # DIR: the device reads guest memory
reg(0x0c, 7, NO_REPLY)            # COUNT, posted
assert reg(0x0c) == 7
# REGION_WRITE_MULTI (15), NO_REPLY: IOVA, LEN, COUNT
e = lambda off, v, n: struct.pack('<QII', off, 0, n) + v.to_bytes(8, 'little')
send(15, struct.pack('<Q', 3) + e(0x00, MSG_IOVA, 8) + e(0x08, LEN, 4) +
     e(0x0c, 1, 4), NO_REPLY)
assert rw(0, 0x00) == struct.pack('<I', MSG_IOVA) and reg(0x08) == LEN
assert reg(0x0c) == 1


def go():
    reg(0x14, 2)                  # GO in the background: message DMA
    for _ in range(1000):
        st = reg(0x18)            # each poll also serves the DMA
        if st != 115:
            break
    assert st == 0, st


# DMA_READ (11): the device copies the guest window into BAR2
guest[:LEN] = bytes(range(LEN))
go()
# DMA_WRITE (12): and back into the guest window, cleared first
guest[:LEN] = bytes(LEN)
reg(0x10, 1)
go()
assert guest[:LEN] == bytes(range(LEN)), guest[:LEN]
assert 11 in dma_seen and 12 in dma_seen, dma_seen
# DEVICE_FEATURE (16): MIGRATION GET, MIG_DEVICE_STATE SET|PROBE
# (uvfio-dmadev migrates: docs/migration.md)
call(16, struct.pack('<II', 16, 1 | 1 << 16))
call(16, struct.pack('<II', 8, 2 | 1 << 17 | 1 << 18))
# MIG_DATA_READ (17), MIG_DATA_WRITE (18): refused while RUNNING
call(17, struct.pack('<II', 8 + 64, 64), err=EINVAL)
call(18, struct.pack('<II', 16, 8) + bytes(range(8)), err=EINVAL)
# DIRTY_PAGES (14): legacy START
call(14, struct.pack('<II', 8, 1), err=ENOTSUP)
# DEVICE_RESET (13), then DMA_UNMAP ALL (3)
call(13)
assert reg(0x00) == 0
body, _ = call(3, struct.pack('<IIQQ', 24, 2, 0, 0))
print('trace-client: ok')
