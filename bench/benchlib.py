#!/usr/bin/env python3
"""Helpers for bench/load.sh: sample smileyd's CPU and memory, read sipp's
and smiley-load's results, measure RTP timing in a capture, and turn the
steps into one JSON line each, a Markdown table and a plot.

Only the standard library (matplotlib for the plot, when installed).

  benchlib.py monitor PID METRICS_URL OUT.csv       until PID exits or SIGTERM
  benchlib.py step --dir D --label L ...            one JSON line to stdout
  benchlib.py report RESULTS.jsonl OUT.md OUT.png
"""

import argparse
import csv
import glob
import json
import os
import signal
import sqlite3
import struct
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# monitor


def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after the command name (which may contain spaces).
    rest = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])
    threads = int(rest[17])
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    # Time the threads spent runnable but waiting for a CPU (schedstat, ns):
    # how much other processes on a shared machine held smileyd back.
    wait_ns = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    wait_ns += int(f.read().split()[1])
            except (FileNotFoundError, IndexError, ValueError):
                pass
    except FileNotFoundError:
        pass
    return utime, stime, rss, hwm, threads, wait_ns


def scrape(url, timeout=0.5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def cmd_monitor(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "utime", "stime", "rss_kb", "hwm_kb", "threads", "active_calls", "runq_wait_ns"])
        next_t = time.monotonic()
        while not stop:
            try:
                u, s, rss, hwm, th, wait = proc_sample(a.pid)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                break
            active = ""
            try:
                v = metric_value(scrape(a.metrics), "smileyd_active_calls")
                active = "" if v is None else int(v)
            except Exception:
                pass
            w.writerow([f"{time.time():.3f}", u, s, rss, hwm, th, active, wait])
            f.flush()
            next_t += a.interval
            time.sleep(max(0.0, next_t - time.monotonic()))


