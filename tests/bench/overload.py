#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Overload: how the PBX behaves at and beyond the highest rate it sustains.

Starts build/pbx in the foreground with a throw-away state directory (as
tests/bench/register_rate.py and call_rate.py do, whose helpers it
imports), adds --users REGISTER users (3000..), the caller 2000 and the
callees 1000 and 1001, and registers SIPp UASs as the callees. The PBX runs
on CPU 0 and every load generator (SIPp, register_load, rtp_blaster) on
CPU 1 (taskset). Three kinds of load, each in turn (--kinds):

  REGISTER  REGISTER with digest: REGISTER -> 401 -> REGISTER with an MD5
            Authorization -> 200, from the --users users in turn;
  INVITE    calls with digest held 1 s (scenarios/call_uac_overload.xml ->
            PBX -> scenarios/call_uas.xml), SDP but no RTP;
  mix       both at once, REGISTER at the rate and calls at rate /
            --mix-call-ratio, while --rtp-calls calls (200) to user 1001
            are up all along with G.711 RTP on both legs
            (tests/bench/rtp_blaster.c, as relay_load.py makes it).

The registrations (REGISTER and the REGISTER half of the mix) come from
--register-driver: "c" (the default), tests/bench/register_load.c, an
open-loop generator built here with cc and -lcrypto, which offers well
over 100,000 registrations a second from one core (SIPp saturates near
30,000, about what the PBX sustains, so it cannot offer 2x or 3x); or
"sipp", scenarios/register_overload.xml. When the generator does not
build, a note says so and SIPp is used. Calls always come from SIPp.

A 503 (the PBX shedding load) is an expected answer that ends the
registration or the call; it is reported as failed, refused for overload.
SIPp's per-message counts (-trace_counts) tell how many it saw;
register_load counts them itself. Under each row of its steps a line gives
the rates over the seconds of load alone (the row's rates run to the last
answer, which retransmissions can put seconds later), the 503s to the
first and to the second (authenticated) REGISTER, stale 401s, timeouts,
the datagrams it sent and, for the REGISTER kind, those the PBX received
and its socket dropped, its own CPU, and how many registrations it could
not start in time (a generator that falls behind shows as a lower
attempted rate and says so).

For each kind: first the maximum sustainable rate, the highest with under
--max-fail (0.1) % failed and at least 90 % of the offered rate achieved,
searched with short steps (--search-seconds): rising (doubling from
--*-start, up to --*-cap), then bisecting between the last good and the
first bad rate (--bisect times). Then one step of --step-seconds at 0.5,
1, 1.5, 2 and 3 times that maximum, each followed by --settle-seconds (60)
without load. One table per kind, one row per step: offered rate,
attempted and good (completed) per second, failed %, 503s the PBX sent
(its `shed` counter from `sip show stats --json`, "-" when it has none)
and those the generators saw, their retransmissions, the PBX's queue delay p99
(`queue_delay_ms`, "-" when absent), PBX CPU % of one core, and its VmRSS
at the end of the step and --settle-seconds after it.

Every step is bounded in calls or registrations (SIPp's -m, register_load's
--rate x --seconds) and time (-timeout, --wall and a watchdog);
the whole run ends within --budget seconds: steps that may not fit are
skipped, and said so.

Figures ("LABEL: NUMBER UNIT"), per kind K:
  overload K max: N/s                              (mix: REGISTER + calls offered)
  overload K goodput at Mx: N/s (P % of max)      for M in 0.5 1 1.5 2 3
  overload K failed at Mx: P %
  overload K RSS at max: N MB
  overload K RSS S s after 3x: N MB (idle M MB)
Exit status: 0 when at least one kind gave its maximum, 1 otherwise
("FAILED: why"), 130 when interrupted.

