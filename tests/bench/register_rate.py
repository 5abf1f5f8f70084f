#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""REGISTER-with-auth rate benchmark: SIPp against build/pbx on loopback.

Starts the PBX in the foreground with a throw-away state directory, adds
N users through the console socket, then runs SIPp's REGISTER -> 401 ->
REGISTER with digest -> 200 scenario (tests/bench/scenarios/register_auth.xml)
at rising offered rates. Each step is bounded in calls (-m) and time
(-timeout, and a watchdog here). Stepping stops at the first step with
more than 1% failed registrations, or when the offered rate can no longer
be reached. The PBX runs on CPU 0 and SIPp on CPU 1 (taskset), so the two
do not share a core, but they do share the machine.

Prints a table per step and, at the end, figure lines of the form
"LABEL: NUMBER UNIT" that tests/bench/run.sh records. The headline is
"REGISTER with auth: N/s", the highest achieved rate of a step with at
most 1% failures. Exit status: 0 when that figure was measured, 1 when
nothing could be measured (the reason is printed as "FAILED: why").

This is a benchmark, not a test: it asserts nothing about the figures.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOMAIN = "bench.local"
PASSWORD = "benchpw1"
FIRST_EXT = 3000
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A reason the benchmark cannot go on; printed as FAILED: <reason>."""


class Interrupted(Exception):
    """SIGINT or SIGTERM: clean up and leave, reporting nothing."""


def log(msg=""):
    print(msg, flush=True)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair():
    """A free UDP port whose TCP twin is free too (the PBX may open both)."""
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise BenchError("no free loopback port")


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15 of stat(5)


def udp_drops():
    """Datagrams the kernel dropped for full socket buffers, machine-wide."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Udp:")]
        return int(dict(zip(rows[0][1:], rows[1][1:])).get("RcvbufErrors", 0))
    except (OSError, IndexError, ValueError):
        return 0


def socket_drops(port):
    """Datagrams dropped at the UDP socket bound to 127.0.0.1:port (/proc/net/udp)."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            for line in f:
                cols = line.split()
                if len(cols) > 12 and cols[1] == want:
                    return int(cols[-1])
    except (OSError, ValueError):
        pass
    return 0


def busy_cpu_s():
    """CPU time all CPUs spent not idle, machine-wide (/proc/stat), in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip()
    except OSError:
        return ""


# ---- the PBX ---------------------------------------------------------------------


class Pbx:
    def __init__(self, binary, workdir, port, pin):
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.pin = pin
        self.proc = None
        self.cfg = None
        self.state = None
        self.logfile = None
        self.notes = []
        self.md5_only = False
        self.attempt = 0

    def write_config(self, md5_only, ban_zero):
        self.attempt += 1
        self.state = os.path.join(self.workdir, f"state{self.attempt}")
        os.makedirs(self.state)
        self.cfg = os.path.join(self.workdir, f"pbx{self.attempt}.lua")
        self.logfile = os.path.join(self.workdir, f"pbx{self.attempt}.log")
        sip = [f'listen = {{ "udp:127.0.0.1:{self.port}" }}', f'domain = "{DOMAIN}"',
               "qualify_interval = 0",
               # 0 = never ban. The maximum is the fallback for a PBX that
               # refuses 0: correct passwords never count as failures anyway.
               f"ban_threshold = {0 if ban_zero else 100000}"]
        if md5_only:
            # SIPp answers digest challenges with MD5 only.
            sip.append('auth_algorithms = { "md5" }')
        with open(self.cfg, "w") as f:
            f.write("-- written by tests/bench/register_rate.py\n")
            f.write(f'pbx = {{ state_dir = "{self.state}", log_level = "warning" }}\n')
            f.write("sip = { " + ", ".join(sip) + " }\n")

    def try_start(self):
        """Start with the current config; None when up, else the PBX's error text."""
        cmd = [self.binary, "-c", self.cfg, "-f"]
        if self.pin:
            cmd = ["taskset", "-c", "0"] + cmd
        with open(self.logfile, "w") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = tail(self.logfile, 5)
                errs = [l.strip() for l in text.splitlines() if "error" in l.lower()]
                why = "; ".join(errs or text.splitlines()[-1:]) or "no output"
                rc = self.proc.returncode
                self.proc = None
                return f"exit status {rc}: {why}"
            if sip_ping(self.port):
                return None
            time.sleep(0.1)
        self.stop()
        return "no answer to SIP OPTIONS within 10 s"

    def start(self):
        """Try the bench config, falling back where the PBX refuses a key."""
        md5_only, ban_zero = True, True
        for _ in range(4):
            self.write_config(md5_only, ban_zero)
            err = self.try_start()
            if err is None:
                self.md5_only = md5_only
                return
            if md5_only and "auth_algorithms" in err:
                self.notes.append("the PBX refused sip.auth_algorithms = { \"md5\" } "
                                  f"({err}); started without it, "
                                  "so it offers SHA-256 first and SIPp (MD5 only) may fail "
                                  "to authenticate")
                md5_only = False
            elif ban_zero:
                self.notes.append(f"the PBX did not start with sip.ban_threshold = 0 "
                                  f"({err}); used 100000 instead")
                ban_zero = False
            else:
                raise BenchError(f"PBX did not start: {err}")
        raise BenchError("PBX did not start with any bench config")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid)

    def stop(self):
        """SIGTERM (SIGKILL after 5 s); returns a note when the exit was not clean."""
        if not self.proc:
            return None
        note = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=5)
                if rc != 0:
                    note = (f"the PBX exited with status {rc} on SIGTERM: "
                            + (tail(self.logfile, 1) or "no output"))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                note = "the PBX did not stop within 5 s of SIGTERM: killed"
        self.proc = None
        return note

    def ctl_path(self):
        return os.path.join(self.state, "run", "pbx.ctl")


