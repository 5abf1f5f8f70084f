#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Instant messages per second (SIP MESSAGE, RFC 3428) through build/pbx, on loopback.

Starts the PBX in the foreground with a throw-away state directory and a
one-line Lua dialplan (context `messages`: `_1XXX` does
app.messagesend("SIP/" .. exten)), adds through the console socket the
senders (3000..3999) and three sets of targets: 1000..1009, which the
dialplan routes, 2000..2009, which it has no extension for (the PBX's
default routing), and 4000..4099, who stay offline. A SIPp UAS registers
as the online targets from the port it then listens on
(scenarios/register_auth.xml) and answers every MESSAGE the PBX sends it
with 200 (scenarios/message_uas.xml). SIPp's sender
(scenarios/message_uac.xml: MESSAGE -> 401 -> MESSAGE with MD5 digest ->
200) spreads its messages over all the senders and the targets.

  via dialplan     steps at rising offered rates to 1000..1009;
  default routing  the same to 2000..2009, for comparison;
  stored           MESSAGEs to the offline users, answered 202 and kept in
                   SQLite, as fast as the PBX answers them (a bounded number
                   in flight);
  from store       those users register (scenarios/message_register_hold.xml,
                   which also serves the deliveries through its out-of-call
                   scenario, message_uas.xml) and the PBX delivers what it
                   kept, one message at a time per user, until every queue
                   is empty.

Each step is bounded in messages (-m) and time (-timeout, and a watchdog
here). A series stops at the first step with more than 1% failures, when
the achieved rate falls below 80% of the offered one, when the PBX dies,
or when its share of the time budget is used up. The PBX runs on CPU 0
and SIPp on CPU 1 (taskset).

Figures ("LABEL: NUMBER UNIT", recorded by tests/bench/run.sh): per step
"MESSAGE <series> step N/s offered: ...", and "MESSAGE routed via
dialplan: N/s", "MESSAGE default routing: N/s" (highest achieved rate of a
step with at most 1% failures, with the PBX CPU at that step),
"MESSAGE stored (202): N/s" and "MESSAGE delivered from store: N/s".
Exit status: 0 when at least one of them was measured, 1 otherwise (the
reason printed as "FAILED: why").

This is a benchmark, not a test: it asserts nothing about the figures.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import register_rate as rr  # noqa: E402  (the PBX start-up, console and SIPp helpers)
import call_rate as cr  # noqa: E402  (SIPp process helpers, ports, the PBX's CPU wait)

from register_rate import BenchError, Interrupted, log, tail  # noqa: E402

ROOT = rr.ROOT
SCENARIOS = cr.SCENARIOS
DOMAIN = rr.DOMAIN
PASSWORD = rr.PASSWORD
FIRST_SENDER = 3000
ROUTED = [str(1000 + i) for i in range(10)]   # the dialplan's _1XXX
DEFAULT = [str(2000 + i) for i in range(10)]  # no extension in `messages`
FIRST_OFFLINE = 4000
DIALPLAN = """-- written by tests/bench/message_rate.py
extensions = {
  messages = {
    ["_1XXX"] = function(context, exten)
      app.messagesend("SIP/" .. exten)
    end,
  },
}
"""


# ---- the PBX ---------------------------------------------------------------------


class MsgPbx(rr.Pbx):
    """register_rate's PBX, with the `messages` dialplan."""

    wait_s = cr.CallPbx.wait_s

    def write_config(self, md5_only, ban_zero):
        super().write_config(md5_only, ban_zero)
        dp = os.path.join(self.workdir, "extensions.lua")
        with open(dp, "w") as f:
            f.write(DIALPLAN)
        with open(self.cfg, "a") as f:
            f.write(f'dialplan = {{ file = "{dp}" }}\n')


def start_pbx(args, workdir):
    pbx = MsgPbx(args.pbx, workdir, rr.free_port_pair(), args.pin)
    pbx.start()
    for n in pbx.notes:
        log("  note: " + n)
    users = ([str(FIRST_SENDER + i) for i in range(args.users)] + ROUTED + DEFAULT
             + offline_users(args))
    t0 = time.monotonic()
    res = rr.console_batch(pbx.ctl_path(), [f"user add {u} --password {PASSWORD}"
                                            for u in users])
    bad = [(u, o) for u, (st, o) in zip(users, res) if st != 0]
    if bad:
        raise BenchError(f"{len(bad)} of {len(users)} `user add` failed; first: "
                         f"{bad[0][0]}: {bad[0][1].strip()}")
    log(f"  added {len(users)} users in {time.monotonic() - t0:.1f} s over the console socket")
    return pbx


