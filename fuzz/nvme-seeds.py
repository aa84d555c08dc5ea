#!/usr/bin/env python3
# Writes fuzz/corpus/nvme/: inputs of fuzz_nvme.c's format (see its top
# comment and run_op) that a host driver would send, so the fuzzer starts
# past enable and queue creation.  Run again after changing the format:
#   python3 fuzz/nvme-seeds.py fuzz/corpus/nvme
import os, struct, sys

def fd(page, off=0):   # an address in the fd-backed window
    return bytes([page & 31]) + struct.pack('<H', 0x8000 | off if off else 0)
def msg(page, off=0):  # an address in the message-only window
    return bytes([0x40 | (page & 15)]) + struct.pack('<H', 0x8000 | off if off else 0)
def raw(a):            # any address
    return bytes([0xc0, 0, 0]) + struct.pack('<Q', a)

def enable(w, asq_entries=16, acq_entries=16):
    return bytes([5, (asq_entries - 1) | (acq_entries - 1) << 4]) + w(0) + w(1)

def cmd(q, opc, prp1, cdws=(), nsid=None, prp2=None, psdt=None, ring=True):
    how = (1 if nsid is not None else 0) | (2 if prp2 is not None else 0)
    how |= min(len(cdws), 6) << 2
    how |= 0x40 if psdt is not None else 0
    how |= 0 if ring else 0x80
    b = bytes([2, q, how, opc])
    if psdt is not None:
        b += bytes([psdt])
    if nsid is not None:
        b += struct.pack('<I', nsid)
    b += prp1
    if prp2 is not None:
        b += prp2
    return b + b''.join(struct.pack('<I', d) for d in cdws)

def ioq(w, qid=1, size=16, sqpage=2, cqpage=3):
    return (cmd(0, 0x05, w(cqpage), [qid | (size - 1) << 16, 1 | 2 | qid << 16]) +
            cmd(0, 0x01, w(sqpage), [qid | (size - 1) << 16, 1 | qid << 16]))

def prplist(at, entries):
    return bytes([3]) + at + bytes([len(entries) - 1]) + b''.join(entries)

def answer(k, fail=False, auto=True):
    return bytes([6, (0x80 if auto else 0) | (0x40 if fail else 0) | k])

def cq_heads():
    return bytes([8])

RW = lambda q, opc, w, page, slba, nlb, prp2=None: cmd(
    q, opc, w(page), [slba, 0, nlb - 1], nsid=1, prp2=prp2)

seeds = {}
for name, w in (('fd', fd), ('msg', msg)):
    seeds['identify-' + name] = (b'\x0e' + enable(w) +
        cmd(0, 0x06, w(9), [1]) + cmd(0, 0x06, w(10), [0], nsid=1) +
        cmd(0, 0x06, w(11), [2]) + cmd(0, 0x06, w(12), [3], nsid=1) +
        cmd(0, 0x02, w(13), [0x01 | 127 << 16]) + cmd(0, 0x02, w(13), [0x02 | 127 << 16]) +
        cmd(0, 0x02, w(13), [0x03 | 127 << 16]) + cq_heads())
    seeds['rw-' + name] = (b'\x0e' + enable(w) + ioq(w) +
        bytes([4]) + w(4) + bytes([64]) + bytes(range(64)) +
        RW(1, 0x01, w, 4, 0, 8) + RW(1, 0x02, w, 5, 0, 8) +
        RW(1, 0x02, w, 5, 2047, 1) + RW(1, 0x02, w, 5, 2047, 2) +
        cmd(1, 0x00, w(0), [], nsid=1) + cmd(1, 0x00, w(0), [], nsid=0xffffffff) +
        cq_heads())
    # 16 KiB from mid-page 4 through a PRP list at page 8
    seeds['prplist-' + name] = (b'\x0e' + enable(w) + ioq(w) +
        prplist(w(8), [w(5), w(6), w(7), w(14)]) +
        cmd(1, 0x01, w(4, 0x200), [8, 0, 31], nsid=1, prp2=w(8)) +
        cmd(1, 0x02, w(4, 0x200), [8, 0, 31], nsid=1, prp2=w(8)) +
        cmd(1, 0x02, w(4), [0, 0, 15], nsid=1, prp2=w(5)) +
        cmd(1, 0x02, w(4, 4), [0, 0, 31], nsid=1, prp2=w(8, 8)) + cq_heads())
    seeds['admin-' + name] = (b'\x06' + enable(w, 4, 4) + ioq(w, 1, 4) + ioq(w, 2, 8, 15, 16) +
        cmd(0, 0x09, w(0), [0x07, 0x00030003]) + cmd(0, 0x0a, w(0), [0x07]) +
        cmd(0, 0x09, w(0), [0x06, 0]) + cmd(0, 0x0a, w(0), [0x06]) +
        cmd(0, 0x09, w(0), [0x08, 0x0a01]) + cmd(0, 0x09, w(0), [0x0b, 0x1ff]) +
        cmd(0, 0x0c, w(0)) + cmd(0, 0x18, w(0)) + cmd(0, 0x08, w(0), [1]) +
        cq_heads() +
        cmd(2, 0x08, w(0), [0, 0, 7], nsid=1) +
        bytes([4]) + w(17) + bytes([16]) + struct.pack('<IIQ', 0, 8, 16) +
        cmd(2, 0x09, w(17), [0, 4], nsid=1) +
        cmd(0, 0x04, w(0), [1]) + cmd(0, 0x00, w(0), [1]) + cmd(0, 0x04, w(0), [1]) +
        cmd(0, 0x00, w(0), [2]) + cmd(0, 0x04, w(0), [2]) + cq_heads() +
        bytes([0, 0x00]) + struct.pack('<Q', 0x4000) + bytes([0, 0x00]) + struct.pack('<Q', 0))