def sip_ping(port):
    """True when something answers an OPTIONS on 127.0.0.1:port with a SIP response."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        msg = (f"OPTIONS sip:{DOMAIN} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-ping{time.time_ns()};rport\r\n"
               "Max-Forwards: 70\r\n"
               f"From: <sip:ping@{DOMAIN}>;tag=ping\r\n"
               f"To: <sip:{DOMAIN}>\r\n"
               f"Call-ID: ping-{time.time_ns()}@127.0.0.1\r\n"
               "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        s.settimeout(0.3)
        try:
            s.sendto(msg.encode(), ("127.0.0.1", port))
            data = s.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 ")


# ---- memory ----------------------------------------------------------------------


def heap_in_use(pbx):
    """`core show memory --json`'s heap_in_use, or None."""
    try:
        (status, out), = console_batch(pbx.ctl_path(), ["core show memory --json"])
        return json.loads(out)["heap_in_use"] if status == 0 else None
    except (OSError, ValueError, KeyError, BenchError):
        return None


def registered(pbx):
    try:
        (status, out), = console_batch(pbx.ctl_path(), ["sip show registrations --json"])
        return len(json.loads(out)) if status == 0 else 0
    except (OSError, ValueError, BenchError):
        return 0


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ---- users -----------------------------------------------------------------------


def console_batch(path, commands, batch=100):
    """Run console commands over one console connection, as `pbx -r` does.

    The protocol is a line per command; the reply is output lines and then
    a line "\\x04STATUS". Commands are pipelined in batches. Returns
    [(status, output)] in order.
    """
    results = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(path)
        buf, lines = b"", []
        for i in range(0, len(commands), batch):
            chunk = commands[i:i + batch]
            s.sendall("".join(c + "\n" for c in chunk).encode())
            want = len(results) + len(chunk)
            while len(results) < want:
                nl = buf.find(b"\n")
                if nl < 0:
                    data = s.recv(65536)
                    if not data:
                        raise BenchError("the PBX closed the console connection")
                    buf += data
                    continue
                line, buf = buf[:nl], buf[nl + 1:]
                if line.startswith(b"\x04"):
                    status = int(line[1:]) if line[1:].strip().isdigit() else 1
                    results.append((status, b"\n".join(lines).decode(errors="replace")))
                    lines = []
                else:
                    lines.append(line)
    return results


def add_users(pbx, n):
    cmds = [f"user add {FIRST_EXT + i} --password {PASSWORD}" for i in range(n)]
    t0 = time.monotonic()
    try:
        results = console_batch(pbx.ctl_path(), cmds)
        how = "one console connection"
    except (OSError, BenchError) as e:
        log(f"  console socket failed ({e}); falling back to parallel `pbx -rx`")
        results = add_users_rx(pbx, cmds)
        how = "parallel pbx -rx"
        # Users the console connection added before it failed are fine.
        results = [(0, o) if "already exists" in o else (st, o) for st, o in results]
    bad = [(c, r) for c, r in zip(cmds, results) if r[0] != 0]
    if bad:
        c, r = bad[0]
        raise BenchError(f"{len(bad)} of {n} `user add` failed; first: '{c}' -> "
                         f"status {r[0]}: {r[1].strip()}")
    log(f"  added {n} users ({FIRST_EXT}..{FIRST_EXT + n - 1}) in "
        f"{time.monotonic() - t0:.1f} s via {how}")


