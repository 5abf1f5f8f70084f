#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Calls per second through the PBX: SIPp caller -> build/pbx -> SIPp callee, on loopback.

Starts the PBX in the foreground with a throw-away state directory and a
one-line Lua dialplan (`_1XXX` dials "SIP/" .. exten), adds two users
through the console socket (1000, the callee, and 2000, the caller),
registers a SIPp UAS as 1000 (tests/bench/scenarios/register_auth.xml, sent
from the port the UAS then listens on), and runs SIPp's caller
(scenarios/call_uac.xml: INVITE -> 401 -> INVITE with MD5 digest -> 200 ->
ACK -> BYE at once -> 200) against it while the UAS
(scenarios/call_uas.xml) answers every INVITE the PBX forks to it.

Two series of steps at rising offered rates, each step one bounded SIPp run
(-m RATE*5 calls, -timeout, and a watchdog here), a fresh UAS per step:

  without media   the calls carry SDP but no RTP;
  with RTP        the caller plays a short PCMU recording (call_rtp.pcap,
                  written here) with play_pcap_audio, the callee echoes it
                  (-rtp_echo), so the PBX relays RTP both ways on every call,
                  and the caller hangs up when the recording ends
                  (scenarios/call_uac_rtp.xml).

A series stops at the first step where more than 0.1% of the calls failed,
when the achieved rate falls below 80% of the offered one, when the PBX
dies, or when its share of the time budget is used up. The PBX runs on
CPU 0 and both SIPps on CPU 1 (taskset).

Figures ("LABEL: NUMBER UNIT", recorded by tests/bench/run.sh): per step
"calls/s <series> step N/s offered: ...", and per series the highest
achieved rate of a step with at most 0.1% failures, "calls/s without media:
N" and "calls/s with RTP: N", with the PBX CPU time per call at that step.
Exit status: 0 when at least one series gave its figure, 1 otherwise (the
reason printed as "FAILED: why").

