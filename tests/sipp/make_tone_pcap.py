#!/usr/bin/env python3
"""Write a pcap of PCMU audio (RTP payload type 0, 20 ms packets) in which
one DTMF key is pressed as a tone, for sipp's play_pcap_audio: silence,
the key's two frequencies (ITU-T Q.23) for the tone length, silence again.
The caller's offer then needs no telephone-event: the key is only in the
audio, for smileyd's in-band detector.

usage: make_tone_pcap.py KEY OUT.pcap [--tone-ms 200] [--lead-ms 400]
                                      [--tail-ms 600] [--level-dbm0 -10]
"""

import argparse
import math
import struct

from make_dtmf_pcap import frame

# ITU-T Q.23: the row (low) and column (high) frequency of each key.
ROWS = (697, 770, 852, 941)
COLS = (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")

# 0 dBm0 as a 16-bit linear sine's peak for G.711 (ITU-T G.711: the
# digital milliwatt is 3.17 dBm0 with a peak of 8159 at 14-bit scale,
# i.e. 32636 at 16-bit).
PEAK_3_17_DBM0 = 32636


def frequencies(key):
    for r, row in enumerate(KEYS):
        if key in row:
            return ROWS[r], COLS[row.index(key)]
    raise SystemExit(f"not a DTMF key: {key}")


def ulaw(sample):
    """ITU-T G.711 mu-law of one 16-bit linear sample."""
    sample = max(-32768, min(32767, int(sample)))
    sign = 0
    if sample < 0:
        sample = -sample
        sign = 0x80
    sample = min(sample, 32635) + 0x84
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("key")
    ap.add_argument("out")
    ap.add_argument("--tone-ms", type=int, default=200)
    ap.add_argument("--lead-ms", type=int, default=400)
    ap.add_argument("--tail-ms", type=int, default=600)
    ap.add_argument("--level-dbm0", type=float, default=-10.0)
    a = ap.parse_args()
    low, high = frequencies(a.key.upper())
    peak = PEAK_3_17_DBM0 * 10 ** ((a.level_dbm0 - 3.17) / 20)
    rate = 8000
    lead = rate * a.lead_ms // 1000
    tone = rate * a.tone_ms // 1000
    tail = rate * a.tail_ms // 1000
    samples = [0.0] * lead
    for n in range(tone):
        t = n / rate
        samples.append(
            peak * (math.sin(2 * math.pi * low * t) + math.sin(2 * math.pi * high * t))
        )
    samples += [0.0] * tail
    samples += [0.0] * (-len(samples) % 160)
    ssrc, seq, ts = 0x5EED0001, 1000, 160000
    packets = []
    for i in range(0, len(samples), 160):
        payload = bytes(ulaw(s) for s in samples[i : i + 160])
        marker = 0x80 if i == 0 else 0
        rtp = struct.pack(">BBHII", 0x80, marker | 0, seq, ts, ssrc) + payload
        packets.append((i / rate, rtp))
        seq += 1
        ts += 160
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
