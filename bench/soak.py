#!/usr/bin/env python3
"""Helpers for bench/soak.sh: sample a running smileyd every few seconds,
check the ratings at the end, and draw the samples as an SVG.

Only the standard library: the plot is SVG written by hand, so the soak
needs no plotting package and no network.

  soak.py sample PID METRICS_URL DB OUT.csv [--interval 10]   until PID exits or SIGTERM
  soak.py check  --csv C --load LOAD.json --db DB --journal J --warmup S --md OUT.md
  soak.py plot   C OUT.svg [--warmup S]
"""

import argparse
import csv
import json
import os
import signal
import sqlite3
import sys
import time
import urllib.request

from benchlib import db_counts

CLK_TCK = os.sysconf("SC_CLK_TCK")
FIELDS = ["t", "elapsed_s", "rss_kb", "fds", "cpu_user_s", "cpu_sys_s", "cpu_cores", "db_bytes", "active_calls", "ratings"]


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    rest = stat[stat.rindex(")") + 2 :].split()  # after the command name
    return int(rest[11]) / CLK_TCK, int(rest[12]) / CLK_TCK


def db_bytes(db):
    """The database as it sits on disk: the file, its WAL and shared memory."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.path.getsize(db + suffix)
        except FileNotFoundError:
            pass
    return total


def active_calls(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("smileyd_active_calls "):
                    return int(float(line.split()[1]))
    except Exception:
        pass
    return ""


def ratings(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            return con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return ""


def cmd_sample(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t0 = time.monotonic()
    prev = None
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        next_t = t0
        while not stop:
            try:
                rss = proc_rss_kb(a.pid)
                fds = len(os.listdir(f"/proc/{a.pid}/fd"))
                user, sys_ = proc_cpu_s(a.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            now = time.monotonic()
            cores = ""
            if prev is not None and now > prev[0]:
                cores = f"{(user + sys_ - prev[1]) / (now - prev[0]):.3f}"
            prev = (now, user + sys_)
            w.writerow(
                [f"{time.time():.1f}", f"{now - t0:.1f}", rss, fds, f"{user:.2f}", f"{sys_:.2f}", cores,
                 db_bytes(a.db), active_calls(a.metrics), ratings(a.db)]
            )
            f.flush()
            next_t += a.interval
            while not stop and time.monotonic() < next_t:
                time.sleep(min(0.5, max(0.0, next_t - time.monotonic())))


def read_csv(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in r.items()})
    return rows


def slope_per_hour(xs, ys):
    """Least-squares slope of ys against xs (seconds), per hour."""
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx * 3600


def cmd_check(a):
    rows = read_csv(a.csv)
    with open(a.load) as f:
        load = json.load(f)
    stored, outcomes, journaled = db_counts(a.db, a.journal)
    # After the warm-up and before the generator stopped placing calls (the
    # drain at the end is no steady state).
    launch_end = load.get("launch_secs", float("inf"))
    after = [r for r in rows if a.warmup <= r["elapsed_s"] <= launch_end and r["active_calls"] not in (None, 0)]
    # The samples while the calls were held (the drain at the end excluded).
    held = [r for r in rows if r["active_calls"] not in (None, 0)]
    xs = [r["elapsed_s"] for r in after]

    def stat(key, rs=after):
        v = [r[key] for r in rs if r[key] is not None]
        return (min(v), max(v), sum(v) / len(v)) if v else (float("nan"),) * 3

    rss_min, rss_max, _ = stat("rss_kb")
    fd_min, fd_max, _ = stat("fds")
    cpu_min, cpu_max, cpu_mean = stat("cpu_cores")
    act_min, act_max, act_mean = stat("active_calls", held)
    rss_slope = slope_per_hour(xs, [r["rss_kb"] for r in after])
    fd_slope = slope_per_hour(xs, [r["fds"] for r in after])
    first_rss = rows[0]["rss_kb"] if rows else float("nan")
    last = rows[-1] if rows else {}
    secs = load.get("total_secs", 0)
    pressed, attempted, completed = load["pressed"], load["attempted"], load["completed"]
    ok = stored + journaled == pressed and completed == attempted and attempted > 0
    lines = [
        f"| calls placed / completed / failed | {attempted} / {completed} / {load['failed']} {load.get('failures') or ''} |",
        f"| keys pressed / ratings stored (of which only in the journal) | {pressed} / {stored + journaled} ({journaled}) |",
        f"| call outcomes in the database | {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))} |",
        f"| concurrent calls while held (min / mean / max) | {act_min:.0f} / {act_mean:.0f} / {act_max:.0f} |",
        f"| duration (calls placed for / until the last call ended) | {load.get('launch_secs', 0):.0f} s / {secs:.0f} s |",
        f"| RSS at start → after warm-up (min … max) | {first_rss / 1024:.1f} MiB → {rss_min / 1024:.1f} … {rss_max / 1024:.1f} MiB |",
        f"| RSS trend after warm-up (least squares) | {rss_slope / 1024:+.2f} MiB per hour |",
        f"| open fds after warm-up (min … max), trend | {fd_min:.0f} … {fd_max:.0f}, {fd_slope:+.1f} per hour |",
        f"| CPU (user+sys) after warm-up, cores (min / mean / max of 10 s samples) | {cpu_min:.2f} / {cpu_mean:.2f} / {cpu_max:.2f} |",
        f"| CPU time in total (user / sys) | {last.get('cpu_user_s') or 0:.0f} s / {last.get('cpu_sys_s') or 0:.0f} s |",
        f"| database on disk at the end (file + WAL + shm) | {(last.get('db_bytes') or 0) / 1048576:.1f} MiB |",
        f"| RTP from smileyd: packets, lost, gap p50 / p99 / max (ms) | {load['rtp']['packets']}, {load['rtp']['lost']}, "
        f"{load['rtp']['gap_ms']['p50']:.2f} / {load['rtp']['gap_ms']['p99']:.2f} / {load['rtp']['gap_ms']['max']:.1f} |",
        f"| warm-up excluded from the trends | first {a.warmup:.0f} s |",
    ]
    md = "| | |\n|---|---|\n" + "\n".join(lines) + "\n"
    with open(a.md, "w") as f:
        f.write(md)
    print(md)
    if not ok:
        print(f"FAIL: {completed} of {attempted} calls completed; {stored + journaled} ratings stored for {pressed} keys pressed")
        sys.exit(1)
    print(f"PASS: {completed} calls completed, {stored + journaled} ratings stored for {pressed} keys pressed")


# ---------------------------------------------------------------------------
# SVG


def nice_max(v):
    if v <= 0:
        return 1.0
    mag = 10 ** (len(str(int(v))) - 1) if v >= 1 else 1
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * mag >= v:
            return m * mag
    return 10 * mag


def cmd_plot(a):
    rows = read_csv(a.csv)
    panels = [
        ("RSS (MiB)", "rss_kb", 1 / 1024, "#1f77b4"),
        ("open file descriptors", "fds", 1, "#2ca02c"),
        ("CPU, user+sys (cores)", "cpu_cores", 1, "#d62728"),
        ("database on disk (MiB)", "db_bytes", 1 / 1048576, "#9467bd"),
        ("active calls", "active_calls", 1, "#7f7f7f"),
    ]
    W, PH, L, R, T, GAP = 820, 120, 70, 20, 40, 38
    H = T + len(panels) * (PH + GAP) + 10
    tmax = max((r["elapsed_s"] for r in rows), default=1) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{a.title}</text>',
    ]
    for i, (label, key, scale, colour) in enumerate(panels):
        top = T + i * (PH + GAP)
        pts = [(r["elapsed_s"], r[key] * scale) for r in rows if r[key] is not None]
        ymax = nice_max(max((p[1] for p in pts), default=1))
        x = lambda t: L + (W - L - R) * t / tmax  # noqa: E731
        y = lambda v: top + PH - PH * v / ymax  # noqa: E731
        out.append(f'<rect x="{L}" y="{top}" width="{W - L - R}" height="{PH}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{L}" y="{top - 5}" fill="{colour}">{label}</text>')
        for frac in (0, 0.5, 1):
            v = ymax * frac
            out.append(f'<line x1="{L - 4}" x2="{W - R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
            out.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        if a.warmup and a.warmup < tmax:
            out.append(f'<rect x="{L}" y="{top}" width="{x(a.warmup) - L:.1f}" height="{PH}" fill="#f3f3f3"/>')
        if pts:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.3"/>')
        # Whole minutes between labels: 5-minute multiples on long runs.
        step = max(60.0, round(tmax / 6 / 300) * 300.0) if tmax > 600 else 60.0
        t = 0.0
        while t <= tmax:
            out.append(f'<text x="{x(t):.1f}" y="{top + PH + 13}" text-anchor="middle">{t / 60:g} min</text>')
            t += step
    out.append("</svg>")
    with open(a.svg, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("pid", type=int)
    s.add_argument("metrics")
    s.add_argument("db")
    s.add_argument("out")
    s.add_argument("--interval", type=float, default=10.0)
    c = sub.add_parser("check")
    c.add_argument("--csv", required=True)
    c.add_argument("--load", required=True)
    c.add_argument("--db", required=True)
    c.add_argument("--journal")
    c.add_argument("--warmup", type=float, default=600)
    c.add_argument("--md", required=True)
    p = sub.add_parser("plot")
    p.add_argument("csv")
    p.add_argument("svg")
    p.add_argument("--warmup", type=float, default=0)
    p.add_argument("--title", default="smileyd soak: 500 concurrent survey calls, sampled every 10 s")
    a = ap.parse_args()
    {"sample": cmd_sample, "check": cmd_check, "plot": cmd_plot}[a.cmd](a)


if __name__ == "__main__":
    main()