def offline_users(args):
    return [str(FIRST_OFFLINE + i) for i in range(args.offline_users)]


def queue_len(pbx, targets=None):
    """Messages waiting in the PBX's store (for @targets only, when given), from
    `message show queue --json`."""
    (st, out), = rr.console_batch(pbx.ctl_path(), ["message show queue --json"])
    if st != 0:
        raise BenchError(f"`message show queue --json` failed: {out.strip()[:200]}")
    try:
        rows = json.loads(out)
    except ValueError as e:
        raise BenchError(f"`message show queue --json` is not JSON ({e}): {out[:200]}")
    return sum(1 for r in rows if targets is None or r.get("target") in targets)


def pbx_warnings(pbx, n=400):
    lines = [ln for ln in tail(pbx.logfile, n).splitlines() if "warning" in ln or "error" in ln]
    if not lines:
        return ""
    return (f"; PBX log: {len(lines)} warning/error lines of the last {n}, last: "
            f"{lines[-1][:200]}")


# ---- SIPp ------------------------------------------------------------------------


def write_csv(path, targets, senders):
    """One line per sender, each to the next target in turn: FROM;TO;DOMAIN;[authentication]."""
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(senders):
            ext = FIRST_SENDER + i
            f.write(f"{ext};{targets[i % len(targets)]};{DOMAIN};"
                    f"[authentication username={ext} password={PASSWORD}]\n")
    return path


def write_reg_csv(path, users):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for u in users:
            f.write(f"{u};{DOMAIN};[authentication username={u} password={PASSWORD}]\n")
    return path


def register_targets(args, pbx, workdir, port, users):
    """Register @users from 127.0.0.1:port, where the SIPp UAS will listen."""
    csv = write_reg_csv(os.path.join(workdir, "targets.csv"), users)
    reg = SimpleNamespace(sipp=args.sipp, pin=args.pin,
                          scenario=os.path.join(SCENARIOS, "register_auth.xml"))
    st = rr.run_sipp(reg, pbx, workdir, csv, port, rate=200, calls=len(users),
                     limit=len(users), timeout_s=8, tag="register_targets", trace=True)
    if st.ok != len(users):
        raise BenchError(f"SIPp registered {st.ok} of the {len(users)} targets: "
                         + (st.fatal or rr.first_error(st)))


def uas_log(path):
    """The times the MESSAGEs that message_uas.xml logged came, one per Call-ID (a
    retransmission is not a new message), and the times of the registrations
    that message_register_hold.xml logged."""
    msgs, regs, ids = [], [], set()
    try:
        with open(path, errors="replace") as f:
            for line in f:
                # SIPp's [timestamp]: "DATE<TAB>TIME<TAB>EPOCH", then the message.
                m = re.match(r"\S+\s+\S+\s+(\d+\.\d+)\s+(\S+)", line)
                if not m:
                    continue
                t = float(m.group(1))
                if m.group(2) == "registered":
                    regs.append(t)
                elif m.group(2) not in ids:
                    ids.add(m.group(2))
                    msgs.append(t)
    except OSError:
        pass
    return msgs, regs


class Step:
    pass


def start_uas(args, workdir, port, seconds):
    """The receiving device for the online series: answers every MESSAGE with 200.

    One process for all their steps, so that nothing the PBX sends goes
    unanswered between two steps (a MESSAGE nobody answers is retransmitted
    by the PBX for 32 s, and a fresh UAS would take those for new ones).
    """
    stat, errf, common = cr.sipp_common(args, "uas", workdir)
    outf = os.path.join(workdir, "uas.out")
    cmd = [args.sipp, "-sf", os.path.join(SCENARIOS, "message_uas.xml"),
           "-i", "127.0.0.1", "-p", str(port), "-t", "u1",
           "-timeout", f"{int(seconds)}s"] + common
    uas = cr.spawn(args, cmd, workdir, outf)
    if not cr.wait_bound(port, uas):
        cr.reap(uas, time.monotonic())
        raise BenchError("the SIPp UAS did not start: "
                         + (tail(outf, 3).replace("\n", " ") or "no output"))
    uas.stat, uas.errf, uas.outf = stat, errf, outf
    return uas