This is a benchmark, not a test: it asserts nothing about the figures.
"""

import argparse
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import register_rate as rr  # noqa: E402  (the PBX start-up, console and SIPp helpers)
import call_rate as cr  # noqa: E402  (calls: the PBX with a dialplan, ports, one step)
import message_rate as mr  # noqa: E402  (settle: wait for the PBX to go idle)
import relay_load as rl  # noqa: E402  (the RTP generator)

from register_rate import BenchError, Interrupted, log, tail  # noqa: E402

ROOT = rr.ROOT
SCENARIOS = cr.SCENARIOS
DOMAIN = rr.DOMAIN
PASSWORD = rr.PASSWORD
CALLER = cr.CALLER            # 2000
CALLEE = cr.CALLEE            # 1000: the callee of the measured calls
BG_CALLEE = "1001"            # the callee of the background RTP calls
MSG_TARGET = "1002"           # the receiver of soak.py's MESSAGEs
MULTIPLES = (0.5, 1, 1.5, 2, 3)
REG_LOAD_SRC = os.path.join(ROOT, "tests", "bench", "register_load.c")
REG_TIMEOUT_S = 10            # register_load's --timeout: the SIPp scenario's recv timeout
# Calls and messages: `_1XXX` in `default` dials, in `messages` delivers.
DIALPLAN = """-- written by tests/bench/overload.py
extensions = {
  default = {
    ["_1XXX"] = function(context, exten)
      app.dial("SIP/" .. exten)
    end,
  },
  messages = {
    ["_1XXX"] = function(context, exten)
      app.messagesend("SIP/" .. exten)
    end,
  },
}
"""


# ---- the PBX ---------------------------------------------------------------------


class LoadPbx(cr.CallPbx):
    """call_rate's PBX (RTP range, no RTP timeout) with calls and messages routed."""

    def write_config(self, md5_only, ban_zero):
        rr.Pbx.write_config(self, md5_only, ban_zero)
        dp = os.path.join(self.workdir, "extensions.lua")
        with open(dp, "w") as f:
            f.write(DIALPLAN)
        with open(self.cfg, "a") as f:
            f.write(f"rtp = {{ port_min = {cr.RTP_PORTS[0]}, port_max = {cr.RTP_PORTS[1]}, "
                    f"timeout = {self.rtp_timeout} }}\n")
            f.write(f'dialplan = {{ file = "{dp}" }}\n')

    def fds(self):
        """Open file descriptors of the PBX (/proc/PID/fd)."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def console(self, *cmds):
        """Run console commands over one connection; [(status, output)]."""
        return rr.console_batch(self.ctl_path(), list(cmds))

    def json_of(self, *cmds):
        """Each command's output parsed as JSON (None for one that failed)."""
        out = []
        for st, text in self.console(*cmds):
            try:
                out.append(json.loads(text) if st == 0 else None)
            except ValueError:
                out.append(None)
        return out

    def sip_stats(self):
        """`sip show stats --json` as a dict ({} when it fails)."""
        try:
            return self.json_of("sip show stats --json")[0] or {}
        except (OSError, BenchError):
            return {}

    def stop_clean(self, timeout=60):
        """SIGTERM and wait up to @timeout s (a sanitizer build checks for leaks at
        exit, which takes a while). Returns the exit status (None: killed)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=5)
                self.proc = None
                return None
        rc = self.proc.returncode
        self.proc = None
        return rc


def mb(kib):
    return kib / 1024.0


def start_pbx(args, workdir, users):
    """The PBX up with @users REGISTER users (3000..) and 1000, 1001, 1002, 2000."""
    pbx = LoadPbx(args.pbx, workdir, rr.free_port_pair(), args.pin)
    pbx.start()
    for n in pbx.notes:
        log("  note: " + n)
    names = [CALLEE, BG_CALLEE, MSG_TARGET, CALLER] + [str(rr.FIRST_EXT + i)
                                                        for i in range(users)]
    t0 = time.monotonic()
    res = rr.console_batch(pbx.ctl_path(), [f"user add {u} --password {PASSWORD}"
                                            for u in names])
    bad = [(u, o) for u, (st, o) in zip(names, res) if st != 0]
    if bad:
        raise BenchError(f"{len(bad)} of {len(names)} `user add` failed; first: "
                         f"{bad[0][0]}: {bad[0][1].strip()}")
    log(f"  PBX pid {pbx.proc.pid}: added {len(names)} users in "
        f"{time.monotonic() - t0:.1f} s")
    return pbx


def register_user(args, pbx, workdir, user, port):
    """Register @user from 127.0.0.1:port, where a SIPp UAS will listen."""
    csv = os.path.join(workdir, f"reg_{user}.csv")
    with open(csv, "w") as f:
        f.write(f"SEQUENTIAL\n{user};{DOMAIN};"
                f"[authentication username={user} password={PASSWORD}]\n")
    reg = SimpleNamespace(sipp=args.sipp, pin=args.pin,
                          scenario=os.path.join(SCENARIOS, "register_auth.xml"))
    st = rr.run_sipp(reg, pbx, workdir, csv, port, rate=1, calls=1, limit=1, timeout_s=8,
                     tag=f"register_{user}")
    if st.ok != 1:
        raise BenchError(f"SIPp could not register {user}: " + (st.fatal or rr.first_error(st)))


def caller_csv(workdir, callee, name):
    csv = os.path.join(workdir, name)
    with open(csv, "w") as f:
        f.write(f"SEQUENTIAL\n{CALLER};{callee};{DOMAIN};"
                f"[authentication username={CALLER} password={PASSWORD}]\n")
    return csv


def count_503(workdir, scenario):
    """503s SIPp received in the run that just ended (its -trace_counts file for
    @scenario, then removed): the sum of every "N_503_Recv" column."""
    total = 0
    for path in glob.glob(os.path.join(workdir, f"{scenario}_*_counts.csv")):
        try:
            with open(path, errors="replace") as f:
                rows = [ln.rstrip("\n").rstrip(";").split(";") for ln in f if ln.strip()]
            if len(rows) >= 2:
                row = dict(zip(rows[0], rows[-1]))
                total += sum(int(v or 0) for k, v in row.items() if k.endswith("_503_Recv"))
        except (OSError, ValueError):
            pass
        os.unlink(path)
    return total


def build_register_load(workdir):
    """tests/bench/register_load.c built into @workdir; its path, or raises BenchError."""
    cc = os.environ.get("CC") or "cc"
    if not shutil.which(cc):
        raise BenchError(f"no C compiler ('{cc}')")
    out = os.path.join(workdir, "register_load")
    try:
        r = subprocess.run([cc, "-O2", "-std=gnu11", "-Wall", "-o", out, REG_LOAD_SRC,
                            "-lcrypto"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchError(f"{cc} failed: {e}")
    if r.returncode != 0:
        raise BenchError(r.stdout.decode(errors="replace").strip()[:300]
                         or f"{cc} exit status {r.returncode}")
    return out


def parse_done(path):
    """register_load's last line, "done KEY=VALUE ...", as a dict (None when absent)."""
    try:
        with open(path, errors="replace") as f:
            lines = [ln for ln in f if ln.startswith("done ")]
    except OSError:
        return None
    if not lines:
        return None
    return dict(kv.split("=", 1) for kv in lines[-1].split()[1:] if "=" in kv)


