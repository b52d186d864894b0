#!/usr/bin/env python3
"""What crossed the loopback interface: UDP datagrams to or from the given
port ranges, captured with a packet socket (needs CAP_NET_RAW, as dumpcap
would) until SIGTERM or SIGINT, then summed up per flow in a JSON file.

  wire.py OUT.json FIRST-LAST [FIRST-LAST ...]

Each flow ("SRC_PORT>DST_PORT") gets its packet count, its datagram sizes,
and for the datagrams that read as RTP (version 2) their payload types and
payload sizes (what follows the 12-byte header and any CSRCs and
extension). The CI step decides from these what was plain RTP and what
carried an SRTP authentication tag.
"""
import json
import signal
import socket
import struct
import sys
from collections import Counter, defaultdict

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def ranges(args):
    out = []
    for a in args:
        lo, _, hi = a.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out


def wanted(port, rs):
    return any(lo <= port <= hi for lo, hi in rs)


def rtp_payload_len(data):
    """The payload size of an RTP packet (RFC 3550 §5.1), or None."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    off = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < off + 4:
            return None
        off += 4 + 4 * struct.unpack("!H", data[off + 2 : off + 4])[0]
    return len(data) - off if len(data) >= off else None


def main():
    out, rs = sys.argv[1], ranges(sys.argv[2:])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    flows = defaultdict(lambda: {"packets": 0, "sizes": Counter(), "rtp_pt": Counter(), "rtp_payload": Counter()})
    # Ready: the caller waits for this line before placing calls.
    print("capturing", flush=True)
    while not stop:
        try:
            frame, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        # On lo every datagram is seen going out and coming in: count it once.
        if addr[2] == PACKET_OUTGOING or len(frame) < 14 + 20 + 8:
            continue
        ip = frame[14:]
        if ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = 4 * (ip[0] & 0x0F)
        sport, dport, ulen = struct.unpack("!HHH", ip[ihl : ihl + 6])
        if not (wanted(sport, rs) or wanted(dport, rs)):
            continue
        data = ip[ihl + 8 : ihl + ulen]
        f = flows[f"{sport}>{dport}"]
        f["packets"] += 1
        f["sizes"][len(data)] += 1
        plen = rtp_payload_len(data)
        if plen is not None:
            f["rtp_pt"][data[1] & 0x7F] += 1
            f["rtp_payload"][plen] += 1
    with open(out, "w") as fh:
        json.dump({k: {kk: (dict(vv) if isinstance(vv, Counter) else vv) for kk, vv in v.items()} for k, v in flows.items()}, fh)


if __name__ == "__main__":
    main()