def stop_uas(uas):
    """Stop the UAS (SIGUSR1, then SIGKILL); its statistics, or None."""
    if uas.poll() is None:
        cr.reap(uas, time.monotonic(), signal.SIGUSR1, grace=3)
    return cr.stats_of(uas.stat)


def cpu_of(proc):
    try:
        return rr.proc_cpu_s(proc.pid)
    except (OSError, ValueError, IndexError):
        return 0.0


def settle(pbx, quiet_pct=5, most_s=5.0):
    """Wait until the PBX is idle (under @quiet_pct of a core for 0.2 s), at most
    @most_s: an overloaded step leaves datagrams and transactions behind, which
    would otherwise count against the next one. Returns the seconds waited."""
    t0 = time.monotonic()
    while pbx.alive() and time.monotonic() - t0 < most_s:
        c0 = pbx.cpu_s()
        time.sleep(0.2)
        if pbx.alive() and 100 * (pbx.cpu_s() - c0) / 0.2 < quiet_pct:
            break
    return time.monotonic() - t0


def run_step(args, pbx, workdir, scenario, csv, rate, calls, uac_port, tag, limit=None,
             uas=None):
    """One bounded step: the sender at @rate for @calls messages (@uas answers them)."""
    timeout_s = int(calls / rate + 6)
    uac_stat, uac_err, uac_common = cr.sipp_common(args, tag + "_uac", workdir)
    uac_out = os.path.join(workdir, f"{tag}_uac.out")
    uac_cmd = [args.sipp, f"127.0.0.1:{pbx.port}", "-sf", scenario, "-inf", csv,
               "-i", "127.0.0.1", "-p", str(uac_port), "-t", "u1",
               "-r", str(rate), "-rp", "1000", "-m", str(calls),
               "-l", str(limit or max(200, rate)), "-timeout", f"{timeout_s}s"] + uac_common
    st = Step()
    st.rate, st.calls = rate, calls
    cpu0, wait0 = pbx.cpu_s(), pbx.wait_s()
    uas0 = cpu_of(uas) if uas else 0.0
    drops0, pbx_drops0 = rr.udp_drops(), rr.socket_drops(pbx.port)
    busy0 = rr.busy_cpu_s()
    t0 = time.monotonic()
    uac = cr.spawn(args, uac_cmd, workdir, uac_out)
    uac_rc, uac_ru, uac_how = cr.reap(uac, t0 + timeout_s + 10)
    st.wall = time.monotonic() - t0
    st.pbx_cpu = pbx.cpu_s() - cpu0 if pbx.alive() else float("nan")
    st.pbx_wait = pbx.wait_s() - wait0 if pbx.alive() else float("nan")
    st.drops = rr.udp_drops() - drops0
    st.pbx_drops = rr.socket_drops(pbx.port) - pbx_drops0
    st.sipp_cpu = uac_ru.ru_utime + uac_ru.ru_stime + (cpu_of(uas) - uas0 if uas else 0.0)
    st.other_cpu = rr.busy_cpu_s() - busy0 - st.sipp_cpu - \
        (0 if st.pbx_cpu != st.pbx_cpu else st.pbx_cpu)
    st.killed = uac_how == "killed"
    st.fatal = None
    if not st.killed and (uac_rc < 0 or uac_rc >= 128):
        st.fatal = (f"SIPp sender stopped with a fatal error (exit status {uac_rc}): "
                    + cr.errors_of(uac_err, uac_out))
    uac_s = cr.stats_of(uac_stat)
    if uac_s is None:
        raise BenchError(st.fatal or f"the SIPp sender (exit status {uac_rc}) wrote no "
                         "statistics: " + cr.errors_of(uac_err, uac_out))
    st.created, st.ok = uac_s.created, uac_s.ok
    st.uac_bad = uac_s.failed + uac_s.unfinished
    st.retrans = uac_s.retrans
    st.fail_pct = 100.0 * st.uac_bad / st.created if st.created else 100.0
    st.elapsed = uac_s.elapsed if uac_s.elapsed == uac_s.elapsed else st.wall
    st.achieved = st.ok / st.elapsed if st.elapsed > 0 else 0.0
    st.length_ms = uac_s.length_ms
    st.cpu_pct = 100.0 * st.pbx_cpu / st.elapsed if st.elapsed > 0 else float("nan")
    st.us_per = 1e6 * st.pbx_cpu / st.ok if st.ok else float("nan")
    st.sipp_pct = 100.0 * st.sipp_cpu / st.wall if st.wall > 0 else float("nan")
    st.wait_pct = 100.0 * st.pbx_wait / st.wall if st.wall > 0 else float("nan")
    st.other_pct = 100.0 * st.other_cpu / st.wall if st.wall > 0 else float("nan")
    st.uac_errors = lambda: cr.errors_of(uac_err, uac_out)
    return st


