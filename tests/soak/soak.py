#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak: a steady mixed load for --minutes; does the PBX leak or leave things behind?

Starts the PBX (build/pbx, or --pbx) in the foreground with a throw-away
state directory, as tests/bench/overload.py does (whose helpers, and those
of register_rate.py, call_rate.py and message_rate.py, it imports), adds
--users REGISTER users (3000..), the caller 2000, the callee 1000 and the
message receiver 1002, and registers SIPp UASs as 1000 and 1002. Then,
all at once for --minutes (30):

  REGISTER  refreshes with digest for the --users users in turn, at R/s
            (tests/bench/scenarios/register_auth.xml);
  calls     with digest and RTP at R/20 calls/s: the caller plays --hold-ms
            of PCMU (call_uac_rtp.xml, play_pcap_audio), the callee echoes
            it (call_uas.xml, -rtp_echo), then BYE;
  MESSAGE   with digest at R/5 per second from 100 of the users to 1002,
            routed by the dialplan (message_uac.xml -> message_uas.xml).

R is --rate; by default 70 % of --max, or, without --max, 70 % of a
maximum measured first on the same PBX (overload.py's search of its "mix",
REGISTER at R/s and calls at R/20; a minute at most). --register-rate,
--call-rate and --message-rate set one load on its own.

Every --sample-seconds (10) it samples the PBX: VmRSS, open fds
(/proc/PID/fd), channels (`core show channels --json`), bridges (`core
show bridges --json`), server and client transactions (`sip show stats
--json`), its CPU, and the 503s it sent and its queue delay p99 when `sip
show stats --json` has them. The samples go to --out-dir/soak.csv
(build/soak/) and a plot to soak.png (python3-matplotlib).

Before the load it samples the idle PBX. After the load it waits up to
--settle-seconds for the fds and channels to come back. It PASSES (exit 0)
when every check does:

  failed     no registration, call or message failed (SIPp's counts, both
             sides of a call) and every load ran to its end;
  RSS slope  the least-squares slope of VmRSS over the samples after the
             warm-up (--warmup-seconds: a fifth of the run, at least 60 s)
             is under --slope-limit (1 MB per 10 minutes);
  fds        back to the idle count;
  channels   back to the idle count;
  exit       the PBX exits with status 0 on SIGTERM and its output has no
             sanitizer report (under ASan: no leak at exit).

Exit status 1 when a check fails (kept: the working directory, named),
2 when the soak could not run ("FAILED: why"), 130 when interrupted.
"""

import argparse
import csv as csvmod
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import register_rate as rr  # noqa: E402
import call_rate as cr  # noqa: E402
import message_rate as mr  # noqa: E402
import overload as ov  # noqa: E402  (the PBX with calls and messages routed, ports, search)

from register_rate import BenchError, Interrupted, log, tail  # noqa: E402

SCENARIOS = cr.SCENARIOS
CALL_RATIO = 20      # calls/s = R / this
MESSAGE_RATIO = 5    # MESSAGE/s = R / this
SENDERS = 100
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "LeakSanitizer has encountered a fatal error", "runtime error:")
COLUMNS = ["t_s", "phase", "rss_mb", "fds", "channels", "bridges", "server_transactions",
           "client_transactions", "pbx_cpu_pct", "shed", "queue_delay_p99_ms"]


# ---- samples ---------------------------------------------------------------------


class Sampler:
    def __init__(self, pbx, t0):
        self.pbx, self.t0 = pbx, t0
        self.rows = []
        self.cpu = (time.monotonic(), pbx.cpu_s())

    def take(self, phase):
        """One sample of the PBX (a dict of COLUMNS), kept and returned."""
        pbx = self.pbx
        now, cpu = time.monotonic(), pbx.cpu_s()
        # Before the console commands: their connection is an fd of the PBX too.
        fds, rss = pbx.fds(), pbx.rss_kib()
        chans, bridges, stats = pbx.json_of("core show channels --json",
                                            "core show bridges --json",
                                            "sip show stats --json")
        stats = stats or {}
        qd = stats.get("queue_delay_ms")
        r = {"t_s": round(now - self.t0, 1), "phase": phase,
             "rss_mb": round(rss / 1024.0, 2), "fds": fds,
             "channels": len(chans) if isinstance(chans, list) else None,
             "bridges": len(bridges) if isinstance(bridges, list) else None,
             "server_transactions": stats.get("server_transactions"),
             "client_transactions": stats.get("client_transactions"),
             "pbx_cpu_pct": round(100.0 * (cpu - self.cpu[1]) / (now - self.cpu[0]), 1)
             if now > self.cpu[0] else None,
             "shed": stats.get("shed"),
             "queue_delay_p99_ms": qd.get("p99") if isinstance(qd, dict) else None}
        self.cpu = (now, cpu)
        self.rows.append(r)
        return r


def show(r):
    f = lambda v: "-" if v is None else v  # noqa: E731
    return (f"  {r['t_s']:7.0f} s {r['phase']:6s} RSS {r['rss_mb']:7.1f} MB  fds {r['fds']:4d}  "
            f"channels {f(r['channels'])}  bridges {f(r['bridges'])}  "
            f"tsx {f(r['server_transactions'])}/{f(r['client_transactions'])}  "
            f"CPU {f(r['pbx_cpu_pct'])}%  503s {f(r['shed'])}  "
            f"qdelay p99 {f(r['queue_delay_p99_ms'])} ms")


def slope_per_s(points):
    """Least-squares slope of [(t, y)]."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csvmod.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})


