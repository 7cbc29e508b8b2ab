#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, from the recorded conversations of
QEMU and libvfio-user in tests/interop/data/*.jsonl.

    fuzz/seeds.py OUTDIR

writes OUTDIR/dispatch (the client's messages of each recording, and of
each prefix of it, as fuzz_dispatch reads them), OUTDIR/client (the
device's messages), OUTDIR/negotiate (every VERSION payload) and
OUTDIR/pci (config space the devices answered)."""
import glob
import json
import os
import struct
import sys

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1]
MAX = 65536
# fuzz_dispatch: a memfd with each DMA_MAP, one eventfd with each SET_IRQS.
CTL = 0x02 | 0x04


def write(kind, name, data):
    d = os.path.join(out, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def message(m):
    payload = bytes.fromhex(m.get("payload_hex", ""))
    hdr = struct.pack("<HHIII", m["msg_id"] & 0xffff, m["command"],
                      16 + len(payload), m["flags"], m.get("error", 0))
    return hdr + payload


n = 0
for path in sorted(glob.glob(os.path.join(top, "tests/interop/data/*.jsonl"))):
    base = os.path.basename(path)[:-6]
    msgs = [json.loads(line) for line in open(path) if line.strip()]
    stream = b""
    count = 0
    # fuzz_client: the device's messages, ids and commands fitted to the
    # client's requests (control bits 0 and 1).
    s2c = b"".join(message(m) for m in msgs
                   if m.get("dir") == "s2c" and not m.get("payload_truncated"))
    if s2c:
        write("client", base, bytes([0x01 | 0x02]) + s2c[:MAX])
    for i, m in enumerate(msgs):
        if m.get("command") == 1 and m.get("payload_hex"):
            write("negotiate", f"{base}-{i}", bytes.fromhex(m["payload_hex"]))
        if (m.get("dir") == "s2c" and m.get("command") == 9 and
                len(m.get("payload_hex", "")) >= 2 * (16 + 64)):
            data = bytes.fromhex(m["payload_hex"])
            off, region = struct.unpack_from("<QI", data)
            if region == 7 and off == 0:
                write("pci", f"{base}-{i}", data[16:] * 2)
        if m.get("dir") != "c2s" or m.get("payload_truncated"):
            continue
        msg = message(m)
        if len(stream) + len(msg) > MAX:
            break
        stream += msg
        count += 1
        # Prefixes of 1, 2, 4, 8... messages, each ending elsewhere.
        if count & (count - 1) == 0 or i == len(msgs) - 1:
            write("dispatch", f"{base}-{count:04d}", bytes([CTL]) + stream)
            n += 1
print(f"seeds: {n} dispatch streams written to {out}")