def probe(args, pbx, workdir, scenario, csv, uas, uac_port):
    """One message through the dialplan: does a MESSAGE get through at all?"""
    st = run_step(args, pbx, workdir, scenario, csv, 1, 1, uac_port, "probe", uas=uas)
    if st.ok == 1:
        log(f"  probe: one MESSAGE (401, MESSAGE with digest, the dialplan, delivered to the "
            f"UAS, 200) in {st.length_ms:.0f} ms (SIPp's whole ms)")
        return
    log("  probe: the single MESSAGE failed. PBX log (last lines):")
    for line in tail(pbx.logfile, 8).splitlines():
        log("    " + line)
    why = st.fatal or st.uac_errors()
    if uas.poll() is not None:
        why += "; the UAS has stopped: " + cr.errors_of(uas.errf, uas.outf)
    raise BenchError(f"a MESSAGE does not get through the PBX: {why}")


# ---- online: rising rates --------------------------------------------------------


def run_series(args, pbx, workdir, series, uas, uac_port, budget_end):
    log("")
    log(f"  {series.name}: {series.what}")
    log("  offered achieved   msgs     ok  failed  fail%  retrans  drops (PBX)  "
        "msg ms  PBX CPU  us/msg  PBX wait  SIPp CPU  other CPU")
    steps, stop_why = [], None
    for i, rate in enumerate(series.rates):
        calls = int(rate * args.step_seconds)
        if budget_end - time.monotonic() < args.step_seconds + 4:
            stop_why = f"time budget used up before {rate}/s"
            break
        busy = settle(pbx)
        if busy > 1:
            log(f"          note: the PBX was still busy {busy:.1f} s after the last step")
        # Answers to a step's late retransmissions go to the port it used, not
        # to the next step's sender: four ports in turn (cr.free_ports keeps
        # groups of four free).
        try:
            st = run_step(args, pbx, workdir, series.scenario, series.csv, rate, calls,
                          uac_port + i % 4, f"{series.tag}{rate}", uas=uas)
        except BenchError as e:
            stop_why = f"the {rate}/s step could not run: {e}"
            break
        if st.fatal:
            stop_why = st.fatal
            break
        steps.append(st)
        log(f"  {rate:7d} {st.achieved:6.0f}/s {st.created:6d} {st.ok:6d} {st.uac_bad:7d} "
            f"{st.fail_pct:6.2f} {st.retrans:8d} {st.drops:6d} "
            f"({st.pbx_drops:4d}) {st.length_ms:7.0f} {st.cpu_pct:7.0f}% {st.us_per:7.1f} "
            f"{st.wait_pct:8.0f}% {st.sipp_pct:8.0f}% {st.other_pct:9.0f}%"
            f"{'  (killed by watchdog)' if st.killed else ''}")
        if not pbx.alive():
            stop_why = (f"the PBX died during the {rate}/s step ({cr.died(pbx)}): "
                        + (tail(pbx.logfile, 3).replace("\n", " ") or "no output"))
            break
        if uas.poll() is not None:
            stop_why = (f"the SIPp UAS stopped during the {rate}/s step: "
                        + cr.errors_of(uas.errf, uas.outf))
            break
        if st.fail_pct > args.max_fail:
            stop_why = (f"{st.fail_pct:.2f}% failed at {rate}/s: {st.uac_errors()}"
                        + pbx_warnings(pbx))
            break
        if st.achieved < 0.8 * rate:
            stop_why = (f"offered {rate}/s but only {st.achieved:.0f}/s completed "
                        f"(saturated: PBX CPU {st.cpu_pct:.0f}%, SIPp CPU {st.sipp_pct:.0f}%)")
            break
        if st.length_ms > args.max_latency:
            # Messages queue: the next step would be past the PBX's capacity,
            # where its socket overflows and retransmissions make it worse.
            stop_why = (f"a message took {st.length_ms:.0f} ms on average at {rate}/s, more "
                        f"than {args.max_latency:g} ms (saturated: PBX CPU {st.cpu_pct:.0f}%, "
                        f"SIPp CPU {st.sipp_pct:.0f}%)")
            break
    log(f"  stopped: {stop_why or 'highest offered rate reached'}")
    return steps, stop_why