seeds['invalid'] = (b'\x0e' + enable(fd) + ioq(fd) +
    cmd(0, 0x7f, fd(0)) + cmd(0, 0xc0, fd(0)) + cmd(1, 0x55, fd(0), nsid=1) +
    RW(1, 0x02, fd, 4, 4000, 1) + cmd(1, 0x02, fd(4), [0, 0, 0], nsid=2) +
    cmd(1, 0x02, fd(4, 2), [0, 0, 0], nsid=1) +
    cmd(1, 0x02, fd(4), [0, 0, 0], nsid=1, psdt=0x40) +
    cmd(1, 0x02, raw(0xdead0000), [0, 0, 0], nsid=1) +
    cmd(1, 0x02, fd(4), [0, 0, 16], nsid=1, prp2=raw(0x7000000)) +
    cmd(0, 0x05, fd(3), [1 | 15 << 16, 3]) + cmd(0, 0x05, fd(3), [9 | 15 << 16, 3]) +
    cmd(0, 0x01, fd(2), [3 | 15 << 16, 1 | 7 << 16]) + cmd(0, 0x04, fd(0), [1]) +
    cmd(0, 0x06, fd(9), [0x55]) + cmd(0, 0x02, fd(9), [0x77 | 127 << 16]) +
    cmd(0, 0x0a, fd(0), [0x99]) + b''.join(cmd(0, 0x0c, fd(0)) for _ in range(6)) +
    cq_heads())
seeds['readonly'] = (b'\x03' + enable(fd) + ioq(fd) +
    RW(1, 0x01, fd, 4, 0, 1) + cmd(1, 0x08, fd(0), [0, 0, 0], nsid=1) +
    RW(1, 0x02, fd, 4, 0, 1) + cq_heads())
# jobs held by unanswered DMA, then a reset, a CC.EN = 0, shutdown
seeds['reset-jobs'] = (b'\x0e' + enable(msg) + ioq(msg) + answer(0, auto=False) +
    RW(1, 0x01, msg, 4, 0, 8) + answer(2, auto=False) + bytes([7]) + answer(63) +
    enable(msg) + ioq(msg) + answer(0, auto=False) + RW(1, 0x02, msg, 4, 0, 64) +
    answer(3, fail=True, auto=False) + bytes([0, 0]) + struct.pack('<Q', 1 | 1 << 14) +
    answer(63) + bytes([0, 0]) + struct.pack('<Q', 0) + bytes([9, 0x1c, 0]))
# a full CQ: 8 commands on a 4-entry CQ, then heads move
seeds['cq-full'] = (b'\x0e' + enable(fd, 8, 4) + ioq(fd, 1, 4) +
    b''.join(cmd(1, 0x00, fd(0), [], nsid=1) for _ in range(8)) + cq_heads() +
    cq_heads() + bytes([1, 0x83, 1, 0]) + cq_heads())
# the queues cut by the fd window's end
seeds['edge'] = (b'\x0e' + bytes([5, 0xff]) + bytes([0x80, 0x40, 0]) + bytes([0x80, 0x10, 0]) +
    cmd(0, 0x06, bytes([0x80, 0x00, 0x80]), [1]) + cq_heads())
# Doorbell Buffer Config (shadow page 6, EventIdx page 7), I/O through the
# shadow doorbells with turns of the loop (10, then 1: EventIdx armed),
# bad buffers, then a reset; with --doorbells mmap (config bit 4) stores
# to the doorbell page (11) as well.
def tick(arm=True):
    return bytes([10, 1 if arm else 0])
def page_store(idx, v):
    return bytes([11, idx]) + struct.pack('<H', v)
dbbuf = cmd(0, 0x7c, fd(6), [], prp2=fd(7))
seeds['dbbuf-fd'] = (b'\x0e' + enable(fd) + ioq(fd) + ioq(fd, 2, 8, 10, 11) + dbbuf +
    RW(1, 0x01, fd, 4, 0, 8) + tick() + RW(2, 0x02, fd, 5, 0, 8) + tick() +
    cq_heads() + tick(False) + cmd(0, 0x7c, fd(6, 4), [], prp2=fd(7)) +
    cmd(0, 0x7c, fd(6), [], prp2=fd(6)) + cmd(0, 0x7c, msg(6), [], prp2=msg(7)) +
    bytes([7]) + enable(fd) + ioq(fd) + RW(1, 0x02, fd, 5, 0, 8) + tick())
seeds['dbbuf-mmap'] = (b'\x1e' + enable(fd) + tick() + ioq(fd) +
    cmd(1, 0x00, fd(0), [], nsid=1, ring=False) + page_store(2, 1) + tick() +
    page_store(3, 1) + tick() + dbbuf +
    cmd(1, 0x00, fd(0), [], nsid=1, ring=False) + page_store(2, 2) + tick() +
    bytes([0, 0]) + struct.pack('<Q', 0) + page_store(0, 5) + enable(fd) + tick())

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for k, v in seeds.items():
    with open(os.path.join(out, k), 'wb') as f:
        f.write(v)