def add_users_rx(pbx, cmds, parallel=4):
    """Fallback: one `pbx -rx` per user, a few at a time."""
    results = [None] * len(cmds)
    running = []
    i = 0
    deadline = time.monotonic() + 120
    while i < len(cmds) or running:
        if time.monotonic() > deadline:
            for _, p in running:
                p.kill()
            raise BenchError("adding users with pbx -rx took over 120 s")
        while i < len(cmds) and len(running) < parallel:
            p = subprocess.Popen([pbx.binary, "-c", pbx.cfg, "-rx", cmds[i]],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            running.append((i, p))
            i += 1
        j, p = running.pop(0)
        out, _ = p.communicate()
        results[j] = (p.returncode, out.decode(errors="replace"))
    return results


def write_users_csv(path, n):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(n):
            ext = FIRST_EXT + i
            f.write(f"{ext};{DOMAIN};[authentication username={ext} password={PASSWORD}]\n")


# ---- SIPp ------------------------------------------------------------------------


def parse_stat_csv(path):
    """The last row of SIPp's -trace_stat file as {column: value}."""
    with open(path, errors="replace") as f:
        rows = [line.rstrip("\n") for line in f if line.strip()]
    if len(rows) < 2:
        raise BenchError(f"SIPp wrote no statistics to {os.path.basename(path)}")
    head = rows[0].rstrip(";").split(";")
    last = rows[-1].rstrip(";").split(";")
    return dict(zip(head, last))


def epoch_of(field):
    """SIPp time fields read "2024-01-01\\t12:00:00.123456\\t1704110400.123456"."""
    return float(field.split("\t")[-1])


def duration_s(field):
    """SIPp durations read "HH:MM:SS:uuuuuu" (or "HH:MM:SS")."""
    parts = field.split(":")
    s = int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
    if len(parts) > 3:
        s += int(parts[3]) / 1e6
    return s


class Step:
    pass


def run_sipp(args, pbx, workdir, csv, sipp_port, rate, calls, limit, timeout_s, tag,
             trace=False, extra=()):
    """Run one bounded SIPp client; returns a Step with counts and timings.

    @extra: more SIPp options (overload.py adds -trace_counts)."""
    stat = os.path.join(workdir, f"{tag}_stat.csv")
    errf = os.path.join(workdir, f"{tag}_errors.log")
    msgf = os.path.join(workdir, f"{tag}_messages.log")
    outf = os.path.join(workdir, f"{tag}_sipp.out")
    cmd = [args.sipp, f"127.0.0.1:{pbx.port}", "-sf", args.scenario, "-inf", csv,
           "-i", "127.0.0.1", "-p", str(sipp_port), "-t", "u1",
           "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(limit),
           "-timeout", f"{timeout_s}s", "-nd", "-nostdin",
           "-trace_stat", "-stf", stat, "-fd", "1",
           "-trace_err", "-error_file", errf,
           # Bigger batches per event-loop turn than SIPp's default 1000, so
           # its loop does not throttle the load at the higher rates; the
           # socket buffer asked for is capped by net.core.rmem_max.
           "-max_recv_loops", "10000", "-max_sched_loops", "10000",
           "-buff_size", str(4 * 1024 * 1024), "-skip_rlimit"] + list(extra)
    if trace:
        cmd += ["-trace_msg", "-message_file", msgf]
    if args.pin:
        cmd = ["taskset", "-c", "1"] + cmd
    st = Step()
    st.rate, st.calls, st.msgfile, st.errfile, st.outfile = rate, calls, msgf, errf, outf
    cpu0 = pbx.cpu_s()
    drops0 = udp_drops()
    pbx_drops0 = socket_drops(pbx.port)
    busy0 = busy_cpu_s()
    t0 = time.monotonic()
    with open(outf, "w") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             cwd=workdir, start_new_session=True)
    # Watchdog: SIPp's own -timeout should end it; this is the backstop.
    deadline = t0 + timeout_s + 10
    killed = False
    reaped = False
    try:
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                reaped = True
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGKILL)
                killed = True
                pid, status, ru = os.wait4(p.pid, 0)
                reaped = True
                break
            time.sleep(0.02)
    finally:
        if not reaped:  # interrupted: SIPp runs in its own session, end it
            os.killpg(p.pid, signal.SIGKILL)
            os.waitpid(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    st.wall = time.monotonic() - t0
    st.pbx_cpu = pbx.cpu_s() - cpu0 if pbx.alive() else float("nan")
    st.sipp_cpu = ru.ru_utime + ru.ru_stime
    st.drops = udp_drops() - drops0
    st.pbx_drops = socket_drops(pbx.port) - pbx_drops0
    # Everything else that ran meanwhile: other processes, and kernel work
    # (loopback softirqs) charged to no process. Noise when it is high.
    st.other_cpu = busy_cpu_s() - busy0 - st.sipp_cpu - \
        (0 if math.isnan(st.pbx_cpu) else st.pbx_cpu)
    st.rc = p.returncode
    st.killed = killed
    # 0: every call succeeded, 1: some failed, 97/99: other normal ends;
    # 255/254 (-1/-2) are fatal errors, negative a signal.
    st.fatal = None
    if not killed and (st.rc < 0 or st.rc >= 128):
        st.fatal = f"SIPp stopped with a fatal error (exit status {st.rc}): {first_error(st)}"
    try:
        row = parse_stat_csv(stat)
    except (OSError, BenchError) as e:
        raise BenchError(st.fatal or f"SIPp (exit status {st.rc}) gave no statistics: {e}; "
                         + first_error(st))
    num = lambda k: int(row.get(k, "0") or 0)
    st.created = num("TotalCallCreated")
    st.ok = num("SuccessfulCall(C)")
    st.failed = num("FailedCall(C)")
    st.unfinished = max(0, st.created - st.ok - st.failed)
    st.retrans = num("Retransmissions(C)")
    st.unexpected = num("FailedUnexpectedMessage(C)")
    st.timeouts = num("FailedTimeoutOnRecv(C)") + num("FailedMaxUDPRetrans(C)")
    try:
        st.elapsed = epoch_of(row["CurrentTime"]) - epoch_of(row["StartTime"])
    except (KeyError, ValueError, IndexError):
        st.elapsed = st.wall
    try:
        st.latency_ms = duration_s(row["CallLength(C)"]) * 1000
    except (KeyError, ValueError, IndexError):
        st.latency_ms = float("nan")
    bad = st.failed + st.unfinished
    st.fail_pct = 100.0 * bad / st.created if st.created else 100.0
    st.achieved = st.ok / st.elapsed if st.elapsed > 0 else 0.0
    return st


def first_error(st):
    """What went wrong in a SIPp run, in one line: kinds of failure counted,
    then the first failure event SIPp logged (stray answers to calls it had
    already finished, "Dead call", are not failures and are skipped)."""
    text = ""
    try:
        with open(st.errfile, errors="replace") as f:
            text = f.read()
    except OSError:
        pass
    text = text.replace("The following events occurred:", "")
    # Each event starts with "DATE<TAB>TIME<TAB>EPOCH: ".
    events = re.split(r"(?:^|\n)?\d{4}-\d\d-\d\d\t[\d:.]+\t\d+\.\d+: ", text)
    events = [e.strip() for e in events if e.strip() and not e.startswith("Dead call")]
    if not events:
        return tail(st.outfile, 3).replace("\n", " ")[:400] or "no error logged"
    kinds = {}
    for e in events:
        if "receive timeout" in e:
            k = "receive timeouts"
        elif "unexpected message" in e:
            m = re.search(r"received '(SIP/2\.0 \d{3}[^\r\n]*)", e)
            k = "unexpected " + (m.group(1)[8:] if m else "message")
            if "stale=true" in e:
                k += " (stale=true)"
        else:
            k = " ".join(e.split("\n")[0].split())[:160]
        kinds[k] = kinds.get(k, 0) + 1
    if len(events) == 1:
        return " ".join(events[0].split("\n")[0].split())[:300]
    counted = ", ".join(f"{n} x {k}" for k, n in sorted(kinds.items(), key=lambda x: -x[1]))
    first = " ".join(events[0].split("\n")[0].split())[:300]
    return f"{counted}; first: {first}"


def probe(args, pbx, workdir, csv, sipp_port):
    """One registration with full message trace: does SIPp get through at all?"""
    st = run_sipp(args, pbx, workdir, csv, sipp_port, rate=1, calls=1, limit=1,
                  timeout_s=8, tag="probe", trace=True)
    if st.ok == 1:
        log(f"  probe: one REGISTER with digest auth succeeded "
            f"({st.latency_ms:.0f} ms for the two round trips, in SIPp's whole ms)")
        return
    why = st.fatal or first_error(st)
    msgs = ""
    try:
        with open(st.msgfile, errors="replace") as f:
            msgs = f.read()
    except OSError:
        pass
    # What the PBX answered, for the report.
    codes = re.findall(r"^SIP/2\.0 (\d{3} [^\r\n]*)", msgs, re.M)
    chals = re.findall(r"^WWW-Authenticate:[^\r\n]*", msgs, re.M | re.I)
    log("  probe: the single REGISTER failed. SIPp says: " + why)
    if codes:
        log("  probe: PBX responses: " + ", ".join(dict.fromkeys(codes)))
    for c in dict.fromkeys(chals):
        log("  probe: " + c)
    log(f"  probe: full trace kept in {st.msgfile}" if args.keep
        else "  probe: rerun with --keep to keep the full SIPp message trace")
    hint = ""
    if not pbx.md5_only:
        hint = (" (the PBX offers SHA-256 first and could not be told to offer MD5 only; "
                "SIPp implements MD5 digest only)")
    raise BenchError(f"SIPp could not register through digest auth: {why}{hint}")


# ---- main ------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", default=os.path.join(ROOT, "build", "pbx"))
    ap.add_argument("--sipp", default="sipp")
    ap.add_argument("--scenario",
                    default=os.path.join(ROOT, "tests", "bench", "scenarios", "register_auth.xml"))
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--rates", default="1000,2000,3000,5000,7000,10000,14000,20000",
                    help="offered REGISTER rates per second, comma-separated, rising")
    ap.add_argument("--step-seconds", type=float, default=4,
                    help="length of one step at the offered rate (calls = rate * this)")
    ap.add_argument("--budget", type=float, default=130,
                    help="seconds for the whole benchmark; steps that may not fit are skipped")
    ap.add_argument("--max-fail", type=float, default=1.0, help="failure percent that ends stepping")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the PBX to CPU 0 and SIPp to CPU 1")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    start = time.monotonic()

    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    if not shutil.which(args.sipp):
        raise BenchError(f"'{args.sipp}' not found (Debian package sip-tester)")
    if not (os.path.isfile(args.pbx) and os.access(args.pbx, os.X_OK)):
        raise BenchError(f"{args.pbx} is not built")
    if not os.path.isfile(args.scenario):
        raise BenchError(f"scenario {args.scenario} missing")
    if args.pin and (os.cpu_count() or 1) < 2:
        log("  note: fewer than 2 CPUs: not pinning")
        args.pin = False
    if args.pin and not shutil.which("taskset"):
        log("  note: taskset not found (util-linux): not pinning")
        args.pin = False
    args.pbx = os.path.abspath(args.pbx)
    args.scenario = os.path.abspath(args.scenario)

    workdir = tempfile.mkdtemp(prefix="pbx-bench-")
    pbx = Pbx(args.pbx, workdir, free_port_pair(), args.pin)
    sipp_port = free_udp_port()
    # SIGTERM/SIGINT from run.sh or the user: clean up like any error.
    def on_signal(signum, frame):
        raise Interrupted(f"interrupted by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    load1 = os.getloadavg()[0]
    try:
        log(f"REGISTER-with-auth rate: PBX {os.path.relpath(args.pbx, ROOT)} on "
            f"udp:127.0.0.1:{pbx.port}{' (CPU 0)' if args.pin else ''}, SIPp "
            f"{'on CPU 1' if args.pin else 'unpinned'}, {args.users} users, "
            f"{args.step_seconds:g} s per step")
        if load1 > 0.5:
            log(f"  note: the machine is not idle (load average {load1:.2f}): other work "
                "competes for the 2 cores; see the 'other CPU' column")
        pbx.start()
        for n in pbx.notes:
            log("  note: " + n)
        log(f"  PBX pid {pbx.proc.pid}, config {pbx.cfg}"
            f"{' (MD5-only challenges)' if pbx.md5_only else ''}")
        heap0 = heap_in_use(pbx)
        add_users(pbx, args.users)
        csv = os.path.join(workdir, "users.csv")
        write_users_csv(csv, args.users)
        probe(args, pbx, workdir, csv, sipp_port)

        log("")
        log("  offered  achieved   calls     ok  failed  fail%  retrans  drops (PBX)  latency  "
            "PBX CPU  us/REG  SIPp CPU  other CPU")
        steps, stop_why = [], None
        for rate in rates:
            calls = int(rate * args.step_seconds)
            timeout_s = int(args.step_seconds * 2 + 4)
            left = args.budget - (time.monotonic() - start)
            if left < timeout_s + 12:
                stop_why = f"time budget ({args.budget:g} s) used up before {rate}/s"
                break
            time.sleep(0.5)  # let the last step's stragglers drain
            try:
                st = run_sipp(args, pbx, workdir, csv, sipp_port, rate, calls,
                              limit=max(200, rate), timeout_s=timeout_s, tag=f"step{rate}")
            except BenchError as e:
                stop_why = f"the {rate}/s step could not run: {e}"
                break
            if st.fatal:
                stop_why = st.fatal
                break
            steps.append(st)
            cpu_pct = 100.0 * st.pbx_cpu / st.elapsed if st.elapsed > 0 else float("nan")
            us_per = 1e6 * st.pbx_cpu / st.ok if st.ok else float("nan")
            sipp_pct = 100.0 * st.sipp_cpu / st.wall if st.wall > 0 else float("nan")
            other_pct = 100.0 * st.other_cpu / st.wall if st.wall > 0 else float("nan")
            st.cpu_pct, st.us_per = cpu_pct, us_per
            log(f"  {rate:7d} {st.achieved:8.0f}/s {st.created:7d} {st.ok:6d} "
                f"{st.failed + st.unfinished:7d} {st.fail_pct:6.2f} {st.retrans:8d} "
                f"{st.drops:6d} ({st.pbx_drops:4d}) {st.latency_ms:6.0f} ms {cpu_pct:7.0f}% {us_per:7.1f} "
                f"{sipp_pct:8.0f}% {other_pct:9.0f}%"
                f"{'  (killed by watchdog)' if st.killed else ''}")
            if not pbx.alive():
                stop_why = (f"the PBX died during the {rate}/s step: "
                            + (tail(pbx.logfile, 3).replace("\n", " ") or "no output"))
                break
            if st.fail_pct > args.max_fail:
                stop_why = (f"{st.fail_pct:.2f}% failed at {rate}/s; first error: "
                            f"{first_error(st)}")
                break
            if st.achieved < 0.8 * rate:
                stop_why = (f"offered {rate}/s but only {st.achieved:.0f}/s completed "
                            f"(saturated: PBX CPU {cpu_pct:.0f}%, SIPp CPU {sipp_pct:.0f}%)")
                break
        if stop_why:
            log(f"  stopped: {stop_why}")
        else:
            log("  stopped: highest offered rate reached")

        good = [s for s in steps if s.fail_pct <= args.max_fail and s.ok]
        log("")
        for s in steps:
            log(f"REGISTER with auth step {s.rate}/s offered: {s.achieved:.0f}/s achieved, "
                f"{s.fail_pct:.2f}% failed, PBX CPU {s.cpu_pct:.0f}%, "
                f"{s.us_per:.1f} us PBX CPU per REGISTER")
        if not good:
            raise BenchError("no step stayed within "
                             f"{args.max_fail:g}% failures" + (f": {stop_why}" if stop_why else ""))
        best = max(good, key=lambda s: s.achieved)
        log(f"REGISTER with auth: {best.achieved:.0f}/s")
        # Memory: the heap a registered user holds once the load is over (its
        # binding, the user kept in memory), and the peak resident size.
        time.sleep(1.0)
        heap1, regs = heap_in_use(pbx), registered(pbx)
        if heap0 is not None and heap1 is not None and regs:
            log(f"REGISTER with auth, heap per registered user: {(heap1 - heap0) / regs:.0f} bytes")
        hwm = peak_rss_mb(pbx.proc.pid)
        if hwm:
            log(f"REGISTER with auth, peak RSS: {hwm:.1f} MB")
        log(f"REGISTER with auth, PBX CPU per registration: {best.us_per:.1f} us")
        # SIPp keeps call lengths in whole milliseconds: 0 means under 1 ms.
        log(f"REGISTER with auth, mean registration time: {best.latency_ms:.0f} ms")
        return 0
    finally:
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