def report(args, series):
    """The series' figure lines; True when its headline figure was measured."""
    for s in series.steps:
        log(f"MESSAGE {series.name} step {s.rate}/s offered: {s.achieved:.0f}/s achieved, "
            f"{s.fail_pct:.2f}% failed, PBX CPU {s.cpu_pct:.0f}%, "
            f"{s.us_per:.1f} us PBX CPU per MESSAGE")
    good = [s for s in series.steps if s.fail_pct <= args.max_fail and s.ok]
    if not good:
        log(f"FAILED: MESSAGE {series.name}: no step stayed within {args.max_fail:g}% failures"
            + (f": {series.stop_why}" if series.stop_why else ""))
        return False
    best = max(good, key=lambda s: s.achieved)
    log(f"{series.label}: {best.achieved:.0f}/s")
    log(f"{series.label}, offered: {best.rate}/s")
    log(f"{series.label}, PBX CPU: {best.cpu_pct:.0f} %")
    log(f"{series.label}, PBX CPU per MESSAGE: {best.us_per:.1f} us")
    return True


# ---- offline: stored, then delivered on registration --------------------------------


def store(args, pbx, workdir, uac_port):
    """Send --stored MESSAGEs to the offline users: each answered 202 and kept."""
    users = offline_users(args)
    # The sender's scenario, waiting for 202 instead of 200.
    with open(os.path.join(SCENARIOS, "message_uac.xml")) as f:
        text = f.read()
    scenario = os.path.join(workdir, "message_uac_202.xml")
    with open(scenario, "w") as f:
        f.write(text.replace('<recv response="200"', '<recv response="202"'))
    csv = write_csv(os.path.join(workdir, "offline.csv"), users, args.users)
    calls = args.stored
    log("")
    log(f"  stored: {calls} MESSAGEs to {len(users)} offline users ({FIRST_OFFLINE}.."
        f"{FIRST_OFFLINE + len(users) - 1}), each answered 202 and kept in pbx.db; offered "
        f"at {args.store_rate}/s with at most {args.store_inflight} in flight, so the "
        "achieved rate is what the PBX keeps up with")
    st = run_step(args, pbx, workdir, scenario, csv, args.store_rate, calls, uac_port,
                  "store", limit=args.store_inflight)
    log(f"  {calls} sent, {st.ok} answered 202, {st.uac_bad} failed, {st.retrans} "
        f"retransmissions, {st.drops} drops ({st.pbx_drops} at the PBX), in {st.elapsed:.2f} s: "
        f"{st.achieved:.0f}/s, {st.length_ms:.0f} ms a message, PBX CPU {st.cpu_pct:.0f}% "
        f"({st.us_per:.1f} us a message), PBX wait {st.wait_pct:.0f}%, SIPp CPU "
        f"{st.sipp_pct:.0f}%, other CPU {st.other_pct:.0f}%")
    if st.fatal:
        raise BenchError(st.fatal)
    if st.uac_bad:
        log(f"  note: {st.uac_bad} MESSAGEs were not answered 202: {st.uac_errors()}"
            + pbx_warnings(pbx))
    return st