def read_monitor(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append(
                {
                    "t": float(r["t"]),
                    "cpu": (int(r["utime"]) + int(r["stime"])) / CLK_TCK,
                    "rss_kb": int(r["rss_kb"]),
                    "hwm_kb": int(r["hwm_kb"]),
                    "active": int(r["active_calls"]) if r["active_calls"] else None,
                    "wait": int(r["runq_wait_ns"]) / 1e9 if r.get("runq_wait_ns") else 0.0,
                }
            )
    return rows


def cpu_stats(rows, target):
    """CPU in cores: over the plateau, in the busiest second, and
    CPU-seconds in total; and how long the threads waited for a CPU."""
    out = {"plateau_cores": None, "plateau_secs": 0, "plateau_runq_wait": None, "peak_1s_cores": None, "total_cpu_s": None}
    if len(rows) < 2:
        return out
    out["total_cpu_s"] = round(rows[-1]["cpu"] - rows[0]["cpu"], 2)
    # Busiest window of at least one second (shorter ones are all tick noise).
    peak = 0.0
    j = 0
    for i, b in enumerate(rows):
        while j < i and b["t"] - rows[j + 1]["t"] >= 1.0:
            j += 1
        a = rows[j]
        dt = b["t"] - a["t"]
        if dt >= 1.0:
            peak = max(peak, (b["cpu"] - a["cpu"]) / dt)
    out["peak_1s_cores"] = round(peak, 3)
    # The plateau: at least 90 % of the most calls seen at once (a rate run
    # never reaches its concurrency limit).
    top = min(target, max((r["active"] or 0 for r in rows), default=0))
    plateau = [r for r in rows if r["active"] is not None and top and r["active"] >= 0.9 * top]
    if len(plateau) >= 2:
        first, last = plateau[0], plateau[-1]
        out["plateau_cores"] = round((last["cpu"] - first["cpu"]) / (last["t"] - first["t"]), 3)
        out["plateau_runq_wait"] = round((last["wait"] - first["wait"]) / (last["t"] - first["t"]), 3)
        out["plateau_secs"] = round(last["t"] - first["t"], 1)
    return out


# ---------------------------------------------------------------------------
# histograms from /metrics


def histogram(text, name):
    """Cumulative (le, count) pairs of a Prometheus histogram."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            n = float(line.rsplit(" ", 1)[1])
            buckets.append((float("inf") if le == "+Inf" else float(le), n))
    return sorted(buckets)


def hist_quantile(buckets, q):
    """The upper bound of the bucket holding the q-quantile (a ceiling,
    never an interpolation below what was measured), in ms."""
    if not buckets or buckets[-1][1] == 0:
        return None
    want = q * buckets[-1][1]
    for le, n in buckets:
        if n >= want:
            return le * 1000.0
    return None


# ---------------------------------------------------------------------------
# RTP timing from a capture


def pcap_gaps(path):
    """Inter-packet gaps per RTP stream (source port + SSRC) in a libpcap
    file, and sequence-number loss."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    else:
        endian = ">"
        magic = struct.unpack(">I", data[:4])[0]
    nano = magic == 0xA1B23C4D
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16, 276: 20, 0: 4, 228: 0, 101: 0}.get(linktype, 14)
    off = 24
    streams = {}
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off : off + 16])
        off += 16
        pkt = data[off : off + incl]
        off += incl
        t = sec + frac / (1e9 if nano else 1e6)
        ip = pkt[l2:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        if len(udp) < 8 + 12:
            continue
        sport = struct.unpack(">H", udp[0:2])[0]
        rtp = udp[8:]
        if rtp[0] >> 6 != 2:
            continue
        seq = struct.unpack(">H", rtp[2:4])[0]
        ssrc = struct.unpack(">I", rtp[8:12])[0]
        streams.setdefault((sport, ssrc), []).append((t, seq))
    gaps = []
    expected = received = 0
    for pkts in streams.values():
        received += len(pkts)
        ext = []
        cycles, last = 0, None
        for _, s in pkts:
            if last is not None and s < last and last - s > 0x8000:
                cycles += 1 << 16
            last = s
            ext.append(cycles + s)
        expected += max(ext) - min(ext) + 1
        for (t0, _), (t1, _) in zip(pkts, pkts[1:]):
            gaps.append((t1 - t0) * 1000.0)
    gaps.sort()
    return summarize_gaps(gaps, len(streams), received, expected)


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(-(-len(sorted_vals) * q // 1)) - 1))
    return sorted_vals[i]


def summarize_gaps(gaps, streams, received, expected):
    outside = sum(1 for g in gaps if g < 18.0 or g > 22.0)
    return {
        "streams": streams,
        "packets": received,
        "expected": expected,
        "lost": max(0, expected - received),
        "n": len(gaps),
        "p50": round(pct(gaps, 0.5), 3) if gaps else None,
        "p99": round(pct(gaps, 0.99), 3) if gaps else None,
        "p999": round(pct(gaps, 0.999), 3) if gaps else None,
        "max": round(gaps[-1], 3) if gaps else None,
        "outside_20pm2": outside,
    }


# ---------------------------------------------------------------------------
# sipp results


def sipp_call_rate(rows):
    """New calls a second that sipp achieved: calls started over the time
    from its first to its last new call, from the periodic statistics."""
    head = rows[0]
    try:
        ti, ci = head.index("ElapsedTime(C)"), head.index("OutgoingCall(C)")
    except ValueError:
        return None

    def secs(v):
        h, m, rest = v.split(":")
        return int(h) * 3600 + int(m) * 60 + float(rest.split(":")[0])

    pts = []
    for r in rows[1:]:
        try:
            pts.append((secs(r[ti]), int(float(r[ci]))))
        except (ValueError, IndexError):
            pass
    if len(pts) < 2:
        return None
    total = pts[-1][1]
    first = next((p for p in pts if p[1] > 0), None)
    last = next((p for p in pts if p[1] >= total), None)
    if not first or not last or last[0] <= first[0]:
        return None
    return round((last[1] - first[1]) / (last[0] - first[0]), 2)


def sipp_summary(d):
    out = {"generator": "sipp"}
    stat = os.path.join(d, "sipp_stat.csv")
    with open(stat) as f:
        rows = list(csv.reader(f, delimiter=";"))
    head, last = rows[0], rows[-1]
    col = dict(zip(head, last))

    def num(k):
        try:
            return int(float(col.get(k, "0") or 0))
        except ValueError:
            return 0

    out["attempted"] = num("OutgoingCall(C)")
    out["completed"] = num("SuccessfulCall(C)")
    out["failed"] = num("FailedCall(C)")
    out["failures"] = {
        k[len("Failed") : -3]: num(k)
        for k in head
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and num(k)
    }
    out["retransmissions"] = num("Retransmissions(C)")
    out["achieved_cps"] = sipp_call_rate(rows)
    out["dead_call_msgs"] = num("DeadCallMsgs(C)")
    out["out_of_call_msgs"] = num("OutOfCallMsgs(C)")
    counts = glob.glob(os.path.join(d, "*_counts.csv"))
    if counts:
        with open(counts[0]) as f:
            rows = list(csv.reader(f, delimiter=";"))
        c = dict(zip(rows[0], rows[-1]))
        # A call that got past the pause played the key: it then either got
        # the BYE, timed out waiting for it, or received something else.
        pressed = 0
        for k, v in c.items():
            if "_BYE_" in k and k.split("_")[-1] in ("Recv", "Timeout", "Unexp"):
                pressed += int(v or 0)
        out["pressed"] = pressed
    rtt = glob.glob(os.path.join(d, "*_rtt.csv"))
    setup = []
    for p in rtt:
        with open(p) as f:
            for line in f:
                parts = line.strip().split(";")
                if len(parts) >= 3 and parts[2] == "setup":
                    try:
                        setup.append(float(parts[1]))
                    except ValueError:
                        pass
    setup.sort()
    out["setup_ms"] = {
        "p50": pct(setup, 0.5),
        "p99": pct(setup, 0.99),
        "max": setup[-1] if setup else None,
        "n": len(setup),
        "resolution_ms": 1,
    }
    return out


# ---------------------------------------------------------------------------
# one step


def db_counts(path, journal=None):
    """Ratings in the database, call outcomes, and ratings still only in
    smileyd's journal (durable, written to the database on its next replay;
    an overloaded database sends ratings there instead of keeping callers
    waiting)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ids = {r[0] for r in con.execute("SELECT id FROM measurements")}
        outcomes = dict(con.execute("SELECT outcome, COUNT(*) FROM calls GROUP BY outcome").fetchall())
    finally:
        con.close()
    journaled = set()
    if journal and os.path.exists(journal):
        with open(journal) as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a torn last line
                if e.get("type") == "measurement" and e.get("id") not in ids:
                    journaled.add(e["id"])
    return len(ids), outcomes, len(journaled)


def cmd_step(a):
    d = a.dir
    res = {
        "label": a.label,
        "generator": a.generator,
        "concurrency": a.concurrency,
        "rate": a.rate,
        "calls": a.calls,
        "hold_ms": a.hold_ms,
        "kind": a.kind,
        "media": a.media,
    }
    if a.generator == "sipp":
        g = sipp_summary(d)
    else:
        with open(os.path.join(d, "load.json")) as f:
            g = json.load(f)
    for k in ("attempted", "completed", "pressed", "failed", "failures", "setup_ms"):
        res[k] = g.get(k)
    if a.generator == "sipp":
        for k in ("retransmissions", "dead_call_msgs", "out_of_call_msgs", "achieved_cps"):
            res[k] = g.get(k)
        cap = os.path.join(d, "rtp.pcap")
        res["rtp"] = pcap_gaps(cap) if os.path.exists(cap) else None
        if res["rtp"] is not None:
            res["rtp"]["source"] = "capture (dumpcap on lo, a sample of about 100 calls)"
    else:
        r = g["rtp"]
        res["rtp"] = {
            "streams": g.get("completed"),
            "packets": r["packets"],
            "expected": r["expected"],
            "lost": r["lost"],
            "receiver_socket_drops": r["receiver_socket_drops"],
            "n": r["gap_ms"]["n"],
            "p50": r["gap_ms"]["p50"],
            "p99": r["gap_ms"]["p99"],
            "p999": r["gap_ms"]["p999"],
            "max": r["gap_ms"]["max"],
            "outside_20pm2": r["gap_ms"]["outside_20pm2"],
            "srtp_auth_failed": r.get("srtp_auth_failed"),
            "source": "smiley-load kernel receive timestamps, every call",
        }
        res["peak_active_generator"] = g.get("peak_active")
    ratings, outcomes, journaled = db_counts(os.path.join(d, "smileyd.db"), os.path.join(d, "smileyd.journal"))
    res["ratings_in_db"] = ratings
    res["ratings_journal_only"] = journaled
    res["ratings_stored"] = ratings + journaled
    res["call_outcomes"] = outcomes
    with open(os.path.join(d, "metrics.txt")) as f:
        m = f.read()
    kc = histogram(m, "smileyd_keypress_commit_seconds")
    res["keypress_commit_ms"] = {
        "p50_le": hist_quantile(kc, 0.5),
        "p99_le": hist_quantile(kc, 0.99),
        "n": int(kc[-1][1]) if kc else 0,
    }
    dbw = histogram(m, "smileyd_db_write_seconds")
    res["db_write_ms"] = {"p50_le": hist_quantile(dbw, 0.5), "p99_le": hist_quantile(dbw, 0.99)}
    res["smileyd_rtp_out"] = metric_value(m, 'smileyd_rtp_packets_total{direction="out"}')
    res["smileyd_dtmf_digits"] = metric_value(m, 'smileyd_dtmf_digits_total{source="rfc4733"}')
    rows = read_monitor(os.path.join(d, "monitor.csv"))
    res["cpu"] = cpu_stats(rows, a.concurrency)
    base = rows[0]["rss_kb"] if rows else None
    peak = max((r["rss_kb"] for r in rows), default=None)
    res["rss"] = {
        "base_kb": base,
        "peak_kb": peak,
        "hwm_kb": rows[-1]["hwm_kb"] if rows else None,
        "peak_active": max((r["active"] or 0 for r in rows), default=0),
    }
    if base and peak and res["rss"]["peak_active"]:
        res["rss"]["per_call_kb"] = round((peak - base) / res["rss"]["peak_active"], 1)
    # CPU per call: the plateau's cores over the calls it started a second.
    cps = res.get("achieved_cps") or a.rate
    if res["cpu"].get("plateau_cores") is not None and cps:
        res["cpu"]["ms_per_call"] = round(res["cpu"]["plateau_cores"] * 1000.0 / cps, 3)
    if res["cpu"].get("total_cpu_s") is not None and res.get("completed"):
        res["cpu"]["total_ms_per_call"] = round(res["cpu"]["total_cpu_s"] * 1000.0 / res["completed"], 3)
    print(json.dumps(res, sort_keys=True))


# ---------------------------------------------------------------------------
# report


def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def cmd_report(a):
    steps = []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if line:
                steps.append(json.loads(line))
    lines = []
    levels = [s for s in steps if s.get("kind") == "level"]
    steps = [s for s in steps if s.get("kind") != "level"]
    if levels:
        lines += level_table(levels)
    if steps:
        lines += step_table(steps)
    with open(a.md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if a.png and steps:
        plot(steps, a.png)


def level_table(levels):
    """The survey-call levels (bench/load.sh --levels): one row each."""
    lines = [
        "| run | limit | calls/s (achieved) | peak active | calls ok / failed | ratings stored | retrans. "
        "| CPU avg / peak (cores) | **CPU ms per call** | RSS base → peak (MiB) | KiB per call "
        "| INVITE→200 p50 / p99 (ms) | RTP gap p50 / p99 / max (ms) |",
        "|---|" + "---:|" * 12,
    ]
    for s in levels:
        r = s.get("rtp") or {}
        rss = s.get("rss") or {}
        cpu = s.get("cpu") or {}
        su = s.get("setup_ms") or {}
        mib = lambda kb: None if kb is None else kb / 1024.0
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{s.get('generator')}, {(s.get('media') or 'rtp').upper()}",
                    fmt(s["concurrency"]),
                    f"{fmt(s['rate'], 1)} ({fmt(s.get('achieved_cps'), 1)})",
                    fmt(rss.get("peak_active")),
                    f"{fmt(s.get('completed'))} / {fmt(s.get('failed'))}",
                    f"{fmt(s.get('ratings_stored'))} of {fmt(s.get('pressed'))}"
                    + (f" ({s['ratings_journal_only']} in the journal)" if s.get("ratings_journal_only") else ""),
                    fmt(s.get("retransmissions")),
                    f"{fmt(cpu.get('plateau_cores'), 3)} / {fmt(cpu.get('peak_1s_cores'), 2)}",
                    f"**{fmt(cpu.get('ms_per_call'), 2)}**",
                    f"{fmt(mib(rss.get('base_kb')))} → {fmt(mib(rss.get('peak_kb')))}",
                    fmt(rss.get("per_call_kb")),
                    f"{fmt(su.get('p50'), 2)} / {fmt(su.get('p99'), 2)}",
                    f"{fmt(r.get('p50'), 2)} / {fmt(r.get('p99'), 2)} / {fmt(r.get('max'), 1)}",
                ]
            )
            + " |"
        )
    lines.append("")
    return lines


def step_table(steps):
    lines = []
    lines.append(
        "| generator | target calls | rate /s | peak active | attempted | completed | pressed | ratings stored (of which journal) | failed (why) "
        "| CPU plateau (cores) | CPU peak 1 s | RSS base → peak (MiB) | KiB/call | setup p50/p99 (ms) "
        "| key→commit p50/p99 (ms, ≤) | RTP gap p50/p99/max (ms) | RTP lost | gaps outside 20±2 |"
    )
    lines.append("|" + "---|" * 18)
    for s in steps:
        fails = s.get("failures") or {}
        why = ", ".join(f"{k} {v}" for k, v in fails.items()) if fails else ""
        failed = f"{s.get('failed')}" + (f" ({why})" if why else "")
        r = s.get("rtp") or {}
        rss = s.get("rss") or {}
        cpu = s.get("cpu") or {}
        su = s.get("setup_ms") or {}
        kc = s.get("keypress_commit_ms") or {}
        mib = lambda kb: None if kb is None else kb / 1024.0
        lost = r.get("lost")
        if r.get("receiver_socket_drops"):
            lost = f"{lost} ({r['receiver_socket_drops']} dropped by the generator's socket)"
        outside = r.get("outside_20pm2")
        if outside is not None and r.get("n"):
            outside = f"{outside} of {r['n']} ({100.0 * outside / r['n']:.2f} %)"
        lines.append(
            "| "
            + " | ".join(
                [
                    s["generator"],
                    fmt(s["concurrency"]),
                    fmt(s["rate"], 0),
                    fmt(rss.get("peak_active")),
                    fmt(s.get("attempted")),
                    fmt(s.get("completed")),
                    fmt(s.get("pressed")),
                    fmt(s.get("ratings_stored"))
                    + (f" ({s['ratings_journal_only']})" if s.get("ratings_journal_only") else ""),
                    failed,
                    fmt(cpu.get("plateau_cores"), 2),
                    fmt(cpu.get("peak_1s_cores"), 2),
                    f"{fmt(mib(rss.get('base_kb')))} → {fmt(mib(rss.get('peak_kb')))}",
                    fmt(rss.get("per_call_kb")),
                    f"{fmt(su.get('p50'), 2)} / {fmt(su.get('p99'), 2)}",
                    f"{fmt(kc.get('p50_le'), 1)} / {fmt(kc.get('p99_le'), 1)}",
                    f"{fmt(r.get('p50'), 2)} / {fmt(r.get('p99'), 2)} / {fmt(r.get('max'), 1)}",
                    fmt(lost),
                    fmt(outside),
                ]
            )
            + " |"
        )
    # RSS slope over the concurrency steps of each generator.
    for gen in sorted({s["generator"] for s in steps}):
        pts = [
            (s["rss"]["peak_active"], s["rss"]["peak_kb"])
            for s in steps
            if s["generator"] == gen and s.get("kind", "concurrency") == "concurrency" and s.get("rss", {}).get("peak_kb")
        ]
        if len(pts) >= 2:
            n = len(pts)
            mx = sum(p[0] for p in pts) / n
            my = sum(p[1] for p in pts) / n
            sxx = sum((p[0] - mx) ** 2 for p in pts)
            if sxx > 0:
                slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
                lines.append("")
                lines.append(
                    f"RSS slope ({gen}, least squares over the steps): {slope:.1f} KiB per active call, "
                    f"intercept {(my - slope * mx) / 1024:.1f} MiB."
                )
    return lines


def plot(steps, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return
    fig, ax1 = plt.subplots(figsize=(8, 4.5))
    ax2 = ax1.twinx()
    markers = {"sipp": "o", "smiley-load": "s"}
    for gen in sorted({s["generator"] for s in steps}):
        pts = sorted(
            (s["concurrency"], s["cpu"].get("plateau_cores"), s["rss"].get("peak_kb"))
            for s in steps
            if s["generator"] == gen and s.get("kind", "concurrency") == "concurrency"
        )
        if not pts:
            continue
        xs = [p[0] for p in pts]
        ax1.plot(xs, [p[1] if p[1] is not None else float("nan") for p in pts], "-" + markers.get(gen, "x"), color="tab:red", label=f"CPU ({gen})")
        ax2.plot(xs, [p[2] / 1024 if p[2] else float("nan") for p in pts], "--" + markers.get(gen, "x"), color="tab:blue", label=f"RSS ({gen})")
    ax1.set_xlabel("concurrent survey calls")
    ax1.set_ylabel("smileyd CPU (cores, user+sys)", color="tab:red")
    ax2.set_ylabel("smileyd peak RSS (MiB)", color="tab:blue")
    ax1.axhline(1.0, color="tab:red", linestyle=":", linewidth=0.8)
    ax1.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax1.set_title("smileyd under load (2 cores, generator on the same machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("monitor")
    m.add_argument("pid", type=int)
    m.add_argument("metrics")
    m.add_argument("out")
    m.add_argument("--interval", type=float, default=1.0)
    s = sub.add_parser("step")
    s.add_argument("--dir", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--generator", required=True)
    s.add_argument("--concurrency", type=int, required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--calls", type=int, required=True)
    s.add_argument("--hold-ms", type=int, required=True)
    s.add_argument("--kind", default="concurrency")
    s.add_argument("--media", default="rtp", help="rtp or srtp")
    r = sub.add_parser("report")
    r.add_argument("results")
    r.add_argument("md")
    r.add_argument("png", nargs="?")
    g = sub.add_parser("gaps")
    g.add_argument("pcap")
    a = ap.parse_args()
    if a.cmd == "monitor":
        cmd_monitor(a)
    elif a.cmd == "step":
        cmd_step(a)
    elif a.cmd == "report":
        cmd_report(a)
    elif a.cmd == "gaps":
        print(json.dumps(pcap_gaps(a.pcap)))


if __name__ == "__main__":
    main()
