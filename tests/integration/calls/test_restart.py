"""Restart safety (issue 15): a graceful stop under a call, and kill -9 under load.

`core stop gracefully [TIMEOUT]` refuses new calls with 503 and a
Retry-After while registrations go on being served, stops once the last
call has ended, and ends the calls still up when its time runs out
(`TIMEOUT`, else `pbx.stop_timeout`).

kill -9 at a few moments of a mixed load on the shipped config and
dialplan (re-REGISTERs, echo calls set up and torn down, a call in
voicemail, still in its greeting at these moments, and a Record() being
written; test_voicemail.py kills during a voicemail recording): the
database passes `PRAGMA integrity_check`,
the next start brings back the registrations from SQLite, leaves no
partial recording or voicemail scratch file behind, accepts a phone's
REGISTER at once, and a call between two phones that did not register
again carries RTP both ways.
"""

import signal
import sqlite3
import threading
import time

import pytest

import callib
from callib import PASSWORD, Phone, wait_channels

TONE = callib.tone(700, 4)


def up_call(a, b):
    """@a calls @b's extension; @b answers; returns (caller's Call, callee's Call)."""
    c = a.call(b.ext)
    inc = b.incoming()
    inc.answer()
    c.established()
    return c, inc


# ---- graceful stop --------------------------------------------------------------------------


def test_graceful_stop_refuses_new_calls_and_waits_for_the_last(call_pbx, phone):
    p = call_pbx()
    a, b, late = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    c, inc = up_call(a, b)
    wait_channels(p, 2)

    rc, out, err = p.rx("core stop gracefully 30")
    assert (rc, err) == (0, ""), (rc, out, err)
    assert out == ("Stopping when no calls are up.\n1 call (2 channels) is still up; "
                   "new calls get 503; those still up in 30 s are ended.\n"), out

    # A new call: refused with 503 and a Retry-After, as Asterisk's stop gracefully.
    c2 = late.call("1002")
    r = c2.final()
    assert r.status == 503, r.text()
    assert r.get("Retry-After", "").split(";")[0].strip().isdigit(), r.text()
    c2.ack_failure(r)
    # Registrations are still served: a phone that reboots meanwhile is not lost.
    phone(p, "1004")
    assert p.running()
    assert len(callib.channels(p)) == 2

    # The call's own BYE ends it, and then the PBX.
    assert c.bye().status == 200
    inc.wait_bye()
    p.wait_exit(status=0)
    assert "stopping gracefully" in p.log()


def test_graceful_stop_ends_the_calls_still_up_at_its_timeout(call_pbx, phone):
    """pbx.stop_timeout bounds `core stop gracefully`; what is still up then gets a BYE."""
    p = call_pbx(pbx={"stop_timeout": 2})
    a, b = phone(p, "1001"), phone(p, "1002")
    c, inc = up_call(a, b)
    rc, out, err = p.rx("core stop gracefully")
    assert rc == 0 and "those still up in 2 s are ended" in out, (rc, out, err)
    t0 = time.monotonic()
    c.wait_bye(timeout=10)
    inc.wait_bye(timeout=5)
    assert time.monotonic() - t0 >= 1.5, "ended before the timeout"
    p.wait_exit(status=0)
    assert "graceful stop: 2 channel(s) still up after 2 s: ending them" in p.log()


def test_stop_timeout_arguments(pbx):
    assert pbx.fail("core stop gracefully soon") == (
        "Error: core stop gracefully: TIMEOUT 'soon' is not a number of seconds from 0 "
        "(no limit) to 86400\n")
    assert "no TIMEOUT" in pbx.fail("core stop now 5")
    assert pbx.running()
    assert "stop_timeout" in pbx.ok("core show settings")


def test_stop_timeout_config_is_checked(pbx_factory):
    p = pbx_factory(sections={"pbx": {"stop_timeout": -1}})
    cp = p.run("-c", str(p.cfg_path), "-f")
    assert cp.returncode != 0
    assert "stop_timeout" in cp.stderr, cp.stderr


# ---- kill -9 under load, then a start ----------------------------------------------------


def db_registrations(p):
    con = sqlite3.connect(f"file:{p.db_path}?mode=ro", uri=True, timeout=5)
    try:
        return {r[0] for r in con.execute("SELECT extension FROM registrations")}
    finally:
        con.close()


def integrity(path):
    con = sqlite3.connect(str(path), timeout=5)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