def deliver(args, pbx, workdir, port, waiting, budget_end):
    """The offline users register from @port; the same SIPp serves the deliveries.

    Returns a namespace with the count delivered and the time it took, from
    the first registration's 200 to the last MESSAGE that reached the UAS.
    """
    users = offline_users(args)
    csv = write_reg_csv(os.path.join(workdir, "offline_reg.csv"), users)
    stat, errf, common = cr.sipp_common(args, "deliver", workdir)
    logf = os.path.join(workdir, "deliver_logs.log")
    outf = os.path.join(workdir, "deliver.out")
    limit_s = max(5.0, budget_end - time.monotonic())
    cmd = [args.sipp, f"127.0.0.1:{pbx.port}", "-sf",
           os.path.join(SCENARIOS, "message_register_hold.xml"),
           "-oocsf", os.path.join(SCENARIOS, "message_uas.xml"), "-inf", csv,
           "-i", "127.0.0.1", "-p", str(port), "-t", "u1",
           "-r", "5000", "-rp", "1000", "-m", str(len(users)), "-l", str(len(users)),
           "-d", str(int(limit_s * 1000) + 5000), "-timeout", f"{int(limit_s) + 10}s",
           "-trace_logs", "-log_file", logf] + common
    log("")
    log(f"  from store: the {len(users)} users register (5000/s) from the port of a SIPp that "
        f"answers each MESSAGE 200; {waiting} messages wait")
    cpu0, wait0 = pbx.cpu_s(), pbx.wait_s()
    drops0, pbx_drops0 = rr.udp_drops(), rr.socket_drops(pbx.port)
    t0 = time.monotonic()
    p = cr.spawn(args, cmd, workdir, outf)
    left, polls = waiting, 0
    try:
        # The store's own count says when it is done; the figure comes from
        # the times the UAS logged. A listing costs the PBX a pass over what
        # waits, so the polls are spaced.
        deadline = t0 + limit_s
        while time.monotonic() < deadline:
            time.sleep(0.25)
            if p.poll() is not None or not pbx.alive():
                break
            left = queue_len(pbx, set(users))
            polls += 1
            if left == 0:
                break
        wall = time.monotonic() - t0
        pbx_cpu = pbx.cpu_s() - cpu0 if pbx.alive() else float("nan")
        pbx_wait = pbx.wait_s() - wait0 if pbx.alive() else float("nan")
        drops, pbx_drops = rr.udp_drops() - drops0, rr.socket_drops(pbx.port) - pbx_drops0
        # The registrations are paused "calls": SIGUSR1 twice ends SIPp now.
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGUSR1)
            time.sleep(0.1)
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGUSR1)
        rc, ru, how = cr.reap(p, time.monotonic() + 3)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    msgs, regs = uas_log(logf)
    s = cr.stats_of(stat)
    d = SimpleNamespace(left=left, delivered=len(msgs), regs=len(regs), wall=wall,
                        pbx_cpu=pbx_cpu, pbx_wait=pbx_wait, drops=drops, pbx_drops=pbx_drops,
                        sipp_cpu=ru.ru_utime + ru.ru_stime, polls=polls,
                        reg_failed=s.failed if s else 0,
                        retrans=s.retrans if s else 0,
                        errors=lambda: ooc_free_errors(errf, outf))
    if msgs and regs:
        d.span = max(msgs) - min(regs)
        d.reg_span = max(regs) - min(regs)
    else:
        d.span = d.reg_span = float("nan")
    return d