def plot(path, rows, warmup_s, load_end_s, title):
    """soak.png; returns None, or why there is no plot."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "python3-matplotlib is not installed (make deps installs it)"
    t = [r["t_s"] for r in rows]

    def series(k):
        return [float("nan") if r[k] is None else r[k] for r in rows]
    fig, ax = plt.subplots(4, 1, sharex=True, figsize=(9, 10))
    ax[0].plot(t, series("rss_mb"), marker=".")
    ax[0].set_ylabel("VmRSS (MB)")
    ax[1].plot(t, series("fds"), marker=".")
    ax[1].set_ylabel("open fds")
    ax[2].plot(t, series("channels"), marker=".", label="channels")
    ax[2].plot(t, series("bridges"), marker=".", label="bridges")
    ax[2].legend(loc="upper right")
    ax[3].plot(t, series("server_transactions"), marker=".", label="server")
    ax[3].plot(t, series("client_transactions"), marker=".", label="client")
    ax[3].set_ylabel("transactions")
    ax[3].legend(loc="upper right")
    ax[3].set_xlabel("seconds since the load started")
    for a in ax:
        a.axvline(warmup_s, color="grey", linestyle=":")
        a.axvline(load_end_s, color="grey", linestyle="--")
        a.grid(True, alpha=0.3)
    ax[0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return None


# ---- the load ------------------------------------------------------------------


class Runner(threading.Thread):
    """One SIPp load, run to its end in a thread; .result or .error afterwards."""

    def __init__(self, name, fn):
        super().__init__(name=name, daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as e:  # reported by the main thread
            self.error = e


def measure_max(args, load):
    """overload.py's search of its mix (REGISTER at R/s, calls at R/20), short steps."""
    s = load.args
    s.search_seconds, s.bisect, s.max_fail = 2, 2, 0.1
    s.mix_call_ratio = CALL_RATIO
    log("  measuring the maximum first (overload.py's search of REGISTER + calls; "
        "give --max or --rate to skip it):")
    best, why = ov.search(load, "mix", min(200, args.search_cap), args.search_cap,
                          time.monotonic() + 60)
    log(f"  search stopped: {why}")
    if not best:
        raise BenchError(f"no sustained rate found: {why}")
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", default=os.path.join(ROOT, "build", "pbx"))
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, help="R: REGISTER/s; calls R/20, MESSAGE R/5")
    ap.add_argument("--max", type=float, help="maximum R; the default rate is 70%% of it")
    ap.add_argument("--search-cap", type=int, default=40000,
                    help="highest REGISTER/s the measurement of the maximum tries")
    ap.add_argument("--register-rate", type=float)
    ap.add_argument("--call-rate", type=float)
    ap.add_argument("--message-rate", type=float)
    ap.add_argument("--users", type=int, default=2000, help="REGISTER users (3000..)")
    ap.add_argument("--hold-ms", type=int, default=2000, help="RTP per call (20 ms packets)")
    ap.add_argument("--sample-seconds", type=float, default=10)
    ap.add_argument("--warmup-seconds", type=float,
                    help="samples before this are left out of the RSS slope "
                         "(default: a fifth of the run, at least 60)")
    ap.add_argument("--slope-limit", type=float, default=1.0, help="MB per 10 minutes")
    ap.add_argument("--settle-seconds", type=float, default=40,
                    help="wait at most this long after the load for fds and channels")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "build", "soak"))
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the PBX to CPU 0 and SIPp to CPU 1")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    args = ap.parse_args()
    duration = args.minutes * 60
    warmup = args.warmup_seconds if args.warmup_seconds is not None else max(60, duration / 5)
    if warmup + 3 * args.sample_seconds > duration:
        raise BenchError(f"--minutes {args.minutes:g} leaves fewer than 3 samples after the "
                         f"warm-up of {warmup:g} s")
    ov.check_tools(args)
    os.makedirs(args.out_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="pbx-soak-")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pbx = None
    runners = []
    passed = False
    try:
        pbx = ov.start_pbx(args, workdir, args.users)
        log(f"Soak: PBX {os.path.relpath(args.pbx, ROOT)} pid {pbx.proc.pid} on "
            f"udp:127.0.0.1:{pbx.port}{' (CPU 0), SIPp on CPU 1' if args.pin else ''}, "
            f"{args.minutes:g} min")
        lopts = SimpleNamespace(sipp=args.sipp, pin=args.pin, users=args.users,
                                mix_call_ratio=CALL_RATIO, max_fail=0.1)
        load = ov.Load(lopts, pbx, workdir)
        ov.register_user(args, pbx, workdir, ov.CALLEE, load.uas_port)
        if args.rate is None:
            mx = args.max if args.max is not None else measure_max(args, load)
            args.rate = 0.7 * mx
            log(f"  rate: 70% of {mx:g}/s = {args.rate:.0f}/s")
        reg_rate = args.register_rate if args.register_rate is not None else args.rate
        call_rate = args.call_rate if args.call_rate is not None else args.rate / CALL_RATIO
        msg_rate = (args.message_rate if args.message_rate is not None
                    else args.rate / MESSAGE_RATIO)
        # Whole rates: SIPp's -l (derived from them) takes only an integer.
        reg_rate, call_rate, msg_rate = (max(1, round(r)) if r > 0 else 0
                                         for r in (reg_rate, call_rate, msg_rate))

        # Calls: call_rate.py's RTP series (the pcap and the scenario in workdir).
        packets = max(1, args.hold_ms // 20)
        cr.write_pcap(os.path.join(workdir, "call_rtp.pcap"), packets)
        shutil.copy(os.path.join(SCENARIOS, "call_uac_rtp.xml"), workdir)
        series = SimpleNamespace(tag="soakcall", rtp=True, hold_ms=packets * 20, packets=packets,
                                 scenario=os.path.join(workdir, "call_uac_rtp.xml"),
                                 uac_mp=load.uac_mp, uas_mp=load.uas_mp)
        # Messages: 1002 registered from the port its UAS then answers on.
        msg_port, msg_uac_port = load.bg_uas_port, load.bg_uac_port
        mr.register_targets(args, pbx, workdir, msg_port, [ov.MSG_TARGET])
        msg_csv = mr.write_csv(os.path.join(workdir, "messages.csv"), [ov.MSG_TARGET],
                               min(SENDERS, args.users))
        reg_args = SimpleNamespace(sipp=args.sipp, pin=args.pin,
                                   scenario=os.path.join(SCENARIOS, "register_auth.xml"))
        uas = mr.start_uas(args, workdir, msg_port, duration + 90)

        mr.settle(pbx)
        time.sleep(1)
        t0 = time.monotonic()
        sampler = Sampler(pbx, t0)
        idle = sampler.take("idle")
        idle["t_s"] = 0.0
        log(f"  idle: VmRSS {idle['rss_mb']:.1f} MB, {idle['fds']} fds, "
            f"{idle['channels']} channels, {idle['bridges']} bridges")
        log(f"  load: {reg_rate:g} REGISTER/s over {args.users} users, {call_rate:g} calls/s "
            f"with {packets * 20} ms of RTP each way, {msg_rate:g} MESSAGE/s; a sample every "
            f"{args.sample_seconds:g} s, RSS slope after {warmup:g} s")

        def n(rate):
            return max(1, int(rate * duration))
        if reg_rate > 0:
            runners.append(Runner("REGISTER", lambda: rr.run_sipp(
                reg_args, pbx, workdir, load.reg_csv, load.reg_port, reg_rate, n(reg_rate),
                limit=max(200, int(reg_rate)), timeout_s=int(duration + 30), tag="soak_reg")))
        if call_rate > 0:
            runners.append(Runner("calls", lambda: cr.run_step(
                args, pbx, workdir, series, call_rate, n(call_rate), load.uas_port,
                load.call_csv, load.uac_port)))
        if msg_rate > 0:
            runners.append(Runner("MESSAGE", lambda: mr.run_step(
                args, pbx, workdir, os.path.join(SCENARIOS, "message_uac.xml"), msg_csv,
                msg_rate, n(msg_rate), msg_uac_port, "soak_msg", uas=uas)))
        t0 = time.monotonic()
        sampler.t0 = t0
        for r in runners:
            r.start()
        log("")
        next_at = t0 + args.sample_seconds
        hard_end = t0 + duration + 90
        while any(r.is_alive() for r in runners) and time.monotonic() < hard_end:
            time.sleep(min(0.5, max(0.0, next_at - time.monotonic())))
            if time.monotonic() >= next_at:
                next_at += args.sample_seconds
                if not pbx.alive():
                    break
                log(show(sampler.take("load")))
        load_end = time.monotonic() - t0
        if not pbx.alive():
            raise BenchError(f"the PBX died under load ({cr.died(pbx)}): "
                             + tail(pbx.logfile, 5).replace("\n", " "))
        for r in runners:
            r.join(timeout=20)
        mr.stop_uas(uas)

        # Settle: until fds and channels are back to idle, or --settle-seconds.
        settle_end = time.monotonic() + args.settle_seconds
        while True:
            time.sleep(2)
            end = sampler.take("settle")
            log(show(end))
            back = (end["fds"] <= idle["fds"]
                    and (end["channels"] or 0) <= (idle["channels"] or 0))
            if back or time.monotonic() >= settle_end:
                break
        rows = sampler.rows

        # Checks.
        checks = []
        fails = []
        for r in runners:
            if r.error is not None:
                fails.append(f"{r.name}: could not run: {r.error}")
                continue
            st = r.result
            if st is None:
                fails.append(f"{r.name}: did not end")
                continue
            if st.fatal or st.killed:
                fails.append(f"{r.name}: {st.fatal or 'SIPp killed by the watchdog'}")
            bad = (st.uac_bad + st.uas_failed if r.name == "calls"
                   else getattr(st, "uac_bad", None))
            if bad is None:
                bad = st.failed + st.unfinished
            log(f"  {r.name}: {st.created} started, {st.ok} succeeded, {bad} failed, "
                f"{st.retrans} retransmissions, {st.achieved:.1f}/s")
            if bad:
                errs = st.uac_errors() if hasattr(st, "uac_errors") else rr.first_error(st)
                fails.append(f"{r.name}: {bad} failed: {errs}")
            if st.created < 0.95 * st.calls:
                fails.append(f"{r.name}: only {st.created} of {st.calls} started")
        checks.append(("failed", not fails, "; ".join(fails) or "none failed, all ran"))

        pts = [(r["t_s"], r["rss_mb"]) for r in rows if r["phase"] == "load"
               and r["t_s"] >= warmup]
        if len(pts) >= 3:
            slope = slope_per_s(pts) * 600
            checks.append(("RSS slope", slope < args.slope_limit,
                           f"{slope:+.2f} MB per 10 min over {len(pts)} samples from "
                           f"{pts[0][0]:.0f} s to {pts[-1][0]:.0f} s (limit "
                           f"{args.slope_limit:g})"))
        else:
            slope = None
            checks.append(("RSS slope", False, f"only {len(pts)} samples after the warm-up"))
        checks.append(("fds", end["fds"] <= idle["fds"],
                       f"{end['fds']} at the end, {idle['fds']} idle"))
        checks.append(("channels", (end["channels"] or 0) <= (idle["channels"] or 0)
                       and end["channels"] is not None,
                       f"{end['channels']} at the end, {idle['channels']} idle"))
        rc = pbx.stop_clean()
        with open(pbx.logfile, errors="replace") as f:
            text = f.read()
        found = [m for m in SANITIZER_MARKERS if m in text]
        checks.append(("exit", rc == 0 and not found,
                       f"exit status {rc}" + (f", sanitizer report: {', '.join(found)}"
                                              if found else ", no sanitizer report")))

        csv_path = os.path.join(args.out_dir, "soak.csv")
        write_csv(csv_path, rows)
        png_path = os.path.join(args.out_dir, "soak.png")
        why = plot(png_path, rows, warmup, load_end,
                   f"soak {args.minutes:g} min: {reg_rate:g} REGISTER/s, {call_rate:g} calls/s, "
                   f"{msg_rate:g} MESSAGE/s")
        log("")
        log(f"  samples: {os.path.relpath(csv_path)}")
        log(f"  plot: {os.path.relpath(png_path)}" if why is None else f"  note: no plot: {why}")
        if slope is not None:
            log(f"soak RSS slope: {slope:.2f} MB/10min")
        log(f"soak RSS at the end: {end['rss_mb']:.1f} MB (idle {idle['rss_mb']:.1f} MB)")
        for name, ok, what in checks:
            log(f"  {'PASS' if ok else 'FAIL'} {name}: {what}")
        passed = all(ok for _, ok, _ in checks)
        if found:
            log(text[-3000:])
        log(f"soak: {'PASSED' if passed else 'FAILED'}")
        return 0 if passed else 1
    finally:
        for r in runners:
            if r.is_alive():
                log(f"  note: the {r.name} load did not end")
        if pbx and pbx.proc:
            pbx.stop()
        kill_children()
        if args.keep or not passed:
            log(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def kill_children():
    """SIGKILL what this process started and is still running (SIPp after an
    interruption: each runs in its own session, led by the child's pid)."""
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
            if int(data[data.rindex(")") + 2:].split()[1]) == me:
                os.killpg(int(d), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def on_signal(signum, frame):
    raise Interrupted(f"interrupted by signal {signum}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(2)
    except Interrupted as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(130)
