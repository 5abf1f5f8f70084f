"""Busy lamps (BLF) and presence: a phone subscribes to the `dialog` package (RFC 4235)
of a hinted extension and is NOTIFYed the device's state as it changes:
no dialog while idle or unregistered, an early dialog while a call to it
rings, a confirmed one while it talks, and no dialog again after the
hang-up. The `presence` package (PIDF) says the same in words: closed
"Offline" while unregistered, open "Available", "Ringing", "On the phone".
A raw SIP subscriber (as test_mwi's) and raw phones (callib).

Subscriptions need credentials, and a user may watch only what its
context's hints name (404 otherwise).
"""

import json
import re

import callib
import siplib
from test_mwi import Subscriber

DIALPLAN = callib.DIALPLAN + '''
hints = { default = { ["1002"] = "SIP/1002" } }
'''


def dialog_state(n):
    """The dialog state a NOTIFY's dialog-info carries, or None for no dialog."""
    body = n.body.decode() if isinstance(n.body, bytes) else n.body
    assert 'state="full"' in body and "urn:ietf:params:xml:ns:dialog-info" in body, body
    m = re.search(r"<state>(\w+)</state>", body)
    return m.group(1) if m else None


def next_state(s, want):
    """NOTIFYs until one says @want (states can pass quickly); its version."""
    seen = []
    for _ in range(6):
        n = s.notify()
        assert n["Event"] == "dialog" and n["Content-Type"] == "application/dialog-info+xml"
        st = dialog_state(n)
        seen.append(st)
        if st == want:
            return int(re.search(r'version="(\d+)"', n.body.decode()
                                 if isinstance(n.body, bytes) else n.body).group(1))
    raise AssertionError(f"no NOTIFY with {want}: {seen}")


def test_lamp_follows_the_watched_extension(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        s = Subscriber(c, "1001", mailbox="1002", domain=p.domain, event="dialog",
                       accept="application/dialog-info+xml")
        r = s.subscribe(expires=600, password=callib.PASSWORD)
        assert r.status == 200, r.text()
        assert "dialog" in r["Allow-Events"]
        v0 = next_state(s, None)  # 1002 is not registered: no dialog

        b = phone(p, "1002")  # registers
        a = phone(p, "1003")
        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.ring()
        v1 = next_state(s, "early")
        cb.answer(codecs=("PCMU",))
        ca.established()
        v2 = next_state(s, "confirmed")
        ca.bye()
        callib.wait_channels(p, 0)
        v3 = next_state(s, None)
        assert v0 < v1 < v2 < v3, (v0, v1, v2, v3)
        subs = [x for x in json.loads(p.ok("sip show subscriptions --json"))
                if x["event"] == "dialog"]
        assert len(subs) == 1 and subs[0]["user"] == "1001"
    finally:
        c.close()


def test_only_hinted_extensions_can_be_watched(call_pbx):
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        s = Subscriber(c, "1001", mailbox="1004", domain=p.domain, event="dialog",
                       accept="application/dialog-info+xml")
        r = s.subscribe(expires=600, password=callib.PASSWORD)
        assert r.status == 404, r.text()
        s = Subscriber(c, "1001", mailbox="1002", domain=p.domain, event="dialog",
                       accept="application/dialog-info+xml")
        r = s.send(expires=600)
        assert r.status == 401, "a subscription without credentials is challenged"
    finally:
        c.close()


def pidf(n):
    """(basic, note) of a presence NOTIFY's PIDF body."""
    assert n["Event"] == "presence" and n["Content-Type"] == "application/pidf+xml"
    body = n.body.decode() if isinstance(n.body, bytes) else n.body
    assert "urn:ietf:params:xml:ns:pidf" in body, body
    return (re.search(r"<basic>(\w+)</basic>", body).group(1),
            re.search(r"<note>([^<]*)</note>", body).group(1))


def next_presence(s, want):
    seen = []
    for _ in range(6):
        got = pidf(s.notify())
        seen.append(got)
        if got == want:
            return
    raise AssertionError(f"no NOTIFY with {want}: {seen}")


def test_presence_from_device_state(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        s = Subscriber(c, "1001", mailbox="1002", domain=p.domain, event="presence",
                       accept="application/pidf+xml")
        r = s.subscribe(expires=600, password=callib.PASSWORD)
        assert r.status == 200, r.text()
        assert "presence" in r["Allow-Events"]
        next_presence(s, ("closed", "Offline"))
        b = phone(p, "1002")
        next_presence(s, ("open", "Available"))
        a = phone(p, "1003")
        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.ring()
        next_presence(s, ("open", "Ringing"))
        cb.answer(codecs=("PCMU",))
        ca.established()
        next_presence(s, ("open", "On the phone"))
        ca.bye()
        callib.wait_channels(p, 0)
        next_presence(s, ("open", "Available"))
        s2 = Subscriber(c, "1001", mailbox="1004", domain=p.domain, event="presence",
                        accept="application/pidf+xml")
        assert s2.subscribe(expires=600, password=callib.PASSWORD).status == 404
    finally:
        c.close()