def ooc_free_errors(errf, outf):
    """The delivery SIPp's errors, without its notices of out-of-call MESSAGEs (each
    delivery is one: that is how it serves them)."""
    try:
        with open(errf, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    kept = re.split(r"(?=\d{4}-\d\d-\d\d\t[\d:.]+\t\d+\.\d+: )", text)
    kept = [e for e in kept if "out-of-call" not in e]
    clean = errf + ".filtered"
    with open(clean, "w") as f:
        f.write("".join(kept))
    return cr.errors_of(clean, outf)


# ---- main ------------------------------------------------------------------------


def on_signal(signum, frame):
    """SIGTERM/SIGINT from run.sh or the user: clean up like any error."""
    raise Interrupted(f"interrupted by signal {signum}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", default=os.path.join(ROOT, "build", "pbx"))
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--rates", default="1000,3000,5000,6000,7000,8000,10000,14000",
                    help="offered MESSAGE rates per second, comma-separated, rising")
    ap.add_argument("--step-seconds", type=float, default=2,
                    help="messages per step = rate * this")
    ap.add_argument("--users", type=int, default=1000, help="senders (3000..)")
    ap.add_argument("--series", default="dialplan,default,store",
                    help="any of dialplan, default, store (store includes the delivery)")
    ap.add_argument("--offline-users", type=int, default=100,
                    help="offline targets (4000..), each keeps at most messaging.max_stored "
                         "(100)")
    ap.add_argument("--stored", type=int, default=5000,
                    help="MESSAGEs sent to the offline users")
    ap.add_argument("--store-rate", type=int, default=20000,
                    help="offered rate of the stored MESSAGEs (bounded by --store-inflight)")
    ap.add_argument("--store-inflight", type=int, default=200,
                    help="stored MESSAGEs in flight at most")
    ap.add_argument("--budget", type=float, default=60,
                    help="seconds for the whole benchmark; steps that may not fit are skipped")
    ap.add_argument("--max-fail", type=float, default=1.0,
                    help="failure percent that ends a series")
    ap.add_argument("--max-latency", type=float, default=100,
                    help="mean ms per message (both round trips and the delivery) that ends "
                         "a series")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the PBX to CPU 0 and SIPp to CPU 1")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    start = time.monotonic()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    want = [s.strip() for s in args.series.split(",") if s.strip()]
    if args.stored > args.offline_users * 100:
        raise BenchError(f"--stored {args.stored} is more than {args.offline_users} offline "
                         "users can keep (messaging.max_stored = 100 each)")

    if not shutil.which(args.sipp):
        raise BenchError(f"'{args.sipp}' not found (Debian package sip-tester)")
    if not (os.path.isfile(args.pbx) and os.access(args.pbx, os.X_OK)):
        raise BenchError(f"{args.pbx} is not built")
    if args.pin and ((os.cpu_count() or 1) < 2 or not shutil.which("taskset")):
        log("  note: fewer than 2 CPUs or no taskset: not pinning")
        args.pin = False
    args.pbx = os.path.abspath(args.pbx)

    workdir = tempfile.mkdtemp(prefix="pbx-bench-msg-")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pbx = uas = None
    load1 = os.getloadavg()[0]
    figures = 0
    try:
        log(f"MESSAGE rate: PBX {os.path.relpath(args.pbx, ROOT)}"
            f"{' on CPU 0' if args.pin else ''}, SIPp sender and receiver "
            f"{'on CPU 1' if args.pin else 'unpinned'}, {args.step_seconds:g} s of messages "
            f"per step, stop above {args.max_fail:g}% failed")
        if load1 > 0.5:
            log(f"  note: the machine is not idle (load average {load1:.2f}): other work "
                "competes for the 2 cores; see the 'PBX wait' and 'other CPU' columns")
        pbx = start_pbx(args, workdir)
        log(f"  PBX pid {pbx.proc.pid} on udp:127.0.0.1:{pbx.port}, config {pbx.cfg}")
        # SIPp's ports: the receiving UAS, the sender, and the offline users.
        uas_port, uac_port, off_port = cr.free_ports(3)
        online = [s for s in ("dialplan", "default") if s in want]
        if online:
            register_targets(args, pbx, workdir, uas_port, ROUTED + DEFAULT)
            log(f"  targets {ROUTED[0]}..{ROUTED[-1]} and {DEFAULT[0]}..{DEFAULT[-1]} registered "
                f"from udp:127.0.0.1:{uas_port}, where the SIPp UAS answers")
        scenario = os.path.join(SCENARIOS, "message_uac.xml")
        all_series = {
            "dialplan": SimpleNamespace(
                name="via dialplan", tag="dialplan", label="MESSAGE routed via dialplan",
                csv=write_csv(os.path.join(workdir, "routed.csv"), ROUTED, args.users),
                what=f"{args.users} senders to {ROUTED[0]}..{ROUTED[-1]}: context `messages` "
                     "runs app.messagesend(\"SIP/\" .. exten)"),
            "default": SimpleNamespace(
                name="default routing", tag="default", label="MESSAGE default routing",
                csv=write_csv(os.path.join(workdir, "default.csv"), DEFAULT, args.users),
                what=f"{args.users} senders to {DEFAULT[0]}..{DEFAULT[-1]}: no extension in "
                     "`messages`, the PBX's own routing"),
        }
        series = [all_series[w] for w in online]
        # The store and the delivery keep about 12 s; the series share the rest.
        keep = 12 if "store" in want else 0
        if series:
            uas = start_uas(args, workdir, uas_port, args.budget + 10)
            probe(args, pbx, workdir, scenario, series[0].csv, uas, uac_port)
        for i, s in enumerate(series):
            s.rates, s.scenario = rates, scenario
            left = args.budget - keep - (time.monotonic() - start)
            share = left / (len(series) - i)
            s.steps, s.stop_why = run_series(args, pbx, workdir, s, uas, uac_port,
                                             time.monotonic() + share)
            # Figures as soon as they are known: a run cut short keeps them.
            log("")
            if report(args, s):
                figures += 1
            if not pbx.alive() or uas.poll() is not None:
                break
        if uas:
            settle(pbx)
            u = stop_uas(uas)
            sent = sum(st.ok for s in series for st in getattr(s, "steps", [])) + 1
            if u:
                log("")
                log(f"  the UAS answered {u.ok} MESSAGEs ({u.retrans} retransmissions, "
                    f"{u.failed} failed), the senders got {sent} 200s in all")
            else:
                log("  note: the UAS wrote no statistics")

        delivered = None
        if "store" in want and pbx.alive():
            settle(pbx)
            others = queue_len(pbx)
            if others:
                # A delivery that timed out in an overloaded step is kept too.
                log(f"  note: {others} messages for the online targets wait in the store "
                    "(deliveries that failed in an overloaded step); not counted below")
            st = store(args, pbx, workdir, off_port + 1)
            waiting = queue_len(pbx, set(offline_users(args)))
            if waiting != st.ok:
                log(f"  note: {waiting} messages wait for the offline users, {st.ok} were "
                    "answered 202")
            if st.ok:
                log("")
                log(f"MESSAGE stored (202): {st.achieved:.0f}/s")
                log(f"MESSAGE stored (202), PBX CPU: {st.cpu_pct:.0f} %")
                log(f"MESSAGE stored (202), PBX CPU per MESSAGE: {st.us_per:.1f} us")
                figures += 1
            if waiting:
                d = deliver(args, pbx, workdir, off_port, waiting,
                            start + args.budget - 1)
                log(f"  {d.regs} of {args.offline_users} registered in {d.reg_span * 1000:.0f} ms"
                    f"{f' ({d.reg_failed} failed)' if d.reg_failed else ''}; "
                    f"{d.delivered} distinct MESSAGEs reached the UAS, {d.left} left in the "
                    f"store after {d.wall:.1f} s ({d.polls} polls of the queue); first "
                    f"registration to last delivery {d.span:.2f} s; PBX CPU {d.pbx_cpu:.2f} s "
                    f"(waited {d.pbx_wait:.2f} s for CPU 0), SIPp CPU {d.sipp_cpu:.2f} s, "
                    f"{d.retrans} retransmissions, {d.drops} drops ({d.pbx_drops} at the PBX)")
                if d.left or d.delivered < waiting:
                    log(f"  note: the delivery did not finish: {d.errors()}" + pbx_warnings(pbx))
                elif d.span > 0:
                    delivered = d
        if delivered:
            log("")
            log(f"MESSAGE delivered from store: {delivered.delivered / delivered.span:.0f}/s")
            # Over the whole wait, which ends up to a poll's interval after
            # the last delivery: the registrations and the polls are in it.
            log(f"MESSAGE delivered from store, PBX CPU: "
                f"{100 * delivered.pbx_cpu / delivered.wall:.0f} %")
            log(f"MESSAGE delivered from store, PBX CPU per MESSAGE: "
                f"{1e6 * delivered.pbx_cpu / delivered.delivered:.1f} us")
            figures += 1
        elif "store" in want:
            log("FAILED: MESSAGE delivered from store: not measured")
        if not figures:
            raise BenchError("no figure was measured")
        return 0
    finally:
        if uas and uas.poll() is None:
            os.killpg(uas.pid, signal.SIGKILL)
            uas.wait()
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
