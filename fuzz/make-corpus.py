#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (FUZZING.md).

    fuzz/make-corpus.py [--rfc4475 DIR] [--pcap-dir /usr/share/sip-tester]

Seeds, small on purpose (the fuzzer mutates them; size only slows it):
  sip_message, tcp_framing, info_dtmf: the RFC 4475 torture messages (the
    bit-exact .dat files of its Appendix B, given with --rfc4475), the
    messages of tests/sipp/*.xml with their [fields] filled in, and the
    INVITE / ACK / BYE / INFO / OPTIONS shapes the tests' user agent sends.
  sdp_offer_answer: the offers in tests/common/sdp.rs's styles (plain,
    linphone, baresip), hold, video beside audio, IPv6, RFC 4475's bodies.
  rtp_dtmf: the RTP datagrams of sip-tester's RFC 2833 captures
    (dtmf_2833_*.pcap), two per capture, and packets written here.
  wav_decode: the shipped prompts' header with 0.1 s of their audio, and
    the layouts the decoder reads (8/16/24/32-bit, float, stereo, 44.1 kHz).
  resample: a tone and noise at 44.1 and 48 kHz.
  config: smileyd.example.toml, debian/smileyd.toml and short files.
Existing seeds are kept; a file's name is its content's SHA-1, so running it
again adds nothing twice.
"""
import argparse
import hashlib
import math
import os
import pathlib
import random
import re
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def crlf(text):
    return "\r\n".join(text.split("\n")).encode()


SDP = """v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
"""

SDPS = [
    SDP,
    # SRTP (RFC 4568): an unknown suite, one with lifetime and MKI, one with a
    # session parameter; then best-effort SRTP, RTP/AVP beside RTP/SAVP
    """v=0
o=- 3 4 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 4000 RTP/SAVP 0 101
a=rtpmap:101 telephone-event/8000
a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzWVNfX19zZW1jdGwgKCkgewk=
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz KDR=1
""",
    """v=0
o=- 5 6 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 4000 RTP/AVP 8
m=audio 4002 RTP/SAVP 8
a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz WSH=64
""",
    # linphone: speex and wide-band events first, G.711 later
    """v=0
o=caller 123 456 IN IP4 127.0.0.1
s=Talk
c=IN IP4 127.0.0.1
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 97 98 0 8 18 99 100 101
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=yes
a=rtpmap:99 telephone-event/48000
a=rtpmap:100 telephone-event/16000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
""",
    # baresip: PCMA only, RTCP attributes, sendonly at session level
    """v=0
o=- 7 8 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
a=tool:baresip 1.0.0
a=sendonly
m=audio 10002 RTP/AVPF 8 101
b=AS:64
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp-rsize
a=ssrc:1234 cname:caller-000004d2@baresip
a=rtcp:10003
a=rtcp-fb:* trr-int 1000
""",
    # static payload types without rtpmap, hold, IPv6, video first
    """v=0
o=- 1 2 IN IP6 ::1
s=-
c=IN IP6 ::1
t=0 0
m=video 0 RTP/AVP 31
m=audio 5004 RTP/AVP 8 0
a=inactive
""",
    # a re-INVITE stopping the stream (RFC 3264 §8.2)
    """v=0
o=- 1 3 IN IP4 127.0.0.1
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 0 RTP/AVP 0
""",
    # nothing we can take
    """v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
c=IN IP4 224.2.1.1/127
t=0 0
m=audio 49170/2 RTP/SAVP 96
a=rtpmap:96 opus/48000/2
""",
]

INFO_BODIES = [
    ("application/dtmf-relay", "Signal=1\r\nDuration=250\r\n"),
    ("application/dtmf-relay", "Signal= 2\r\nDuration= 250\r\n"),
    ("application/dtmf-relay", "Signal=#\r\nDuration=160\r\n"),
    ("application/dtmf-relay", "Signal=11\nDuration=160\n"),
    ("application/dtmf", "5"),
    ("application/dtmf; charset=x", " * "),
]


def request(method, body=b"", ctype=None, extra=""):
    head = (
        f"{method} sip:survey@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-fuzz-1;rport\r\n"
        "From: \"caller\" <sip:caller@127.0.0.1:5070>;tag=a1\r\n"
        "To: <sip:survey@127.0.0.1:5060>" + (";tag=b2" if method != "INVITE" else "") + "\r\n"
        "Call-ID: fuzz-1@127.0.0.1\r\n"
        f"CSeq: 2 {method}\r\n"
        "Contact: <sip:caller@127.0.0.1:5070>\r\n"
        "Max-Forwards: 70\r\n" + extra
    )
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def sipp_messages():
    fields = {
        "remote_ip": "127.0.0.1", "remote_port": "5060", "transport": "UDP",
        "local_ip": "127.0.0.1", "local_port": "5070", "branch": "z9hG4bK-sipp-1",
        "pid": "42", "call_number": "1", "call_id": "1-42@127.0.0.1",
        "local_ip_type": "4", "media_ip_type": "4", "media_ip": "127.0.0.1",
        "media_port": "6000", "next_url": "sip:survey@127.0.0.1:5060",
        "peer_tag_param": ";tag=srv1", "routes": "", "last_Via:": "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1",
        "last_From:": "From: <sip:survey@127.0.0.1>;tag=srv1", "last_To:": "To: <sip:sipp@127.0.0.1>;tag=42",
        "last_Call-ID:": "Call-ID: srv-1", "last_CSeq:": "CSeq: 1 BYE",
    }
    for xml in sorted((ROOT / "tests" / "sipp").glob("*.xml")):
        text = xml.read_text(encoding="latin-1")
        for block in re.findall(r"<!\[CDATA\[(.*?)\]\]>", text, re.S):
            lines = [l.strip() for l in block.strip("\n").split("\n")]
            while lines and not lines[0]:
                lines.pop(0)
            msg = "\r\n".join(l for l in lines if l != "[routes]")
            msg = re.sub(r"\[([^\]]+)\]", lambda m: fields.get(m.group(1), m.group(0)), msg)
            head, _, body = msg.partition("\r\n\r\n")
            body = body.strip("\r\n")
            body = body + "\r\n" if body else ""
            head = head.replace("[len]", str(len(body)))
            yield (head + "\r\n\r\n" + body).encode()


def rtp(pt, seq, ts, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + payload


def pcap_udp_payloads(path):
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        pos = {1: 14, 113: 16, 0: 4, 101: 0}.get(linktype)
        if pos is None or len(frame) < pos + 20:
            continue
        if linktype == 1 and frame[12:14] == b"\x81\x00":
            pos += 4
        ihl = (frame[pos] & 0x0F) * 4
        if frame[pos] >> 4 != 4 or frame[pos + 9] != 17:
            continue
        out.append(frame[pos + ihl + 8:])
    return out


def wav(rate, channels, bits, frames, fmt=1, sig=None):
    block = channels * bits // 8
    out = bytearray()
    for i in range(frames):
        x = sig(i) if sig else 0.5 * math.sin(2 * math.pi * 440 * i / rate)
        for _ in range(channels):
            if fmt == 3:
                out += struct.pack("<f", x)
            elif bits == 8:
                out += struct.pack("<B", int(128 + 127 * x))
            elif bits == 24:
                out += int(x * 8388607).to_bytes(3, "little", signed=True)
            else:
                out += int(x * (2 ** (bits - 1) - 1)).to_bytes(bits // 8, "little", signed=True)
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + struct.pack("<I", len(out)) + out
    return b"RIFF" + struct.pack("<I", len(body)) + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rfc4475", type=pathlib.Path)
    ap.add_argument("--pcap-dir", type=pathlib.Path, default=pathlib.Path("/usr/share/sip-tester"))
    a = ap.parse_args()

    messages = list(sipp_messages())
    sdp = crlf(SDP)
    messages += [
        request("INVITE", sdp, "application/sdp", "X-Agent-Id: 42\r\nX-Queue: support\r\n"),
        request("INVITE"),
        request("ACK"),
        request("BYE"),
        request("OPTIONS"),
        request("CANCEL"),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        # compact forms, folding, bare LF (what message.rs's tests send)
        b"INVITE sip:s@h SIP/2.0\nv: SIP/2.0/TCP [::1]:5070;branch=z9hG4bKx\nf: <sip:a@h>;tag=1\n"
        b"t: sip:s@h\ni: c1\nCSeq: 1\n INVITE\nl: 0\n\n",
    ]
    messages += [request("INFO", b.encode(), ct) for ct, b in INFO_BODIES]
    if a.rfc4475:
        messages += [p.read_bytes() for p in sorted(a.rfc4475.glob("*.dat"))]
    for m in messages:
        put("sip_message", m)
        put("info_dtmf", m) if b"INFO" in m[:10] or b"dtmf" in m else None
    for ct, b in INFO_BODIES:
        put("info_dtmf", b)
    # tcp_framing: [cut count][cuts][stream]: two messages back to back,
    # CRLF keep-alives between them, read in pieces of 6, 33 and 65 bytes.
    for i in range(0, len(messages) - 1, 2):
        put("tcp_framing", b"\x03\x05\x20\x40" + b"\r\n\r\n" + messages[i] + b"\r\n" + messages[i + 1])

    for s in SDPS:
        put("sdp_offer_answer", crlf(s))
    for m in messages:
        if b"\r\n\r\nv=0" in m:
            put("sdp_offer_answer", m.split(b"\r\n\r\n", 1)[1])

    # rtp_dtmf: records of [ms step][length][datagram]
    def rec(step, d):
        return bytes([step, len(d)]) + d
    press = b"".join(
        rec(20, rtp(101, 100 + i, 8000, 0x1234, bytes([1, 0x0A | (0x80 if i >= 5 else 0)]) + struct.pack("!H", 160 * (i + 1)), i == 0))
        for i in range(8)
    )
    put("rtp_dtmf", rec(20, rtp(0, 99, 7840, 0x1234, b"\xff" * 160)) + press)
    put("rtp_dtmf", rec(20, bytes([0x80, 200, 0, 6]) + b"\x00" * 24))  # RTCP SR on the RTP port
    pcaps = sorted(a.pcap_dir.glob("**/dtmf_2833_*.pcap")) if a.pcap_dir.exists() else []
    if not pcaps:
        print("note: no sip-tester captures in", a.pcap_dir, "(apt-get install sip-tester)", file=sys.stderr)
    for p in pcaps:
        pkts = [d for d in pcap_udp_payloads(p) if len(d) >= 12 and d[1] & 0x7F == 101]
        if pkts:
            put("rtp_dtmf", b"".join(rec(20, d) for d in pkts[:12]))

    for lang_wav in sorted(ROOT.glob("prompts/en/*.wav"))[:2]:
        data = lang_wav.read_bytes()
        i = data.find(b"data")
        if i > 0:
            n = min(1600, struct.unpack("<I", data[i + 4:i + 8])[0])
            head = bytearray(data[: i + 8])
            head[i + 4:i + 8] = struct.pack("<I", n)
            img = bytes(head) + data[i + 8:i + 8 + n]
            img = img[:4] + struct.pack("<I", len(img) - 8) + img[8:]
            put("wav_decode", img)
    for rate, ch, bits, fmt in [(8000, 1, 16, 1), (8000, 1, 8, 1), (16000, 1, 24, 1), (44100, 2, 16, 1),
                                (48000, 1, 32, 3), (22050, 1, 32, 1), (11025, 3, 16, 1)]:
        put("wav_decode", wav(rate, ch, bits, rate // 50, fmt))

    rnd = random.Random(4475)
    for rate in (44100, 48000):
        tone = b"".join(struct.pack("<f", 0.8 * math.sin(2 * math.pi * 1000 * i / rate)) for i in range(441))
        noise = b"".join(struct.pack("<f", rnd.uniform(-1, 1)) for _ in range(300))
        put("resample", struct.pack("<I", rate - 4000) + tone)
        put("resample", struct.pack("<I", rate - 4000) + noise)

    put("config", (ROOT / "smileyd.example.toml").read_bytes())
    put("config", (ROOT / "debian" / "smileyd.toml").read_bytes())
    put("config", b"")
    put("config", b'[survey]\nhappy_keys = ["1"]\nsad_keys = ["2"]\n\n[surveys.nps]\nscale = "nps"\n')
    put("config", b'rtp_ports = "20000-20100"\n[sip]\nallowed_networks = ["127.0.0.0/8", "::1/128"]\n')


if __name__ == "__main__":
    main()