This is a benchmark, not a test: it asserts nothing about the figures.
"""

import argparse
import os
import random
import shutil
import socket
import signal
import struct
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import register_rate as rr  # noqa: E402  (the PBX start-up, console and SIPp helpers)

from register_rate import BenchError, Interrupted, log, tail  # noqa: E402

ROOT = rr.ROOT
SCENARIOS = os.path.join(ROOT, "tests", "bench", "scenarios")
DOMAIN = rr.DOMAIN
PASSWORD = rr.PASSWORD
CALLEE = "1000"
CALLER = "2000"
# RTP ports the PBX may take: below the kernel's ephemeral range (32768-),
# so SIPp's and the load generators' own sockets never collide with them;
# 12,000 ports are 3,000 calls of two legs with RTP and RTCP each.
RTP_PORTS = (20000, 31999)
# SIPp's signalling and media ports and relay_load.py's RTP generator ports:
# below the PBX's RTP range, so that the kernel never hands them out to
# someone else on its own (they are not ephemeral ports).
OWN_PORTS = (12000, 19999)
DIALPLAN = """-- written by tests/bench/call_rate.py
extensions = {
  default = {
    ["_1XXX"] = function(context, exten)
      app.dial("SIP/" .. exten)
    end,
  },
}
"""


def free_ports(n):
    """@n distinct loopback UDP ports from OWN_PORTS, each with the three above it
    free too (SIPp's -mp takes the port and the one two above it, for video)."""
    lo, hi = OWN_PORTS
    slots = list(range(lo, hi - 3, 4))
    start = random.randrange(len(slots))
    held, found = [], []
    try:
        for i in range(len(slots)):
            base = slots[(start + i) % len(slots)]
            socks = []
            try:
                for p in range(base, base + 4):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            except OSError:
                for s in socks:
                    s.close()
                continue
            held += socks
            found.append(base)
            if len(found) == n:
                return found
    finally:
        for s in held:
            s.close()
    raise BenchError(f"not {n} free groups of 4 UDP ports in {lo}-{hi}")


# ---- the PBX ---------------------------------------------------------------------


class CallPbx(rr.Pbx):
    """register_rate's PBX, with a dialplan, an RTP port range and no RTP timeout."""

    rtp_timeout = 0  # never hang up for lack of RTP: calls wait for their load

    def write_config(self, md5_only, ban_zero):
        super().write_config(md5_only, ban_zero)
        dp = os.path.join(self.workdir, "extensions.lua")
        with open(dp, "w") as f:
            f.write(DIALPLAN)
        with open(self.cfg, "a") as f:
            f.write(f"rtp = {{ port_min = {RTP_PORTS[0]}, port_max = {RTP_PORTS[1]}, "
                    f"timeout = {self.rtp_timeout} }}\n")
            f.write(f'dialplan = {{ file = "{dp}" }}\n')

    def wait_s(self):
        """Time the PBX's threads spent runnable but waiting for a CPU, in seconds
        (sum of run_delay over /proc/PID/task/*/schedstat): high when other
        work shares its CPU and the figures are disturbed."""
        total = 0
        base = f"/proc/{self.proc.pid}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            return float("nan")
        for tid in tids:
            try:
                with open(f"{base}/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, ValueError, IndexError):
                pass
        return total / 1e9

    def rss_kib(self):
        """VmRSS of the PBX, in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BenchError("no VmRSS in /proc/PID/status")


def died(pbx):
    """How the PBX process ended, for a report."""
    rc = pbx.proc.returncode if pbx.proc else None
    if rc is None:
        return "still running"
    if rc < 0:
        return f"killed by signal {-rc} ({signal.Signals(-rc).name})"
    return f"exit status {rc}"


def start_pbx(args, workdir):
    """PBX up, users 1000 and 2000 added; returns the CallPbx."""
    pbx = CallPbx(args.pbx, workdir, rr.free_port_pair(), args.pin)
    pbx.start()
    for n in pbx.notes:
        log("  note: " + n)
    res = rr.console_batch(pbx.ctl_path(), [f"user add {u} --password {PASSWORD}"
                                            for u in (CALLEE, CALLER)])
    bad = [o for st, o in res if st != 0]
    if bad:
        raise BenchError(f"`user add` failed: {bad[0].strip()}")
    return pbx


def register_callee(args, pbx, workdir, port):
    """Register user 1000 from 127.0.0.1:port, where the SIPp UAS will listen."""
    csv = os.path.join(workdir, "callee.csv")
    with open(csv, "w") as f:
        f.write(f"SEQUENTIAL\n{CALLEE};{DOMAIN};"
                f"[authentication username={CALLEE} password={PASSWORD}]\n")
    reg = SimpleNamespace(sipp=args.sipp, pin=args.pin,
                          scenario=os.path.join(SCENARIOS, "register_auth.xml"))
    st = rr.run_sipp(reg, pbx, workdir, csv, port, rate=1, calls=1, limit=1, timeout_s=8,
                     tag="register_callee", trace=True)
    if st.ok != 1:
        raise BenchError(f"SIPp could not register the callee {CALLEE}: "
                         + (st.fatal or rr.first_error(st)))


def caller_csv(workdir):
    csv = os.path.join(workdir, "caller.csv")
    with open(csv, "w") as f:
        f.write(f"SEQUENTIAL\n{CALLER};{CALLEE};{DOMAIN};"
                f"[authentication username={CALLER} password={PASSWORD}]\n")
    return csv


def write_pcap(path, packets, ptime_ms=20):
    """A PCMU recording: Ethernet/IPv4/UDP/RTP, 160 bytes of payload each 20 ms."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(packets):
            rtp = struct.pack("!BBHII", 0x80, 0, 1000 + i, 160 * i, 0x0bec4a11) + b"\xff" * 160
            udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
            frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
            us = i * ptime_ms * 1000
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(frame), len(frame)))
            f.write(frame)