# ---- one step ------------------------------------------------------------------


class Load:
    """What runs the steps: the PBX, the users' CSVs, the ports, SIPp options."""

    def __init__(self, args, pbx, workdir):
        self.args, self.pbx, self.workdir = args, pbx, workdir
        (self.uas_port, self.uac_port, self.uac_mp, self.uas_mp, self.bg_uas_port,
         self.bg_uac_port, self.bg_uac_mp, self.bg_uas_mp, self.rtp_a,
         self.rtp_b, self.reg_port) = cr.free_ports(11)
        self.reg_csv = os.path.join(workdir, "users.csv")
        rr.write_users_csv(self.reg_csv, args.users)
        self.reg_args = SimpleNamespace(sipp=args.sipp, pin=args.pin,
                                        scenario=os.path.join(SCENARIOS, "register_overload.xml"))
        # soak.py makes a Load of its own, without the option: SIPp, as before.
        self.reg_bin = None
        if getattr(args, "register_driver", "sipp") == "c":
            try:
                self.reg_bin = build_register_load(workdir)
            except BenchError as e:
                log(f"  note: {os.path.relpath(REG_LOAD_SRC, ROOT)} did not build ({e}): "
                    "REGISTER load from SIPp")
        self.call_csv = caller_csv(workdir, CALLEE, "caller.csv")
        self.series = SimpleNamespace(tag="invite", rtp=False, hold_ms=1000, packets=0,
                                      uac_mp=self.uac_mp, uas_mp=self.uas_mp,
                                      scenario=os.path.join(SCENARIOS, "call_uac_overload.xml"),
                                      uac_extra=["-trace_counts"])

    def register(self, rate, seconds, tag):
        if self.reg_bin:
            return self.register_c(rate, seconds, tag)
        return self.register_sipp(rate, seconds, tag)

    def register_c(self, rate, seconds, tag):
        """One bounded run of register_load; the fields of register_sipp()'s result."""
        out = os.path.join(self.workdir, f"{tag}_register_load.out")
        errf = os.path.join(self.workdir, f"{tag}_register_load.err")
        wall = seconds + REG_TIMEOUT_S + 4
        cmd = [self.reg_bin, "--port", str(self.pbx.port), "--rate", f"{rate:g}",
               "--seconds", f"{seconds:g}", "--users-from", str(rr.FIRST_EXT),
               "--users", str(self.args.users), "--password", PASSWORD, "--domain", DOMAIN,
               "--local-port", str(self.reg_port), "--timeout", str(REG_TIMEOUT_S),
               "--wall", f"{wall:g}"]
        if self.args.pin:
            cmd = ["taskset", "-c", "1"] + cmd
        st = SimpleNamespace(killed=False, fatal=None)
        t0 = time.monotonic()
        with open(out, "w") as o, open(errf, "w") as e:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                 cwd=self.workdir, start_new_session=True)
        # Watchdog: --wall should end it; this is the backstop (SIGTERM makes
        # it print its counts, those still in flight as unfinished).
        rc, _, how = cr.reap(p, t0 + wall + 10, signal.SIGTERM, 3)
        st.killed = how is not None
        st.wall = time.monotonic() - t0
        d = parse_done(out)
        if rc != 0 or d is None:
            why = (tail(errf, 2) or tail(out, 1)).replace("\n", " ") or "no output"
            st.fatal = f"register_load ended with exit status {rc} ({how or 'itself'}): {why}"
            d = d or {}
        num = lambda k: int(float(d.get(k, 0)))
        st.created = num("started")
        st.shed_seen = num("shed")
        # As SIPp counts them: a 503 ends the registration "successfully";
        # step() takes the 503s out of the good ones.
        st.ok = num("ok") + st.shed_seen
        st.failed, st.timeouts, st.unfinished = num("failed"), num("timeouts"), num("unfinished")
        st.bad = st.failed + st.timeouts + st.unfinished
        st.retrans = num("retrans")
        # Up to the last final answer, as SIPp's stat file runs to its last call's end;
        # timeouts do not stretch it.
        st.elapsed = max(seconds, float(d.get("last_answer", 0)))
        st.sent = num("sent")
        notstarted = num("notstarted")
        cpu = float(d.get("cpu", "nan"))
        # Within the S seconds registrations were started: what the table's
        # rates are over the whole step, stretched by late answers to
        # retransmissions, these are over the load alone.
        st.detail = (f"register_load: in the {seconds:g} s of load {st.created / seconds:.0f}/s "
                     f"started, {num('ok_window') / seconds:.0f}/s 200s, "
                     f"{num('shed_window') / seconds:.0f}/s 503s; last answer at "
                     f"{float(d.get('last_answer', 0)):.1f} s; 503s to the 1st / 2nd REGISTER "
                     f"{num('shed1')} / {num('shed2')}, 401 stale to the 2nd {num('stale')}, "
                     f"{st.timeouts} timed out; {st.sent} datagrams sent, "
                     f"{num('rxdrops')} answers lost at its socket; CPU "
                     f"{100 * cpu / st.wall:.0f}%"
                     + (f"; {notstarted} NOT STARTED in time: it offered only "
                        f"{float(d.get('offered', 0)):.0f}/s" if notstarted else ""))

        def errors():
            parts = []
            if st.failed:
                parts.append(f"{st.failed} failed (answers: {d.get('codes', '-')})")
            if st.timeouts:
                parts.append(f"{st.timeouts} got no answer within {REG_TIMEOUT_S} s")
            if st.unfinished:
                parts.append(f"{st.unfinished} unfinished at --wall {wall:g} s")
            return "; ".join(parts) or "no error"
        st.errors = errors
        return st

    def register_sipp(self, rate, seconds, tag):
        calls = max(1, int(rate * seconds))
        st = rr.run_sipp(self.reg_args, self.pbx, self.workdir, self.reg_csv, self.reg_port,
                         rate, calls, limit=max(200, int(rate)),
                         timeout_s=int(seconds * 2 + 4), tag=tag, extra=["-trace_counts"])
        st.shed_seen = count_503(self.workdir, "register_overload")
        st.bad = st.failed + st.unfinished
        st.errors = lambda: rr.first_error(st)
        return st

    def invite(self, rate, seconds):
        calls = max(1, int(rate * seconds))
        st = cr.run_step(self.args, self.pbx, self.workdir, self.series, rate, calls,
                         self.uas_port, self.call_csv, self.uac_port)
        st.shed_seen = count_503(self.workdir, "call_uac_overload")
        # SIPp's elapsed time runs to the end of the last call: a rate over the
        # time the calls were offered leaves out the hold of the last ones.
        st.elapsed = max(0.1, st.elapsed - self.series.hold_ms / 1000)
        st.bad = st.uac_bad + st.uas_failed
        st.errors = st.uac_errors
        return st

    def step(self, kind, rate, seconds):
        """One bounded step of @kind at @rate for @seconds; a namespace of results.

        For "mix", REGISTER runs at @rate and the calls at @rate / mix ratio,
        both at once (two threads, each waiting on its SIPp)."""
        pbx = self.pbx
        s = SimpleNamespace(kind=kind, rate=rate, notes=[])
        stats0 = pbx.sip_stats()
        drops0 = rr.socket_drops(pbx.port)
        cpu0, t0 = pbx.cpu_s(), time.monotonic()
        parts = []
        if kind == "REGISTER":
            parts.append(self.register(rate, seconds, f"reg{rate:g}"))
        elif kind == "INVITE":
            parts.append(self.invite(rate, seconds))
        else:
            call_rate = max(1, round(rate / self.args.mix_call_ratio))
            results, errors = [None, None], []

            def run(i, fn, *a):
                try:
                    results[i] = fn(*a)
                except BaseException as e:  # re-raised below, in the main thread
                    errors.append(e)
            threads = [threading.Thread(target=run, args=(0, self.register, rate, seconds,
                                                          f"mixreg{rate:g}")),
                       threading.Thread(target=run, args=(1, self.invite, call_rate, seconds))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
            parts = results
            s.call_rate = call_rate
        s.wall = time.monotonic() - t0
        if not pbx.alive():
            raise BenchError(f"the PBX died during the {kind} {rate:g}/s step "
                             f"({cr.died(pbx)}): " + tail(pbx.logfile, 3).replace("\n", " "))
        s.cpu_pct = 100.0 * (pbx.cpu_s() - cpu0) / s.wall if s.wall > 0 else float("nan")
        s.rss_kib = pbx.rss_kib()
        stats1 = pbx.sip_stats()
        s.shed = (stats1["shed"] - stats0.get("shed", 0)) if "shed" in stats1 else None
        qd = stats1.get("queue_delay_ms")
        s.qd_p99 = qd.get("p99") if isinstance(qd, dict) else None
        s.created = sum(p.created for p in parts)
        s.shed_seen = sum(p.shed_seen for p in parts)
        s.good = sum(p.ok for p in parts) - s.shed_seen
        s.bad = sum(p.bad for p in parts) + s.shed_seen
        s.retrans = sum(p.retrans for p in parts)
        s.elapsed = max(p.elapsed for p in parts) or s.wall
        s.fail_pct = 100.0 * s.bad / s.created if s.created else 100.0
        s.goodput = s.good / s.elapsed if s.elapsed > 0 else 0.0
        s.attempted = s.created / s.elapsed if s.elapsed > 0 else 0.0
        offered = rate + (s.call_rate if kind == "mix" else 0)
        s.offered = offered
        s.fatal = next((p.fatal for p in parts if p.fatal), None)
        s.killed = any(p.killed for p in parts)
        s.errors = "; ".join(p.errors() for p in parts if p.bad)
        s.sustained = (not s.fatal and s.fail_pct < self.args.max_fail
                       and s.goodput >= 0.9 * offered)
        s.details = [p.detail for p in parts if getattr(p, "detail", None)]
        if kind == "REGISTER" and s.details and "received" in stats1:
            # Only the generator talks to the PBX in this kind: what it sent
            # and the PBX did not read was dropped on the way (a full socket).
            s.details[-1] += (f"; PBX received "
                              f"{stats1['received'] - stats0.get('received', 0)}, its socket "
                              f"dropped {rr.socket_drops(pbx.port) - drops0}")
        return s


# ---- background RTP calls --------------------------------------------------------


class Background:
    """--rtp-calls calls to 1001 held for @hold_s, RTP on both legs from rtp_blaster."""

    def __init__(self, load, blaster_bin, n, hold_s):
        self.load, self.n = load, n
        args, wd = load.args, os.path.join(load.workdir, "bg")
        os.makedirs(wd, exist_ok=True)
        self.uas = self.uac = self.blaster = None
        self.sample = None
        csv = caller_csv(wd, BG_CALLEE, "bg_caller.csv")
        register_user(args, load.pbx, wd, BG_CALLEE, load.bg_uas_port)
        uas_log, uac_log = os.path.join(wd, "uas_legs.log"), os.path.join(wd, "uac_legs.log")
        _, self.uas_err, uas_common = cr.sipp_common(args, "bg_uas", wd)
        _, self.uac_err, uac_common = cr.sipp_common(args, "bg_uac", wd)
        self.uas_out, self.uac_out = os.path.join(wd, "uas.out"), os.path.join(wd, "uac.out")
        setup_rate = 50
        timeout_s = int(hold_s + n / setup_rate + 30)
        uas_cmd = [args.sipp, "-sf", os.path.join(SCENARIOS, "call_uas.xml"),
                   "-i", "127.0.0.1", "-p", str(load.bg_uas_port), "-mp", str(load.bg_uas_mp),
                   "-set", "rtpport", str(load.rtp_b), "-m", str(n),
                   "-trace_logs", "-log_file", uas_log,
                   "-timeout", f"{timeout_s + 5}s"] + uas_common
        uac_cmd = [args.sipp, f"127.0.0.1:{load.pbx.port}",
                   "-sf", os.path.join(SCENARIOS, "call_uac.xml"), "-inf", csv,
                   "-i", "127.0.0.1", "-p", str(load.bg_uac_port), "-mp", str(load.bg_uac_mp),
                   "-set", "rtpport", str(load.rtp_a), "-d", str(int(hold_s * 1000)),
                   "-r", str(setup_rate), "-rp", "1000", "-m", str(n), "-l", str(n),
                   "-trace_logs", "-log_file", uac_log,
                   "-timeout", f"{timeout_s}s"] + uac_common
        self.uas = cr.spawn(args, uas_cmd, wd, self.uas_out)
        if not cr.wait_bound(load.bg_uas_port, self.uas):
            raise BenchError("the background SIPp UAS did not start: "
                             + (tail(self.uas_out, 3).replace("\n", " ") or "no output"))
        self.uac = cr.spawn(args, uac_cmd, wd, self.uac_out)
        deadline = time.monotonic() + n / setup_rate + 10
        while time.monotonic() < deadline and self.uac.poll() is None:
            a, b = rl.read_legs(uac_log), rl.read_legs(uas_log)
            if len(a) >= n and len(b) >= n:
                break
            time.sleep(0.2)
        a, b = rl.read_legs(uac_log), rl.read_legs(uas_log)
        self.up = min(len(a), len(b))
        if self.up == 0:
            raise BenchError("no background call came up: "
                             + cr.errors_of(self.uac_err, self.uac_out))
        mapfile = os.path.join(wd, "legs.map")
        with open(mapfile, "w") as f:
            for _, theirs in a:
                f.write(f"{load.rtp_a} {theirs}\n")
            for _, theirs in b:
                f.write(f"{load.rtp_b} {theirs}\n")
        self.blaster = rl.Blaster(args, blaster_bin, mapfile, hold_s, wd)
        # Its counter lines are read all along, so that its pipe never fills.
        self.reader = threading.Thread(target=self._read, args=(hold_s + 10,), daemon=True)
        self.reader.start()

    def _read(self, seconds):
        end = time.monotonic() + seconds
        while True:
            s = self.blaster.next_sample(end)
            if s is None:
                return
            self.sample = s

    def rtp_rates(self):
        """(packets sent, relayed back) per second so far, from the last counter line."""
        s = self.sample
        if not s or s.t <= 0:
            return float("nan"), float("nan")
        return s.sent / s.t, s.recv / s.t

    def stop(self):
        for p in (self.uac, self.uas, self.blaster.proc if self.blaster else None):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


# ---- search and table ------------------------------------------------------------


def fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


HEAD = ("  offered  attempted   goodput  failed%   503s PBX (seen)  retrans  qdelay p99  "
        "PBX CPU  RSS end  RSS +{settle}")


def row(s, mult=None, rss_after=None):
    tag = f"{mult:g}x" if mult is not None else "  "
    return (f"  {s.offered:7.0f}/s {s.attempted:8.0f}/s {s.goodput:7.0f}/s {s.fail_pct:7.2f} "
            f"{fmt(s.shed, '8d'):>8} ({s.shed_seen:6d}) {s.retrans:8d} "
            f"{fmt(s.qd_p99, '8.1f'):>8} ms {s.cpu_pct:6.0f}% {mb(s.rss_kib):6.0f} MB "
            f"{fmt(None if rss_after is None else mb(rss_after), '5.0f'):>5} MB  {tag}"
            f"{'  (killed by watchdog)' if s.killed else ''}")


def search(load, kind, start, cap, end_by):
    """The highest sustained rate of @kind: doubling from @start to @cap, then
    bisecting; each step --search-seconds. Returns (rate or None, why it stopped)."""
    args = load.args
    good, bad, why = None, None, None
    need = args.search_seconds * 2 + 14

    def trial(rate):
        mr.settle(load.pbx)
        s = load.step(kind, rate, args.search_seconds)
        log(row(s) + ("" if s.sustained else "  <- not sustained"))
        for d in s.details:
            log("        " + d)
        if s.fatal:
            raise BenchError(s.fatal)
        return s

    log(f"  search ({args.search_seconds:g} s steps):")
    log(HEAD.format(settle=""))
    rate = start
    while rate <= cap:
        if end_by - time.monotonic() < need:
            why = "budget"
            break
        s = trial(rate)
        if not s.sustained:
            bad = rate
            why = (f"{s.fail_pct:.2f}% failed, {s.goodput:.0f}/s good of {s.offered:.0f}/s"
                   + (f": {s.errors}" if s.errors else ""))
            break
        good = rate
        # Doubling past the cap tries the cap itself once.
        rate = rate * 2 if rate * 2 <= cap or rate == cap else cap
    else:
        why = f"cap {cap}/s reached"
    if bad is not None:
        lo = good or 0
        for _ in range(args.bisect):
            mid = round((lo + bad) / 2)
            if mid <= lo or mid >= bad or end_by - time.monotonic() < need:
                break
            s = trial(mid)
            if s.sustained:
                lo = good = mid
            else:
                bad = mid
    return good, why


def run_kind(load, kind, end_by, bg=None):
    """Search the maximum of @kind, then the table at its multiples; a namespace."""
    args = load.args
    start, cap = {"REGISTER": (args.reg_start, args.reg_cap),
                  "INVITE": (args.call_start, args.call_cap),
                  "mix": (args.mix_start, args.mix_cap)}[kind]
    res = SimpleNamespace(kind=kind, max=None, steps=[])
    log("")
    reg_by = ("register_load" if load.reg_bin else "SIPp register_overload.xml")
    what = {"REGISTER": f"REGISTER with digest ({reg_by})",
            "INVITE": "calls with digest, held 1 s (call_uac_overload.xml -> call_uas.xml)",
            "mix": f"REGISTER ({reg_by}) at the rate and calls at "
                   f"rate/{args.mix_call_ratio:g} at once"
                   + (f", {bg.up} calls with RTP up all along" if bg else "")}[kind]
    log(f"{kind}: {what}")
    res.max, why = search(load, kind, start, cap, end_by)
    log(f"  search stopped: {why}")
    if not res.max:
        return res
    # What was offered at the maximum, in goodput's unit (the mix: both kinds).
    res.calls_at_max = max(1, round(res.max / args.mix_call_ratio)) if kind == "mix" else 0
    res.max_offered = res.max + res.calls_at_max
    unit = "REGISTER/s" if kind != "INVITE" else "calls/s"
    log(f"  maximum sustained: {res.max}/s offered ({unit}); steps of {args.step_seconds:g} s, "
        f"then {args.settle_seconds:g} s without load")
    log(HEAD.format(settle=f"{args.settle_seconds:g} s"))
    for m in MULTIPLES:
        rate = max(1, round(res.max * m))
        if end_by - time.monotonic() < args.step_seconds * 2 + args.settle_seconds + 14:
            log(f"  {m:g}x ({rate}/s) and above skipped: time budget")
            break
        mr.settle(load.pbx)
        s = load.step(kind, rate, args.step_seconds)
        if s.fatal:
            log(f"  {m:g}x: {s.fatal}")
            break
        time.sleep(args.settle_seconds)
        if not load.pbx.alive():
            raise BenchError(f"the PBX died after the {kind} {rate}/s step ({cr.died(load.pbx)})")
        s.rss_after = load.pbx.rss_kib()
        s.mult = m
        res.steps.append(s)
        log(row(s, m, s.rss_after))
        for d in s.details:
            log("        " + d)
        if bg:
            sent, back = bg.rtp_rates()
            log(f"        background RTP so far: {sent:.0f} packets/s sent, {back:.0f}/s "
                "relayed back")
    return res


def report(res, idle_kib, settle_s):
    k = res.kind
    if not res.max:
        log(f"FAILED: overload {k}: no sustained rate found")
        return False
    if res.calls_at_max:
        log(f"overload {k} max: {res.max_offered}/s (REGISTER {res.max}/s + calls "
            f"{res.calls_at_max}/s)")
    else:
        log(f"overload {k} max: {res.max}/s")
    for s in res.steps:
        log(f"overload {k} goodput at {s.mult:g}x: {s.goodput:.0f}/s "
            f"({100.0 * s.goodput / res.max_offered:.0f} % of max)")
        log(f"overload {k} failed at {s.mult:g}x: {s.fail_pct:.2f} %")
    at_max = [s for s in res.steps if s.mult == 1]
    if at_max:
        log(f"overload {k} RSS at max: {mb(at_max[0].rss_kib):.1f} MB")
    if res.steps:
        last = res.steps[-1]
        log(f"overload {k} RSS {settle_s:g} s after {last.mult:g}x: {mb(last.rss_after):.1f} MB "
            f"(idle {mb(idle_kib):.1f} MB)")
    return True


def on_signal(signum, frame):
    raise Interrupted(f"interrupted by signal {signum}")


def check_tools(args):
    if not shutil.which(args.sipp):
        raise BenchError(f"'{args.sipp}' not found (Debian package sip-tester)")
    if not (os.path.isfile(args.pbx) and os.access(args.pbx, os.X_OK)):
        raise BenchError(f"{args.pbx} is not built")
    if args.pin and ((os.cpu_count() or 1) < 2 or not shutil.which("taskset")):
        log("  note: fewer than 2 CPUs or no taskset: not pinning")
        args.pin = False
    args.pbx = os.path.abspath(args.pbx)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", default=os.path.join(ROOT, "build", "pbx"))
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--kinds", default="REGISTER,INVITE,mix")
    ap.add_argument("--register-driver", choices=("c", "sipp"), default="c",
                    help="what sends the registrations: tests/bench/register_load.c "
                         "(built with cc; SIPp when it does not build) or SIPp")
    ap.add_argument("--users", type=int, default=1000, help="REGISTER users")
    ap.add_argument("--reg-start", type=int, default=1000)
    ap.add_argument("--reg-cap", type=int, default=80000)
    ap.add_argument("--call-start", type=int, default=50)
    ap.add_argument("--call-cap", type=int, default=3000)
    ap.add_argument("--mix-start", type=int, default=500, help="REGISTER/s of the mix")
    ap.add_argument("--mix-cap", type=int, default=40000)
    ap.add_argument("--mix-call-ratio", type=float, default=20,
                    help="the mix runs calls at its REGISTER rate / this")
    ap.add_argument("--rtp-calls", type=int, default=200,
                    help="calls with RTP up during the mix (0: none)")
    ap.add_argument("--search-seconds", type=float, default=3)
    ap.add_argument("--bisect", type=int, default=3)
    ap.add_argument("--step-seconds", type=float, default=10)
    ap.add_argument("--settle-seconds", type=float, default=60)
    ap.add_argument("--max-fail", type=float, default=0.1,
                    help="failed percent under which a rate is sustained")
    ap.add_argument("--budget", type=float, default=1800,
                    help="seconds for the whole run; steps that may not fit are skipped")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    start = time.monotonic()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for k in kinds:
        if k not in ("REGISTER", "INVITE", "mix"):
            raise BenchError(f"--kinds: unknown kind {k} (REGISTER, INVITE, mix)")
    check_tools(args)
    workdir = tempfile.mkdtemp(prefix="pbx-overload-")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pbx = bg = None
    try:
        load1 = os.getloadavg()[0]
        pbx = start_pbx(args, workdir, args.users)
        log(f"Overload: PBX {os.path.relpath(args.pbx, ROOT)} on udp:127.0.0.1:{pbx.port}"
            f"{' (CPU 0)' if args.pin else ''}, load generators "
            f"{'on CPU 1' if args.pin else 'unpinned'}, "
            f"sustained = under {args.max_fail:g}% failed and 90% of the offered rate achieved")
        if load1 > 0.5:
            log(f"  note: the machine is not idle (load average {load1:.2f})")
        load = Load(args, pbx, workdir)
        register_user(args, pbx, workdir, CALLEE, load.uas_port)
        # One registration and one call, to fail early when nothing gets through.
        s = load.step("REGISTER", 1, 1)
        if s.good < 1:
            raise BenchError("one REGISTER does not get through: " + (s.fatal or s.errors))
        s = load.step("INVITE", 1, 1)
        if s.good < 1:
            raise BenchError("one call does not get through: " + (s.fatal or s.errors))
        if "shed" not in pbx.sip_stats():
            log("  note: `sip show stats --json` has no `shed` counter: 503s sent shows \"-\"")
        mr.settle(pbx)
        idle_kib = pbx.rss_kib()
        log(f"  idle: VmRSS {mb(idle_kib):.1f} MB, {pbx.fds()} fds")
        results = []
        for i, kind in enumerate(kinds):
            left = args.budget - (time.monotonic() - start)
            end_by = time.monotonic() + left / (len(kinds) - i)
            if kind == "mix" and args.rtp_calls > 0:
                blaster_bin = rl.build_blaster(workdir)
                bg = Background(load, blaster_bin, args.rtp_calls,
                                max(10, end_by - time.monotonic()))
                log(f"  {bg.up} background calls up, RTP flowing")
            try:
                results.append(run_kind(load, kind, end_by, bg))
            except BenchError as e:
                log(f"  {kind} stopped: {e}")
                results.append(SimpleNamespace(kind=kind, max=None, steps=[]))
                if not pbx.alive():
                    break
            if bg:
                bg.stop()
                bg = None
        log("")
        done = sum(report(r, idle_kib, args.settle_seconds) for r in results)
        if not done:
            raise BenchError("no kind gave a maximum")
        return 0
    finally:
        if bg:
            bg.stop()
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
