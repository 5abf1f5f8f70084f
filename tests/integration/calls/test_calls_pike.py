"""The flood guard (sip.pike_*, as Kamailio's pike), against the real binary:
an address sending far more requests than a phone is answered nothing for
a while and logged once, other addresses are answered as before, and the
calls the flooding address already has still end with a BYE that gets its
200. Off by default: the shipped config answers a burst.

The PBX listens on 127.0.0.1; the phones and the flooder share that
address (as phones behind one NAT router would), the bystander comes from
127.0.0.3. pike_ignore is empty by default, so loopback is counted.
"""

import json
import re
import time

import callib
import siplib

PIKE_RE = re.compile(r"SECURITY sip pike address=(\S+) requests=(\d+) window_s=(\d+) "
                     r"block_s=(\d+)$", re.M)


def burst(c, n, batch=25):
    """Send @n OPTIONS from client @c, @batch at a time without waiting for
    answers (so that they reach the PBX within a window, but not all at
    once into the socket's buffer); the number of them answered 200."""
    ids = set()
    for start in range(0, n, batch):
        for _ in range(min(batch, n - start)):
            cid = siplib.token()
            ids.add(cid)
            c.request("OPTIONS", call_id=cid)
        time.sleep(0.005)
    answered = set()
    while True:
        m = c.recv(1.0)
        if m is None:
            return len(answered)
        if m.call_id in ids and m.status == 200:
            answered.add(m.call_id)


def paced(c, n, batch=50):
    """Send @n OPTIONS from @c, @batch at a time, reading each batch's answers
    before the next; the number answered 200."""
    answered = 0
    for start in range(0, n, batch):
        ids = set()
        for _ in range(min(batch, n - start)):
            cid = siplib.token()
            ids.add(cid)
            c.request("OPTIONS", call_id=cid)
        while ids:
            m = c.recv(2.0)
            if m is None:
                return answered
            if m.call_id in ids and m.status == 200:
                ids.discard(m.call_id)
                answered += 1
    return answered


def stats(p):
    return json.loads(p.ok("sip show stats --json"))


def test_a_flood_is_ignored_but_not_its_calls_nor_other_sources(call_pbx, phone):
    p = call_pbx(pike_rate=50, pike_window=1, pike_time=60)
    a = phone(p, "1001")
    b = phone(p, "1002")
    # A call is up between two phones at the address that will flood.
    call = a.call("1002")
    inc = b.incoming()
    inc.answer()
    call.established()

    flooder = siplib.SipClient(p.port, "udp")
    bystander = siplib.SipClient(p.port, "udp", host="127.0.0.3")
    try:
        answered = burst(flooder, 300)
        # The phones' requests of the last second count too: at most 50 in all.
        assert 0 < answered <= 50, answered
        # Blocked: nothing new from the address is answered...
        assert flooder.options() is None, "a blocked address got an answer to OPTIONS"
        ua = siplib.UA(flooder, "1003", "s3cret", domain=p.domain)
        ua.send_register()
        assert flooder.silent(), "a blocked address got an answer to REGISTER"
        # ...nor a request claiming a dialog that does not exist.
        flooder.request("BYE", to_tag=siplib.token(), call_id=siplib.token())
        assert flooder.silent(), "a blocked address got an answer to a made-up BYE"
        # Another address is answered, even sending a burst of its own under the rate.
        assert paced(bystander, 40) == 40
        drops = stats(p)["pike_drops"]
        assert drops >= 250, drops
        (blk,) = json.loads(p.ok("sip show pike --json"))
        assert blk["address"] == "127.0.0.1" and 0 < blk["remaining_s"] <= 60, blk
        assert blk["during"] >= 250, blk
        assert "1 address blocked (more than 50 requests in 1 s)" in p.ok("sip show pike")
    finally:
        flooder.close()
        bystander.close()

    # The call the address already had ends normally: its BYE gets 200.
    assert call.bye().status == 200
    inc.wait_bye()
    callib.wait_channels(p, 0)

    # One line for the ban, in the documented format.
    line = callib.wait_log(p, r"SECURITY sip pike .*")
    assert line.group(0) == ("SECURITY sip pike address=127.0.0.1 requests=51 window_s=1 "
                             "block_s=60"), line.group(0)
    assert len(PIKE_RE.findall(p.log())) == 1
    # Unbanned by hand, the address is answered again.
    assert p.ok("sip unban 127.0.0.1") == "127.0.0.1 unbanned.\n"
    assert json.loads(p.ok("sip show pike --json")) == []
    c = siplib.SipClient(p.port, "udp")
    try:
        r = c.options()
        assert r is not None and r.status == 200
    finally:
        c.close()
    assert len(PIKE_RE.findall(p.log())) == 1


def test_ignored_networks_are_never_blocked(call_pbx):
    p = call_pbx(users=(), pike_rate=20, pike_window=1, pike_ignore=["127.0.0.0/30"])
    c = siplib.SipClient(p.port, "udp", host="127.0.0.2")
    try:
        assert paced(c, 200) == 200
    finally:
        c.close()
    assert stats(p)["pike_drops"] == 0
    assert not PIKE_RE.findall(p.log())


def test_pike_is_off_on_the_shipped_config(shipped_pbx):
    """A burst far above the suggested 200 requests in 2 s is all answered."""
    p = shipped_pbx(users=())
    out = p.ok("core show settings")
    lines = [x for x in out.splitlines() if x.strip().startswith("sip.pike_rate ")]
    assert lines and "= 0" in lines[0], lines
    c = siplib.SipClient(p.port, "udp", host="127.0.0.2")
    try:
        assert paced(c, 300) == 300
    finally:
        c.close()
    assert stats(p)["pike_drops"] == 0
    assert "The flood guard is off (sip.pike_rate = 0)." in p.ok("sip show pike")
    assert not PIKE_RE.findall(p.log())
