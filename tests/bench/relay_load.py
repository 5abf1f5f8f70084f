#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Concurrent relayed G.711 calls: PBX CPU and resident memory per call.

For each number of calls N (100, 500, 1000), on a fresh PBX:

1. Start build/pbx -f with a throw-away state directory, the one-line
   dialplan of call_rate.py (`_1XXX` dials "SIP/" .. exten), users 1000 and
   2000, and register a SIPp UAS as 1000 (all as tests/bench/call_rate.py).
2. One warm-up call (call_rate.py's probe), then the baseline: the PBX's
   VmRSS with no call up.
3. N calls, SIPp caller (scenarios/call_uac.xml) -> PBX -> SIPp callee
   (scenarios/call_uas.xml), set up at 200 calls/s and held for a fixed
   time (-d) that covers the measurement. Both SIPps offer in their SDP one
   port of the RTP generator, the caller side one port, the callee side
   another, and log the RTP port the PBX gave each leg (-trace_logs).
4. Once all N calls are up, rtp_blaster (tests/bench/rtp_blaster.c, built
   here with cc) sends G.711 RTP on both legs of every call: a 172-byte
   packet every 20 ms per leg, N * 100 packets a second in all, and reads
   what the PBX relays. After 1 s of warm-up, the PBX's CPU time (utime +
   stime of all its threads, /proc/PID/stat) is taken over a 10 s window,
   as % of one core, with the packets sent and relayed in that window, and
   its VmRSS at the end of the window.
5. The calls end with BYE when their hold time is over; SIPp's counts of
   failed calls are shown.

The PBX runs on CPU 0, SIPp and the RTP generator on CPU 1 (taskset).

Figures ("LABEL: NUMBER UNIT", recorded by tests/bench/run.sh), per N:
  relay N calls: X% CPU, Y KiB/call
  relay N calls, PBX CPU: X %            (the same X, alone)
  relay N calls, RSS per call: Y KiB     ((VmRSS with N calls - baseline) / N)
  relay N calls, RTP sent: S packets/s   (achieved by the generator; offered N*100)
  relay N calls, RTP relayed: R packets/s (came back through the PBX)
When the generator falls short of the offered rate, the achieved rate is
what the CPU figure belongs to; it is printed next to it.

