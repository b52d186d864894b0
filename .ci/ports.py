#!/usr/bin/env python3
"""Free ports on 127.0.0.1 for the CI scripts and the load benchmark.

  ports.py [TAKEN ...]          a port free for both TCP and UDP, not one of TAKEN
  ports.py media BASE [COUNT]   the first port from BASE, in steps of 10, whose
                                COUNT (default 4) UDP ports are all free (sipp
                                uses its media port and the one two above it)
"""
import socket
import sys


def free(port, kinds):
    socks = []
    try:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def media(base, count):
    while not all(free(base + i, [socket.SOCK_DGRAM]) for i in range(count)):
        base += 10
    return base


def any_port(taken):
    while True:
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        t.close()
        if port not in taken and free(port, [socket.SOCK_STREAM, socket.SOCK_DGRAM]):
            return port


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["media"]:
        print(media(int(args[1]), int(args[2]) if len(args) > 2 else 4))
    else:
        print(any_port({int(a) for a in args}))
