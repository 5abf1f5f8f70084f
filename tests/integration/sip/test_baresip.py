"""A real softphone: baresip, headless (no UI or audio modules, stdin closed),
registers to the PBX over UDP and TCP, refreshes, answers qualify, and
unregisters when it stops.

baresip 1.0 on libre 1.1 computes MD5 digests only, and it gives up
("Register: Function not implemented") when ANY WWW-Authenticate header of
a 401 names another algorithm, whatever the order. The PBX's default
offers MD5 alone, so these tests run on the shipped digest settings.
"""

import os
import re
import signal
import subprocess
import time

import pytest

from siplib import contacts_of, free_udp_tcp_port, tool, wait_for

REGINT = 4  # seconds: baresip asks for this expiry and refreshes before it runs out


class Baresip:
    def __init__(self, workdir, pbx, transport, user="1001", password="s3cret"):
        self.dir = workdir / f"baresip-{transport}"
        self.dir.mkdir()
        self.port = free_udp_tcp_port()
        (self.dir / "config").write_text(
            "poll_method\t\tepoll\n"
            f"sip_listen\t\t127.0.0.1:{self.port}\n"
            "module_path\t\t/usr/lib/baresip/modules\n"
            "module\t\t\tg711.so\n"
            "module_tmp\t\tuuid.so\n"
            "module_tmp\t\taccount.so\n")
        (self.dir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{pbx.port};transport={transport}>"
            f";auth_pass={password};regint={REGINT}\n")
        (self.dir / "contacts").write_text("")
        self.log_path = self.dir / "baresip.log"
        self.proc = None

    def start(self, quit_after=40):
        with open(self.log_path, "wb") as log:
            # -t: baresip quits by itself at the latest after @quit_after s.
            self.proc = subprocess.Popen(
                [tool("baresip"), "-f", str(self.dir), "-t", str(quit_after)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout=8):
        """SIGTERM (baresip unregisters on the way out), then SIGKILL if need be."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture
def baresip(tmp_path):
    made = []

    def make(pbx, transport):
        b = Baresip(tmp_path, pbx, transport)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


def contact_cseq(pbx):
    out = pbx.ok("sip show contacts 1001")
    m = re.search(r"^CSeq\s*: (\d+)$", out, re.M)
    return int(m.group(1)) if m else None


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_baresip_registers_refreshes_and_unregisters(sip_pbx, baresip, transport):
    p = sip_pbx(users=["1001"], min_expires=2, qualify_interval=1)
    p.ok("sip set debug on")
    b = baresip(p, transport)

    regs = wait_for(lambda: contacts_of(p, 1001), 15, "baresip to register", interval=0.2)
    assert len(regs) == 1, regs
    r = regs[0]
    assert "baresip" in r["user_agent"], r
    assert r["source"].startswith(f"{transport}:127.0.0.1:")
    assert re.fullmatch(rf"sip:1001[^@]*@127\.0\.0\.1:{b.port}"
                        + (";transport=tcp" if transport == "tcp" else ""), r["contact"]), r
    assert 0 < r["expires_in"] <= REGINT
    assert f"1001@127.0.0.1: {{0/{transport.upper()}/v4}} 200 OK" in b.log()
    # `sip show registrations` lists it too, with the phone's User-Agent.
    out = p.ok("sip show registrations")
    assert "1001" in out and "baresip" in out and "1 contact of 1 user registered" in out
    shown = p.ok("sip show contacts 1001")
    assert re.search(r"^Instance\s*: <urn:uuid:[0-9a-f-]+>$", shown, re.M), shown

    # Refresh: a higher CSeq on the same binding, well before it would expire.
    first = contact_cseq(p)
    wait_for(lambda: (contact_cseq(p) or 0) > first, REGINT + 6,
             "baresip to refresh its registration", interval=0.2)
    regs = contacts_of(p, 1001)
    assert len(regs) == 1 and regs[0]["contact"] == r["contact"], regs
    assert len(re.findall(r"SIP received \d+ bytes from .*\nREGISTER ", p.log())) >= 3

    # Qualify: baresip answers the PBX's OPTIONS.
    wait_for(lambda: contacts_of(p, 1001)[0]["status"] == "OK", 10, "qualify status OK",
             interval=0.2)

    # Outlive the first expiry: refreshes keep it registered.
    time.sleep(REGINT + 1)
    assert len(contacts_of(p, 1001)) == 1

    # On SIGTERM baresip unregisters (Expires 0): the binding goes at once.
    b.stop()
    assert b.proc.returncode is not None
    wait_for(lambda: not contacts_of(p, 1001), 5, "baresip's unregistration", interval=0.2)