# ---- SIPp ------------------------------------------------------------------------


def sipp_common(args, tag, workdir):
    stat = os.path.join(workdir, f"{tag}_stat.csv")
    errf = os.path.join(workdir, f"{tag}_errors.log")
    return stat, errf, ["-nostdin", "-trace_stat", "-stf", stat, "-fd", "1",
                        "-trace_err", "-error_file", errf,
                        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
                        "-buff_size", str(4 * 1024 * 1024), "-skip_rlimit"]


def spawn(args, cmd, workdir, outf):
    if args.pin:
        cmd = ["taskset", "-c", "1"] + cmd
    with open(outf, "w") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)


def reap(p, deadline, soft_signal=None, grace=3.0, watch=None):
    """Wait for SIPp until @deadline; then @soft_signal and @grace s; then SIGKILL.

    @watch, when given, is called every 20 ms while waiting. An exception
    while waiting (SIGTERM from run.sh) kills the process group first.
    Returns (exit status, rusage, how it ended: None, "signalled" or "killed").
    """
    how = None
    reaped = False
    try:
        while True:
            if watch:
                watch()
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                reaped = True
                break
            now = time.monotonic()
            if now > deadline:
                if soft_signal is not None and how is None:
                    os.killpg(p.pid, soft_signal)
                    how = "signalled"
                    deadline = now + grace
                    continue
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                reaped = True
                how = "killed"
                break
            time.sleep(0.02)
    finally:
        if not reaped:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru, how


def wait_bound(port, proc, timeout=5.0):
    """Until something listens on 127.0.0.1:port (UDP), or the process ended."""
    want = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with open("/proc/net/udp") as f:
                if any(len(c) > 2 and c[1] == want for c in (ln.split() for ln in f)):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def stats_of(stat_csv):
    """Counts from the last row of a SIPp statistics file (None when there is none)."""
    try:
        row = rr.parse_stat_csv(stat_csv)
    except (OSError, BenchError):
        return None
    num = lambda k: int(row.get(k, "0") or 0)  # noqa: E731
    s = SimpleNamespace(created=num("TotalCallCreated"), ok=num("SuccessfulCall(C)"),
                        failed=num("FailedCall(C)"), retrans=num("Retransmissions(C)"),
                        dead=num("DeadCallMsgs(C)"))
    s.unfinished = max(0, s.created - s.ok - s.failed)
    try:
        s.elapsed = rr.epoch_of(row["CurrentTime"]) - rr.epoch_of(row["StartTime"])
    except (KeyError, ValueError, IndexError):
        s.elapsed = float("nan")
    try:
        s.length_ms = rr.duration_s(row["CallLength(C)"]) * 1000
    except (KeyError, ValueError, IndexError):
        s.length_ms = float("nan")
    return s


def errors_of(errfile, outfile):
    """register_rate's summary of a SIPp error log, for any SIPp run."""
    return rr.first_error(SimpleNamespace(errfile=errfile, outfile=outfile))


class Step:
    pass


