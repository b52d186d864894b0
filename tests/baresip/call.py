#!/usr/bin/env python3
"""Places one call with a running baresip through its ctrl_tcp module and
reports how it went, as one JSON object on stdout.

ctrl_tcp speaks netstrings ("LEN:DATA,") carrying JSON: commands go in as
{"command": ..., "params": ..., "token": ...}, and baresip sends back
responses ({"response": true, "ok": ..., "token": ...}) and call events
({"event": true, "type": "CALL_ESTABLISHED", "param": ...}).

  call.py CTRL_PORT URI [--key 1] [--key-after-ms 1500] [--timeout 60]

Dials URI; once the call is established, waits --key-after-ms and sends the
key with baresip's "sndcode" command (RFC 4733 telephone-events when the
answer has them); then waits for the call to close (smileyd hangs up after
its thank-you), and tells baresip to quit. Exit status 0 when the call was
established and closed, 1 otherwise (including a call refused before it was
established: the output then carries the reason, e.g. "488 Not Acceptable
Here").
"""
import argparse
import json
import socket
import sys
import time


class Netstrings:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, obj):
        data = json.dumps(obj).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data + b",")

    def recv(self, deadline):
        """The next message, or None once deadline has passed."""
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                n = int(self.buf[:colon])
                end = colon + 1 + n
                if len(self.buf) > end:
                    data = self.buf[colon + 1 : end]
                    self.buf = self.buf[end + 1 :]
                    return json.loads(data)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionError("baresip closed the control connection")
            self.buf += chunk


def connect(port, wait_s=15.0):
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ctrl_port", type=int)
    ap.add_argument("uri")
    ap.add_argument("--key", default="1")
    ap.add_argument("--key-after-ms", type=int, default=1500)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    ctl = Netstrings(connect(a.ctrl_port))
    report = {"uri": a.uri, "established": False, "key_sent": False, "closed": None, "events": []}
    ctl.send({"command": "dial", "params": a.uri, "token": "dial"})
    deadline = time.monotonic() + a.timeout
    key_at = None
    while True:
        wait_until = min(deadline, key_at) if key_at else deadline
        msg = ctl.recv(wait_until)
        now = time.monotonic()
        if msg is None:
            if key_at and now >= key_at:
                ctl.send({"command": "sndcode", "params": a.key, "token": "key"})
                report["key_sent"] = True
                key_at = None
                continue
            report["error"] = "timed out"
            break
        if msg.get("response"):
            if not msg.get("ok"):
                report.setdefault("command_errors", []).append(msg)
                if msg.get("token") == "dial":
                    report["error"] = f"dial refused: {msg.get('data')}"
                    break
            continue
        if not msg.get("event"):
            continue
        kind = msg.get("type")
        report["events"].append({"type": kind, "param": msg.get("param")})
        if kind == "CALL_ESTABLISHED":
            report["established"] = True
            key_at = now + a.key_after_ms / 1000.0
        elif kind == "CALL_CLOSED":
            report["closed"] = msg.get("param") or ""
            break
    try:
        ctl.send({"command": "quit", "token": "quit"})
    except OSError:
        pass
    print(json.dumps(report))
    sys.exit(0 if report["established"] and report["closed"] is not None else 1)


if __name__ == "__main__":
    main()
