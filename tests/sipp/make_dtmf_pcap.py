#!/usr/bin/env python3
"""Write a pcap of one RFC 4733 telephone-event key press, for sipp's
play_pcap_audio, in the same shape as Debian's /usr/share/sip-tester
captures: PT 101, marker on the first packet, one RTP timestamp for the
whole event, an update every 20 ms with the duration growing, then the end
packet three times with the same sequence number.

Used by .ci/run when the sip-tester package has no capture for a key.

usage: make_dtmf_pcap.py KEY OUT.pcap [--pt 101] [--updates 7]
"""

import argparse
import struct

EVENTS = {str(d): d for d in range(10)}
EVENTS.update({"*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15})


def ip_checksum(hdr: bytes) -> int:
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) | hdr[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(payload: bytes, sport: int = 49176, dport: int = 10000) -> bytes:
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    src = bytes([127, 0, 0, 1])
    dst = bytes([127, 0, 0, 1])
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack(">H", ip_checksum(ip)) + ip[12:]
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip + udp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("key")
    ap.add_argument("out")
    ap.add_argument("--pt", type=int, default=101)
    ap.add_argument("--updates", type=int, default=7)
    a = ap.parse_args()
    event = EVENTS[a.key]
    ssrc, seq, ts = 0x0E05384E, 8100, 40000
    packets = []
    t = 0.0
    for i in range(a.updates):
        marker = 0x80 if i == 0 else 0
        rtp = struct.pack(">BBHII", 0x80, marker | a.pt, seq, ts, ssrc)
        rtp += struct.pack(">BBH", event, 10, 160 * (i + 1))
        packets.append((t, rtp))
        seq += 1
        t += 0.020
    end_dur = 160 * (a.updates + 1)
    for _ in range(3):
        rtp = struct.pack(">BBHII", 0x80, a.pt, seq, ts, ssrc)
        rtp += struct.pack(">BBH", event, 0x80 | 10, end_dur)
        packets.append((t, rtp))
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        base = 1700000000
        for when, rtp in packets:
            fr = frame(rtp)
            sec = base + int(when)
            usec = int(round((when - int(when)) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)


if __name__ == "__main__":
    main()