def run_step(args, pbx, workdir, series, rate, calls, uas_port, csv, uac_port):
    """One bounded step: a fresh UAS, then the caller at @rate for @calls calls."""
    tag = f"{series.tag}{rate}"
    timeout_s = int(calls / rate + series.hold_ms / 1000 + 8)
    uas_stat, uas_err, uas_common = sipp_common(args, tag + "_uas", workdir)
    uas_out = os.path.join(workdir, f"{tag}_uas.out")
    uas_cmd = [args.sipp, "-sf", os.path.join(SCENARIOS, "call_uas.xml"),
               "-i", "127.0.0.1", "-p", str(uas_port), "-mp", str(series.uas_mp),
               "-set", "rtpport", str(series.uas_mp), "-m", str(calls),
               "-timeout", f"{timeout_s + 4}s"] + uas_common
    if series.rtp:
        uas_cmd.append("-rtp_echo")
    uac_stat, uac_err, uac_common = sipp_common(args, tag + "_uac", workdir)
    uac_out = os.path.join(workdir, f"{tag}_uac.out")
    uac_cmd = [args.sipp, f"127.0.0.1:{pbx.port}", "-sf", series.scenario, "-inf", csv,
               "-i", "127.0.0.1", "-p", str(uac_port), "-mp", str(series.uac_mp),
               "-d", str(series.hold_ms),
               "-r", str(rate), "-rp", "1000", "-m", str(calls),
               "-l", str(max(200, rate * (1 + series.hold_ms // 1000))),
               "-timeout", f"{timeout_s}s"] + uac_common
    if not series.rtp:
        uac_cmd[-len(uac_common):-len(uac_common)] = ["-set", "rtpport", str(series.uac_mp)]
    # More caller options a series may carry (overload.py: -trace_counts).
    uac_cmd += list(getattr(series, "uac_extra", ()))

    st = Step()
    st.rate, st.calls = rate, calls
    uas = spawn(args, uas_cmd, workdir, uas_out)
    try:
        if not wait_bound(uas_port, uas):
            raise BenchError("the SIPp UAS did not start: "
                             + (tail(uas_out, 3).replace("\n", " ") or "no output"))
        cpu0, wait0 = pbx.cpu_s(), pbx.wait_s()
        drops0, pbx_drops0 = rr.udp_drops(), rr.socket_drops(pbx.port)
        busy0 = rr.busy_cpu_s()
        t0 = time.monotonic()
        uac = spawn(args, uac_cmd, workdir, uac_out)
        # With RTP: the callee echoes every packet, the PBX relays it back to
        # the caller's media socket, which SIPp does not read; the kernel
        # drops those once its buffer is full. That count (the socket goes
        # with SIPp, so it is watched while SIPp runs) is a lower bound of
        # the packets that went through the relay both ways.
        back = [0]

        def watch():
            if series.rtp:
                back[0] = max(back[0], rr.socket_drops(series.uac_mp))
        uac_rc, uac_ru, uac_how = reap(uac, t0 + timeout_s + 10, watch=watch)
        st.wall = time.monotonic() - t0
        st.pbx_cpu = pbx.cpu_s() - cpu0 if pbx.alive() else float("nan")
        st.pbx_wait = pbx.wait_s() - wait0 if pbx.alive() else float("nan")
        st.rtp_back = back[0]
        st.drops = rr.udp_drops() - drops0 - st.rtp_back
        st.pbx_drops = rr.socket_drops(pbx.port) - pbx_drops0
        # The UAS ends by itself after its -m calls; the ones that never came
        # leave it waiting: SIGUSR1 asks it to stop, SIGKILL then makes it.
        _, uas_ru, _ = reap(uas, time.monotonic() + 2, signal.SIGUSR1)
        st.sipp_cpu = (uac_ru.ru_utime + uac_ru.ru_stime + uas_ru.ru_utime + uas_ru.ru_stime)
        st.other_cpu = rr.busy_cpu_s() - busy0 - st.sipp_cpu - \
            (0 if st.pbx_cpu != st.pbx_cpu else st.pbx_cpu)
    finally:
        if uas.poll() is None:
            os.killpg(uas.pid, signal.SIGKILL)
            uas.wait()
    st.killed = uac_how == "killed"
    st.fatal = None
    if not st.killed and (uac_rc < 0 or uac_rc >= 128):
        st.fatal = (f"SIPp caller stopped with a fatal error (exit status {uac_rc}): "
                    + errors_of(uac_err, uac_out))
    uac_s = stats_of(uac_stat)
    if uac_s is None:
        raise BenchError(st.fatal or f"the SIPp caller (exit status {uac_rc}) wrote no "
                         "statistics: " + errors_of(uac_err, uac_out))
    uas_s = stats_of(uas_stat)
    st.created, st.ok = uac_s.created, uac_s.ok
    st.uac_bad = uac_s.failed + uac_s.unfinished
    # Callee side: calls it failed (no BYE, unexpected message), and the
    # INVITEs it never got are already failures on the caller's side.
    st.uas_ok = uas_s.ok if uas_s else 0
    st.uas_failed = uas_s.failed if uas_s else 0
    st.uas_note = "" if uas_s else " (the UAS wrote no statistics)"
    st.retrans = uac_s.retrans + (uas_s.retrans if uas_s else 0)
    bad = st.uac_bad + st.uas_failed
    st.fail_pct = 100.0 * bad / st.created if st.created else 100.0
    st.elapsed = uac_s.elapsed if uac_s.elapsed == uac_s.elapsed else st.wall
    st.achieved = st.ok / st.elapsed if st.elapsed > 0 else 0.0
    st.length_ms = uac_s.length_ms
    st.cpu_pct = 100.0 * st.pbx_cpu / st.elapsed if st.elapsed > 0 else float("nan")
    st.us_per = 1e6 * st.pbx_cpu / st.ok if st.ok else float("nan")
    st.sipp_pct = 100.0 * st.sipp_cpu / st.wall if st.wall > 0 else float("nan")
    st.wait_pct = 100.0 * st.pbx_wait / st.wall if st.wall > 0 else float("nan")
    st.other_pct = 100.0 * st.other_cpu / st.wall if st.wall > 0 else float("nan")
    st.rtp_sent = st.ok * series.packets if series.rtp else 0
    st.uac_errors = lambda: errors_of(uac_err, uac_out)
    st.uas_errors = lambda: errors_of(uas_err, uas_out)
    return st


def probe(args, pbx, workdir, uas_port, csv, uac_port, uac_mp, uas_mp):
    """One call: does a call get through at all?"""
    series = SimpleNamespace(tag="probe", rtp=False, hold_ms=0, packets=0,
                             uac_mp=uac_mp, uas_mp=uas_mp,
                             scenario=os.path.join(SCENARIOS, "call_uac.xml"))
    st = run_step(args, pbx, workdir, series, 1, 1, uas_port, csv, uac_port)
    if st.ok == 1 and not st.uas_failed:
        log(f"  probe: one call (INVITE, 401, INVITE with digest, 200, ACK, BYE) succeeded "
            f"in {st.length_ms:.0f} ms (SIPp's whole ms)")
        return
    why = st.fatal or st.uac_errors()
    if st.ok == 1:
        why = "the callee failed: " + st.uas_errors()
    log("  probe: the single call failed. PBX log (last lines):")
    for line in tail(pbx.logfile, 8).splitlines():
        log("    " + line)
    raise BenchError(f"a call does not get through the PBX: {why}")


def run_series(args, pbx, workdir, series, uas_port, csv, uac_port, budget_end):
    log("")
    log(f"  {series.name}: {series.what}")
    log("  offered  achieved  calls     ok  failed (callee)  fail%  retrans  drops (PBX)  "
        "call ms  PBX CPU  us/call  PBX wait  SIPp CPU  other CPU")
    steps, stop_why = [], None
    for rate in series.rates:
        calls = int(rate * args.step_seconds)
        need = args.step_seconds + series.hold_ms / 1000 + 2
        if budget_end - time.monotonic() < need:
            stop_why = f"time budget used up before {rate}/s"
            break
        time.sleep(0.3)  # stragglers of the last step
        try:
            st = run_step(args, pbx, workdir, series, rate, calls, uas_port, csv, uac_port)
        except BenchError as e:
            stop_why = f"the {rate}/s step could not run: {e}"
            break
        if st.fatal:
            stop_why = st.fatal
            break
        steps.append(st)
        log(f"  {rate:7d} {st.achieved:7.0f}/s {st.created:6d} {st.ok:6d} {st.uac_bad:7d} "
            f"({st.uas_failed:4d}) {st.fail_pct:6.2f} {st.retrans:8d} {st.drops:6d} "
            f"({st.pbx_drops:4d}) {st.length_ms:8.0f} {st.cpu_pct:7.0f}% {st.us_per:8.1f} "
            f"{st.wait_pct:8.0f}% {st.sipp_pct:8.0f}% {st.other_pct:9.0f}%"
            f"{'  (killed by watchdog)' if st.killed else ''}{st.uas_note}")
        if series.rtp:
            log(f"          RTP back at the caller after both relays: at least {st.rtp_back} "
                f"of the {st.rtp_sent} packets sent (the rest wait unread in SIPp's buffer, "
                f"about 250, or were lost)")
        if not pbx.alive():
            stop_why = (f"the PBX died during the {rate}/s step ({died(pbx)}): "
                        + (tail(pbx.logfile, 3).replace("\n", " ") or "no output"))
            break
        if st.fail_pct > args.max_fail:
            why = []
            if st.uac_bad:
                why.append(f"caller: {st.uac_bad} failed or unfinished: {st.uac_errors()}")
            if st.uas_failed:
                why.append(f"callee: {st.uas_failed} failed: {st.uas_errors()}")
            stop_why = f"{st.fail_pct:.2f}% failed at {rate}/s; " + "; ".join(why)
            pbx_lines = [ln for ln in tail(pbx.logfile, 200).splitlines()
                         if "warning" in ln or "error" in ln]
            if pbx_lines:
                stop_why += (f"; PBX log: {len(pbx_lines)} warning/error lines of the last "
                             f"200, last: {pbx_lines[-1][:200]}")
            break
        if st.achieved < 0.8 * rate:
            stop_why = (f"offered {rate}/s but only {st.achieved:.0f}/s completed "
                        f"(saturated: PBX CPU {st.cpu_pct:.0f}%, SIPp CPU {st.sipp_pct:.0f}%)")
            break
    log(f"  stopped: {stop_why or 'highest offered rate reached'}")
    return steps, stop_why


def report(args, series, steps, stop_why):
    """The series' figure lines; True when its headline figure was measured."""
    for s in steps:
        log(f"calls/s {series.name} step {s.rate}/s offered: {s.achieved:.0f}/s achieved, "
            f"{s.fail_pct:.2f}% failed, PBX CPU {s.cpu_pct:.0f}%, "
            f"{s.us_per:.1f} us PBX CPU per call")
    good = [s for s in steps if s.fail_pct <= args.max_fail and s.ok]
    if not good:
        log(f"FAILED: calls/s {series.name}: no step stayed within {args.max_fail:g}% failed "
            f"calls" + (f": {stop_why}" if stop_why else ""))
        return False
    best = max(good, key=lambda s: s.achieved)
    log(f"calls/s {series.name}: {best.achieved:.0f} calls/s")
    log(f"calls/s {series.name}, PBX CPU per call: {best.us_per:.1f} us")
    return True


def on_signal(signum, frame):
    """SIGTERM/SIGINT from run.sh or the user: clean up like any error."""
    raise Interrupted(f"interrupted by signal {signum}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", default=os.path.join(ROOT, "build", "pbx"))
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--rates", default="100,200,300,500,700,1000,1500",
                    help="offered call rates per second, comma-separated, rising")
    ap.add_argument("--step-seconds", type=float, default=5,
                    help="calls per step = rate * this")
    ap.add_argument("--rtp-ms", type=int, default=200,
                    help="length of the recording the caller plays in the RTP series (20 ms "
                         "packets)")
    ap.add_argument("--series", default="nomedia,rtp", help="nomedia, rtp or both")
    ap.add_argument("--budget", type=float, default=95,
                    help="seconds for the whole benchmark; steps that may not fit are skipped")
    ap.add_argument("--max-fail", type=float, default=0.1,
                    help="failure percent that ends a series")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the PBX to CPU 0 and SIPp to CPU 1")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    start = time.monotonic()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    want = [s.strip() for s in args.series.split(",") if s.strip()]

    if not shutil.which(args.sipp):
        raise BenchError(f"'{args.sipp}' not found (Debian package sip-tester)")
    if not (os.path.isfile(args.pbx) and os.access(args.pbx, os.X_OK)):
        raise BenchError(f"{args.pbx} is not built")
    if args.pin and ((os.cpu_count() or 1) < 2 or not shutil.which("taskset")):
        log("  note: fewer than 2 CPUs or no taskset: not pinning")
        args.pin = False
    args.pbx = os.path.abspath(args.pbx)

    workdir = tempfile.mkdtemp(prefix="pbx-bench-calls-")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pbx = None
    load1 = os.getloadavg()[0]
    try:
        pbx = start_pbx(args, workdir)
        log(f"Call rate: PBX {os.path.relpath(args.pbx, ROOT)} on udp:127.0.0.1:{pbx.port}"
            f"{' (CPU 0)' if args.pin else ''}, SIPp caller and callee "
            f"{'on CPU 1' if args.pin else 'unpinned'}, {args.step_seconds:g} s of calls per "
            f"step, stop above {args.max_fail:g}% failed")
        if load1 > 0.5:
            log(f"  note: the machine is not idle (load average {load1:.2f}): other work "
                "competes for the 2 cores; see the 'other CPU' column")
        log(f"  PBX pid {pbx.proc.pid}, config {pbx.cfg}")
        # SIPp's ports: callee and caller signalling, caller and callee media.
        uas_port, uac_port, uac_mp, uas_mp = free_ports(4)
        register_callee(args, pbx, workdir, uas_port)
        log(f"  callee {CALLEE} registered from udp:127.0.0.1:{uas_port}")
        csv = caller_csv(workdir)
        probe(args, pbx, workdir, uas_port, csv, uac_port, uac_mp, uas_mp)

        packets = max(1, args.rtp_ms // 20)
        # SIPp looks for the pcap next to the scenario: both go to workdir.
        write_pcap(os.path.join(workdir, "call_rtp.pcap"), packets)
        shutil.copy(os.path.join(SCENARIOS, "call_uac_rtp.xml"), workdir)
        all_series = {
            "nomedia": SimpleNamespace(
                name="without media", tag="nomedia", rtp=False, hold_ms=0, packets=0,
                scenario=os.path.join(SCENARIOS, "call_uac.xml"),
                what="INVITE/401/INVITE/200/ACK, BYE at once; SDP but no RTP"),
            "rtp": SimpleNamespace(
                name="with RTP", tag="rtp", rtp=True, hold_ms=packets * 20, packets=packets,
                scenario=os.path.join(workdir, "call_uac_rtp.xml"),
                what=f"as above, the caller plays {packets} PCMU packets of 20 ms "
                     f"(play_pcap_audio), the callee echoes them (-rtp_echo), BYE after "
                     f"{packets * 20} ms"),
        }
        series = [all_series[w] for w in want if w in all_series]
        if not series:
            raise BenchError(f"--series {args.series}: none of nomedia, rtp")
        done = 0
        for i, s in enumerate(series):
            s.rates = rates
            s.uac_mp, s.uas_mp = uac_mp, uas_mp
            left = args.budget - (time.monotonic() - start)
            # Each series but the last gets its share; the last what is left.
            share = left / (len(series) - i) if i < len(series) - 1 else left
            steps, stop_why = run_series(args, pbx, workdir, s, uas_port, csv, uac_port,
                                         time.monotonic() + share - 2)
            s.steps, s.stop_why = steps, stop_why
            if not pbx.alive():
                break
        log("")
        for s in series:
            if hasattr(s, "steps") and report(args, s, s.steps, s.stop_why):
                done += 1
        if not done:
            raise BenchError("no series gave a figure")
        return 0
    finally:
        if pbx:
            note = pbx.stop()
            if note:
                log("  note: " + note)
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