class Load:
    """Mixed load in threads until stop(); errors from before the kill fail the test,
    those after it (the PBX gone) are expected."""

    def __init__(self, p):
        self.p = p
        self.stopping = threading.Event()
        self.killed = threading.Event()
        self.errors = []
        self.threads = []
        self.phones = []
        self.done = {"registers": 0, "calls": 0}

    def phone(self, ext, name):
        ph = Phone(self.p, ext, PASSWORD, name=name)
        self.phones.append(ph)
        return ph

    def run(self, name, fn):
        def body():
            try:
                fn()
            except Exception as e:
                if not self.killed.is_set():
                    self.errors.append(f"{name}: {e!r}")
        t = threading.Thread(target=body, name=name, daemon=True)
        self.threads.append(t)
        t.start()

    def held_call(self, ext, target):
        """A call answered by the PBX itself (Record, voicemail) with a tone streamed in."""
        ph = self.phone(ext, f"load-{target}")
        c = ph.call(target)
        c.established(timeout=10)
        c.rtp.start_stream("PCMU", TONE)
        self.done["calls"] += 1
        self.stopping.wait(30)

    def echo_calls(self):
        ph = self.phone("1003", "load-echo")
        while not self.stopping.is_set():
            c = ph.call("600")
            c.established(timeout=10)
            c.rtp.start_stream("PCMU", TONE)
            self.stopping.wait(0.3)
            c.rtp.stop_stream()
            c.bye()
            self.done["calls"] += 1

    def registers(self):
        ph = self.phone("1006", "load-reg")
        while not self.stopping.is_set():
            ph.register(expires=120)
            self.done["registers"] += 1
            self.stopping.wait(0.02)  # a busy office, not a flood

    def start(self):
        self.run("record", lambda: self.held_call("1001", "603"))
        self.run("voicemail", lambda: self.held_call("1002", "1005"))
        self.run("echo", self.echo_calls)
        self.run("register", self.registers)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(15)
            assert not t.is_alive(), f"load thread {t.name} did not end"
        for ph in self.phones:
            ph.close()
        assert not self.errors, self.errors


def leftovers(state_dir):
    """Files a run leaves that nobody would clean: partial recordings, voicemail scratch."""
    found = [str(f) for f in state_dir.rglob("*.part")]
    found += [str(f) for f in state_dir.glob("voicemail/*/tmp/*")]
    found += [str(f) for f in state_dir.glob("confbridge/confbridge-name-*")]
    return found


@pytest.mark.parametrize("kill_after", [0.3, 1.5, 5.0])
def test_kill_9_under_load_then_start(shipped_pbx, kill_after):
    exts = ("1001", "1002", "1003", "1004", "1005", "1006")
    p = shipped_pbx(users=exts)
    stay = {ext: Phone(p, ext, PASSWORD, name=f"phone{ext}") for ext in ("1001", "1002", "1004")}
    load = None
    try:
        for ph in stay.values():
            ph.register()
        # A 200 to REGISTER is written to SQLite in batches (within 0.2 s).
        callib.siplib.wait_for(lambda: set(stay) <= db_registrations(p), 5,
                               "the registrations in pbx.db")

        load = Load(p)
        load.start()
        time.sleep(kill_after)
        load.killed.set()
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(10)
        p.checked = True  # killed on purpose: no exit status to verify
        load.stop()

        for db in p.state_dir.glob("*.db"):
            assert integrity(db) == [("ok",)], db
        before = leftovers(p.state_dir)

        p.start()
        callib.siplib.wait_answering(p)
        log = p.log()
        assert not leftovers(p.state_dir), (before, log)
        # What was being recorded at the kill is kept, marked, with a log line.
        for part in before:
            if part.endswith(".wav.part") and "/recordings/" in part:
                assert part in log, log

        # The registrations came back from SQLite ...
        regs = {r["extension"]: r for r in callib.siplib.registrations(p)}
        for ext, ph in stay.items():
            assert ext in regs, regs
            assert regs[ext]["source"] == f"udp:127.0.0.1:{ph.port}", regs[ext]
        assert "registration(s) restored from the database" in log
        # ... a phone registering again is accepted at once ...
        stay["1004"].register()
        # ... and 1002, which did not register again, takes a call with RTP both ways.
        c, inc = up_call(stay["1001"], stay["1002"])
        c.rtp.start_stream("PCMU", TONE)
        inc.rtp.start_stream("PCMU", TONE)
        inc.rtp.wait_packets(20, what="RTP from the caller after the restart")
        c.rtp.wait_packets(20, what="RTP from the callee after the restart")
        c.rtp.stop_stream()
        inc.rtp.stop_stream()
        assert c.bye().status == 200
        inc.wait_bye()
        wait_channels(p, 0)
    finally:
        if load is not None and not load.stopping.is_set():
            load.stopping.set()
        for ph in stay.values():
            ph.close()