Exit status: 0 when at least one N was measured, 1 otherwise ("FAILED: why").
This is a benchmark, not a test: it asserts nothing about the figures.
"""

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import call_rate as cr  # noqa: E402
import register_rate as rr  # noqa: E402

from register_rate import BenchError, Interrupted, log, tail  # noqa: E402

ROOT = rr.ROOT
BLASTER_SRC = os.path.join(ROOT, "tests", "bench", "rtp_blaster.c")
PPS_PER_LEG = 50


def backlog_drops():
    """Packets dropped for a full per-CPU input backlog (loopback too), /proc/net/softnet_stat."""
    try:
        with open("/proc/net/softnet_stat") as f:
            return sum(int(line.split()[1], 16) for line in f if line.strip())
    except (OSError, ValueError, IndexError):
        return 0


def build_blaster(workdir):
    cc = os.environ.get("CC") or "cc"
    if not shutil.which(cc):
        raise BenchError(f"no C compiler ('{cc}') to build {os.path.relpath(BLASTER_SRC, ROOT)}")
    out = os.path.join(workdir, "rtp_blaster")
    r = subprocess.run([cc, "-O2", "-std=gnu11", "-Wall", "-o", out, BLASTER_SRC],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise BenchError(f"building rtp_blaster failed: {r.stdout.decode(errors='replace')[:300]}")
    return out


def read_legs(path):
    """SIPp <log> lines "OUR_PORT m=audio PBX_PORT" -> [(our, pbx)]."""
    legs = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r"(\d+) m=audio (\d+)", line)
                if m:
                    legs.append((int(m.group(1)), int(m.group(2))))
    except OSError:
        pass
    return legs


class Blaster:
    """rtp_blaster running; its per-second counter lines read as they come."""

    LINE = re.compile(r"t=([\d.]+) sent=(\d+) recv=(\d+) senderr=(\d+) lag_max_us=(\d+)")

    def __init__(self, args, binary, mapfile, seconds, workdir):
        cmd = [binary, mapfile, str(seconds)]
        if args.pin:
            cmd = ["taskset", "-c", "1"] + cmd
        self.errf = os.path.join(workdir, "rtp_blaster.err")
        with open(self.errf, "w") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err, cwd=workdir, start_new_session=True)
        self.buf = b""
        self.lines = []
        self.done = None

    def next_sample(self, deadline):
        """The next "t=..." line as a namespace, None at the end or at @deadline."""
        fd = self.proc.stdout.fileno()
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl].decode(errors="replace"), self.buf[nl + 1:]
                self.lines.append(line)
                if line.startswith("done"):
                    self.done = line
                m = self.LINE.match(line)
                if m:
                    return SimpleNamespace(t=float(m.group(1)), sent=int(m.group(2)),
                                           recv=int(m.group(3)), senderr=int(m.group(4)),
                                           lag_us=int(m.group(5)), now=time.monotonic())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            data = os.read(fd, 65536)
            if not data:
                return None
            self.buf += data

    def finish(self, timeout=5):
        """Read to its end and reap it (SIGTERM, then SIGKILL, after @timeout s).

        Returns its CPU seconds (utime + stime)."""
        deadline = time.monotonic() + timeout
        while self.next_sample(deadline) is not None:
            pass
        _, ru, _ = cr.reap(self.proc, deadline, signal.SIGTERM, 2)
        self.proc.stdout.close()
        return ru.ru_utime + ru.ru_stime

    def error_text(self):
        return tail(self.errf, 3).replace("\n", " ") or f"exit status {self.proc.returncode}"


def measure(args, blaster_bin, n, workdir):
    """One level: N relayed calls on a fresh PBX. Returns a namespace of results."""
    wd = os.path.join(workdir, f"n{n}")
    os.makedirs(wd)
    res = SimpleNamespace(n=n, notes=[])
    pbx = cr.start_pbx(args, wd)
    uas = uac = blaster = None
    try:
        uas_port, uac_port, uas_mp, uac_mp, rtp_a, rtp_b = cr.free_ports(6)
        cr.register_callee(args, pbx, wd, uas_port)
        csv = cr.caller_csv(wd)
        cr.probe(args, pbx, wd, uas_port, csv, uac_port, uac_mp, uas_mp)
        time.sleep(0.3)
        res.rss0 = pbx.rss_kib()

        # rtp_a, rtp_b: the generator's ports, one for the caller legs, one
        # for the callee legs.
        # Each call is held long enough for the whole measurement even when
        # the last calls come up late (up to wait_up): the first call ends
        # hold_s after it started, the last ramp s later.
        ramp = n / args.setup_rate
        wait_up = ramp + 2
        blast_s = args.warmup + args.window + 0.5
        hold_s = wait_up + blast_s + 1
        timeout_s = int(ramp + hold_s + 15)
        uas_log, uac_log = os.path.join(wd, "uas_legs.log"), os.path.join(wd, "uac_legs.log")
        uas_stat, uas_err, uas_common = cr.sipp_common(args, "uas", wd)
        uac_stat, uac_err, uac_common = cr.sipp_common(args, "uac", wd)
        uas_out, uac_out = os.path.join(wd, "uas.out"), os.path.join(wd, "uac.out")
        uas_cmd = [args.sipp, "-sf", os.path.join(cr.SCENARIOS, "call_uas.xml"),
                   "-i", "127.0.0.1", "-p", str(uas_port), "-mp", str(uas_mp),
                   "-set", "rtpport", str(rtp_b), "-m", str(n),
                   "-trace_logs", "-log_file", uas_log,
                   "-timeout", f"{timeout_s + 5}s"] + uas_common
        uac_cmd = [args.sipp, f"127.0.0.1:{pbx.port}",
                   "-sf", os.path.join(cr.SCENARIOS, "call_uac.xml"), "-inf", csv,
                   "-i", "127.0.0.1", "-p", str(uac_port), "-mp", str(uac_mp),
                   "-set", "rtpport", str(rtp_a), "-d", str(int(hold_s * 1000)),
                   "-r", str(args.setup_rate), "-rp", "1000", "-m", str(n), "-l", str(n),
                   "-trace_logs", "-log_file", uac_log,
                   "-timeout", f"{timeout_s}s"] + uac_common
        uas = cr.spawn(args, uas_cmd, wd, uas_out)
        if not cr.wait_bound(uas_port, uas):
            raise BenchError("the SIPp UAS did not start: "
                             + (tail(uas_out, 3).replace("\n", " ") or "no output"))
        cpu_setup0 = pbx.cpu_s()
        t0 = time.monotonic()
        uac = cr.spawn(args, uac_cmd, wd, uac_out)

        # Until every call is up on both sides (or the wait is over).
        deadline = t0 + wait_up
        while time.monotonic() < deadline:
            a, b = read_legs(uac_log), read_legs(uas_log)
            if len(a) >= n and len(b) >= n:
                break
            if uac.poll() is not None:
                break
            time.sleep(0.1)
        res.setup_s = time.monotonic() - t0
        res.setup_cpu = pbx.cpu_s() - cpu_setup0
        a, b = read_legs(uac_log), read_legs(uas_log)
        res.up = min(len(a), len(b))
        res.legs = len(a) + len(b)
        if uac.poll() is not None:
            raise BenchError(f"the SIPp caller ended before the calls were up (exit status "
                             f"{uac.returncode}): " + cr.errors_of(uac_err, uac_out))
        if res.up == 0:
            raise BenchError(f"no call came up within {wait_up:.0f} s: caller: "
                             + cr.errors_of(uac_err, uac_out) + "; PBX log: "
                             + tail(pbx.logfile, 2).replace("\n", " "))
        if res.up < n:
            res.notes.append(f"only {len(a)} caller legs and {len(b)} callee legs were up "
                             f"after {wait_up:.0f} s; measuring those")
        bad = [p for _, p in a + b if not (cr.RTP_PORTS[0] <= p <= cr.RTP_PORTS[1])]
        if bad:
            res.notes.append(f"{len(bad)} legs with a PBX RTP port outside "
                             f"{cr.RTP_PORTS[0]}-{cr.RTP_PORTS[1]}, e.g. {bad[0]}")
        mapfile = os.path.join(wd, "legs.map")
        with open(mapfile, "w") as f:
            for _, theirs in a:
                f.write(f"{rtp_a} {theirs}\n")
            for _, theirs in b:
                f.write(f"{rtp_b} {theirs}\n")

        # RTP on every leg; the window is measured between two counter lines.
        blaster = Blaster(args, blaster_bin, mapfile, blast_s, wd)

        def others():
            """CPU seconds of the generator and both SIPps, and of the whole machine."""
            gen = sipp = 0.0
            try:
                gen = rr.proc_cpu_s(blaster.proc.pid)
                sipp = rr.proc_cpu_s(uac.pid) + rr.proc_cpu_s(uas.pid)
            except (OSError, ValueError, IndexError):
                pass
            return gen, sipp, rr.busy_cpu_s()
        first = last = None
        lag_us = 0
        end_by = time.monotonic() + blast_s + 5
        while True:
            s = blaster.next_sample(end_by)
            if s is None:
                break
            if first is None and s.t >= args.warmup - 0.001:
                first = s
                first.cpu, first.wait = pbx.cpu_s(), pbx.wait_s()
                first.drops, first.backlog = rr.udp_drops(), backlog_drops()
                first.gen, first.sipp, first.busy = others()
            elif first is not None:
                lag_us = max(lag_us, s.lag_us)
                if s.t >= first.t + args.window - 0.001:
                    last = s
                    last.cpu, last.wait = pbx.cpu_s(), pbx.wait_s()
                    last.drops, last.backlog = rr.udp_drops(), backlog_drops()
                    last.gen, last.sipp, last.busy = others()
                    res.rss = pbx.rss_kib()
                    break
        blaster.finish()
        if first is None or last is None:
            raise BenchError("the RTP generator gave no measurement window: "
                             + blaster.error_text() + (f" (last line: {blaster.lines[-1]})"
                                                       if blaster.lines else ""))
        if not pbx.alive():
            raise BenchError(f"the PBX died while relaying ({cr.died(pbx)}): "
                             + tail(pbx.logfile, 3).replace("\n", " "))
        # Rates over real time (when the counter lines were read), not over the
        # generator's schedule: a generator that fell behind and caught up in
        # bursts shows as such.
        dt = last.now - first.now
        res.window = dt
        res.cpu_pct = 100.0 * (last.cpu - first.cpu) / dt
        res.wait_pct = 100.0 * (last.wait - first.wait) / dt
        res.gen_pct = 100.0 * (last.gen - first.gen) / dt
        res.sipp_pct = 100.0 * (last.sipp - first.sipp) / dt
        res.other_pct = 100.0 * (last.busy - first.busy) / dt - res.cpu_pct - res.gen_pct - \
            res.sipp_pct
        res.offered = res.legs * PPS_PER_LEG
        res.sent = (last.sent - first.sent) / dt
        res.relayed = (last.recv - first.recv) / dt
        res.senderr = last.senderr - first.senderr
        res.drops = (last.drops - first.drops) / dt
        res.backlog = (last.backlog - first.backlog) / dt
        res.lag_ms = lag_us / 1000
        res.rss_per_call = (res.rss - res.rss0) / res.up
        res.ns_per_pkt = 1e9 * (last.cpu - first.cpu) / (last.recv - first.recv) \
            if last.recv > first.recv else float("nan")

        if last.now > t0 + hold_s:
            res.notes.append(f"the window closed {last.now - t0 - hold_s:.1f} s after the "
                             "first calls began to hang up (the generator ran late): "
                             "fewer calls were up at its end")

        # The calls end by themselves when their hold time is over.
        _, _, uac_how = cr.reap(uac, t0 + ramp + hold_s + 12)
        _, _, _ = cr.reap(uas, time.monotonic() + 3, signal.SIGUSR1)
        su, ss = cr.stats_of(uac_stat), cr.stats_of(uas_stat)
        res.uac = su
        res.uas = ss
        res.uac_errors = cr.errors_of(uac_err, uac_out)
        res.uas_errors = cr.errors_of(uas_err, uas_out)
        res.uac_killed = uac_how == "killed"
        return res
    finally:
        for p in (uac, uas):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if blaster is not None and blaster.proc.poll() is None:
            os.killpg(blaster.proc.pid, signal.SIGKILL)
            blaster.proc.wait()
        note = pbx.stop()
        if note:
            log("  note: " + note)


def on_signal(signum, frame):
    raise Interrupted(f"interrupted by signal {signum}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", default=os.path.join(ROOT, "build", "pbx"))
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--calls", default="100,500,1000",
                    help="numbers of concurrent calls, comma-separated")
    ap.add_argument("--setup-rate", type=int, default=200, help="calls per second to set them up")
    ap.add_argument("--warmup", type=float, default=1, help="seconds of RTP before the window")
    ap.add_argument("--window", type=float, default=10, help="seconds of the measurement window")
    ap.add_argument("--budget", type=float, default=75,
                    help="seconds for the whole benchmark; levels that may not fit are skipped")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the PBX to CPU 0 and SIPp/RTP to CPU 1")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    start = time.monotonic()
    levels = [int(x) for x in args.calls.split(",") if x.strip()]

    if not shutil.which(args.sipp):
        raise BenchError(f"'{args.sipp}' not found (Debian package sip-tester)")
    if not (os.path.isfile(args.pbx) and os.access(args.pbx, os.X_OK)):
        raise BenchError(f"{args.pbx} is not built")
    if args.pin and ((os.cpu_count() or 1) < 2 or not shutil.which("taskset")):
        log("  note: fewer than 2 CPUs or no taskset: not pinning")
        args.pin = False
    args.pbx = os.path.abspath(args.pbx)
    max_calls = (cr.RTP_PORTS[1] - cr.RTP_PORTS[0] + 1) // 4
    if max(levels) > max_calls:
        raise BenchError(f"{max(levels)} calls need more RTP ports than "
                         f"{cr.RTP_PORTS[0]}-{cr.RTP_PORTS[1]} (at most {max_calls} calls)")

    workdir = tempfile.mkdtemp(prefix="pbx-bench-relay-")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    load1 = os.getloadavg()[0]
    results = []
    try:
        blaster_bin = build_blaster(workdir)
        log(f"Relay load: PBX {os.path.relpath(args.pbx, ROOT)}"
            f"{' on CPU 0' if args.pin else ''}, SIPp and rtp_blaster "
            f"{'on CPU 1' if args.pin else 'unpinned'}; calls set up at {args.setup_rate}/s, "
            f"G.711 (PCMU, 20 ms, 172-byte packets) both ways on every leg, "
            f"{args.warmup:g} s warm-up, {args.window:g} s window")
        if load1 > 0.5:
            log(f"  note: the machine is not idle (load average {load1:.2f}): other work "
                "competes for the 2 cores; see 'other CPU'")
        stop_why = None
        for n in levels:
            # Start-up and warm-up call, then the last call ends after its
            # ramp and hold (ramp + 2 + RTP + 1), then the BYEs drain.
            need = 2 * n / args.setup_rate + args.warmup + args.window + 7
            left = args.budget - (time.monotonic() - start)
            if left < need:
                stop_why = f"time budget ({args.budget:g} s) used up before {n} calls"
                break
            log("")
            log(f"  {n} calls:")
            try:
                r = measure(args, blaster_bin, n, workdir)
            except (BenchError, OSError) as e:  # OSError: /proc of a PBX that died
                log(f"  {n} calls could not be measured: {e}")
                stop_why = f"{n} calls: {e}"
                break
            results.append(r)
            for note in r.notes:
                log("    note: " + note)
            log(f"    set-up: {r.up} calls up in {r.setup_s:.1f} s, "
                f"PBX CPU {1e6 * r.setup_cpu / max(1, r.up):.0f} us per call set up")
            log(f"    RTP: offered {r.offered} packets/s ({r.legs} legs x {PPS_PER_LEG}), "
                f"sent {r.sent:.0f}/s, relayed back {r.relayed:.0f}/s, send errors "
                f"{r.senderr}, the generator's clock at most {r.lag_ms:.1f} ms late; kernel drops: "
                f"{r.drops:.0f}/s at full socket buffers, {r.backlog:.0f}/s at a full "
                f"input backlog")
            log(f"    PBX: CPU {r.cpu_pct:.1f}% of one core over {r.window:.1f} s "
                f"({r.ns_per_pkt:.0f} ns per relayed packet; its threads waited "
                f"{r.wait_pct:.0f}% of the window for a CPU), VmRSS {r.rss0} KiB before the "
                f"calls, {r.rss} KiB with them ({r.rss_per_call:.1f} KiB per call)")
            log(f"    CPU in the window (100% = one core): PBX {r.cpu_pct:.0f}%, generator "
                f"{r.gen_pct:.0f}%, SIPp {r.sipp_pct:.0f}%, other work and unattributed "
                f"kernel time {r.other_pct:.0f}%")
            if r.sent < 0.98 * r.offered:
                log(f"    note: the generator sent only {r.sent:.0f} of {r.offered} packets/s: "
                    "the CPU figure is for that rate")
            if r.lag_ms > 20:
                log(f"    note: the generator's 1 ms slots were up to {r.lag_ms:.0f} ms late "
                    "(CPU 1 busy): its packets came in bursts")
            if r.relayed < 0.98 * r.sent:
                log(f"    note: the PBX relayed back only {r.relayed:.0f} of the "
                    f"{r.sent:.0f} packets/s sent; at its {r.ns_per_pkt:.0f} ns per packet "
                    f"all of them would take {r.ns_per_pkt * r.sent / 1e7:.0f}% of one core")
            if r.wait_pct > 10:
                log(f"    note: the PBX waited for its CPU {r.wait_pct:.0f}% of the window: "
                    "other work on CPU 0 disturbs this figure")
            if r.uac:
                log(f"    calls: caller {r.uac.ok} ok, {r.uac.failed} failed, "
                    f"{r.uac.unfinished} unfinished; callee "
                    + (f"{r.uas.ok} ok, {r.uas.failed} failed" if r.uas else "no statistics"))
                if r.uac.failed or r.uac.unfinished:
                    log(f"    caller errors: {r.uac_errors[:300]}")
                if r.uas and r.uas.failed:
                    log(f"    callee errors: {r.uas_errors[:300]}")
        if stop_why:
            log(f"  stopped: {stop_why}")
        log("")
        for r in results:
            short = ""
            if r.sent < 0.98 * r.offered:
                short += f" (generator reached {r.sent:.0f} of {r.offered} packets/s)"
            if r.relayed < 0.98 * r.sent:
                short += f" (relayed {r.relayed:.0f} of {r.sent:.0f} packets/s sent)"
            up = "" if r.up == r.n else f" ({r.up} up)"
            log(f"relay {r.n} calls: {r.cpu_pct:.1f}% CPU, {r.rss_per_call:.1f} KiB/call"
                f"{up}{short}")
            log(f"relay {r.n} calls, PBX CPU: {r.cpu_pct:.1f} %")
            log(f"relay {r.n} calls, RSS per call: {r.rss_per_call:.1f} KiB")
            log(f"relay {r.n} calls, RTP sent: {r.sent:.0f} packets/s (offered {r.offered})")
            log(f"relay {r.n} calls, RTP relayed: {r.relayed:.0f} packets/s")
        if not results:
            raise BenchError(stop_why or "nothing measured")
        return 0
    finally:
        if args.keep:
            log(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(1)
    except Interrupted as e:
        print(f"FAILED: {e}", flush=True)
        sys.exit(130)
