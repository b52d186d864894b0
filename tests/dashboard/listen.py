#!/usr/bin/env python3
"""Calls smileyd and listens to the question it plays: how much of the
first seconds' energy is one tone. The dashboard test uploads a 1 kHz tone
as the survey question and then checks that the next call plays it.

  listen.py SIP_ADDR [--freq 1000] [--seconds 1.4] [--agent e2e-listen]

SIP over UDP (RFC 3261: INVITE, ACK, BYE) with an SDP offer of PCMU
(RFC 3264/4566); the RTP (RFC 3550) is decoded as G.711 mu-law. Prints one
JSON object: packets, seconds, tone_ratio (the tone's share of the energy,
0-1) and rms_dbfs. Loopback only; written from the RFCs, shares no code
with smileyd.
"""
import argparse
import cmath
import json
import math
import random
import socket
import struct
import sys
import time


def ulaw_to_linear(b):
    # ITU-T G.711 mu-law expansion.
    b = ~b & 0xFF
    sign = b & 0x80
    exponent = (b >> 4) & 0x07
    mantissa = b & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


def headers_of(msg):
    lines = msg.split("\r\n")
    out = {}
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), value.strip())
    return lines[0], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sip_addr")
    ap.add_argument("--freq", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=1.4)
    ap.add_argument("--agent", default="e2e-listen")
    args = ap.parse_args()
    host, port = args.sip_addr.rsplit(":", 1)
    target = (host, int(port))
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("listen.py: loopback only")

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    sip.settimeout(0.5)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in range(42000, 43000, 2):
        try:
            rtp.bind(("127.0.0.1", p))
            break
        except OSError:
            continue
    rtp.settimeout(0.2)
    lport = sip.getsockname()[1]
    rport = rtp.getsockname()[1]
    tag = "%08x" % random.getrandbits(32)
    call_id = "%016x@127.0.0.1" % random.getrandbits(64)
    branch = lambda: "z9hG4bK%012x" % random.getrandbits(48)
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rport} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    )
    uri = f"sip:smiley@{host}:{port}"
    from_h = f"<sip:listen@127.0.0.1>;tag={tag}"
    invite = (
        f"INVITE {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch()};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {from_h}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:listen@127.0.0.1:{lport}>\r\n"
        f"X-Agent-Id: {args.agent}\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    )
    sip.sendto(invite.encode(), target)
    deadline = time.time() + 10
    ok = None
    sent_at = time.time()
    while time.time() < deadline:
        try:
            data, _ = sip.recvfrom(65535)
        except socket.timeout:
            # RFC 3261 17.1.1.2: retransmit the INVITE until a response.
            if time.time() - sent_at > 0.5 and ok is None:
                sip.sendto(invite.encode(), target)
                sent_at = time.time()
            continue
        start, h = headers_of(data.decode(errors="replace"))
        code = int(start.split()[1]) if start.startswith("SIP/2.0") else 0
        if code >= 300:
            sys.exit(f"listen.py: INVITE answered {start}")
        if code == 200:
            ok = h
            break
    if ok is None:
        sys.exit("listen.py: no 200 OK")
    to_h = ok["to"]
    contact = ok.get("contact", f"<{uri}>").strip("<>").split(">")[0]
    ack = (
        f"ACK {contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch()};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: {from_h}\r\nTo: {to_h}\r\nCall-ID: {call_id}\r\n"
        "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
    sip.sendto(ack.encode(), target)

    samples = []
    packets = 0
    want = int(args.seconds * 8000)
    seq = random.getrandbits(16)
    ts = random.getrandbits(32)
    ssrc = random.getrandbits(32)
    remote_rtp = None
    deadline = time.time() + args.seconds + 8
    while len(samples) < want and time.time() < deadline:
        try:
            pkt, addr = rtp.recvfrom(2048)
        except socket.timeout:
            continue
        remote_rtp = addr
        if len(pkt) < 12 or (pkt[1] & 0x7F) != 0:
            continue
        cc = pkt[0] & 0x0F
        payload = pkt[12 + 4 * cc:]
        packets += 1
        samples.extend(ulaw_to_linear(b) for b in payload)
        # Silence back (mu-law 0xFF), so the call has media both ways.
        seq = (seq + 1) & 0xFFFF
        ts = (ts + 160) & 0xFFFFFFFF
        rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, ts, ssrc) + b"\xff" * 160, addr)
    # The 200 may still be retransmitted; answer with the ACK again, then hang up.
    bye = (
        f"BYE {contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch()};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: {from_h}\r\nTo: {to_h}\r\nCall-ID: {call_id}\r\n"
        "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    sip.sendto(bye.encode(), target)
    end = time.time() + 3
    while time.time() < end:
        try:
            data, _ = sip.recvfrom(65535)
        except socket.timeout:
            continue
        start, h = headers_of(data.decode(errors="replace"))
        if start.startswith("SIP/2.0") and "BYE" in h.get("cseq", ""):
            break
        if start.startswith("SIP/2.0 200") and "INVITE" in h.get("cseq", ""):
            sip.sendto(ack.encode(), target)
    samples = samples[:want]
    n = len(samples)
    if not n:
        print(json.dumps({"packets": packets, "seconds": 0, "tone_ratio": 0, "rms_dbfs": None}))
        return
    total = sum(x * x for x in samples)
    w = -2j * math.pi * args.freq / 8000
    bin_ = sum(x * cmath.exp(w * i) for i, x in enumerate(samples))
    tone = 2 * abs(bin_) ** 2 / n
    rms = math.sqrt(total / n)
    print(json.dumps({
        "packets": packets,
        "seconds": n / 8000,
        "tone_ratio": round(tone / total, 4) if total else 0,
        "rms_dbfs": round(20 * math.log10(max(rms, 1e-9) / 32768), 1),
        "from": list(remote_rtp) if remote_rtp else None,
    }))


if __name__ == "__main__":
    main()
