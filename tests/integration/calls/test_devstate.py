"""Device states in the core, seen through `core show hints`: the shipped
config and the shipped dialplan with two hints added (what a user does to
get BLF lamps), and raw SIP phones.

A device is UNAVAILABLE until its phone registers, NOT_INUSE once it has,
RINGING while a call to it rings, INUSE while a call is up (the caller's
device from the moment it dials), ONHOLD while its phone holds the call,
NOT_INUSE again after the hang-up and UNAVAILABLE once it unregisters.
"""

import json

import pytest

import callib
from test_shipped_defaults import SHIPPED_DIALPLAN

HINTS = '''
hints = { default = { ["1001"] = "SIP/1001", ["1002"] = "SIP/1002",
                      ["1000"] = "SIP/1001&SIP/1002" } }
'''


@pytest.fixture
def hinted_pbx(shipped_pbx):
    return shipped_pbx(dialplan=SHIPPED_DIALPLAN.read_text() + HINTS)


def states(p):
    return {h["exten"]: h["state"] for h in json.loads(p.ok("core show hints --json"))}


def wait_states(p, want, what):
    callib.siplib.wait_for(lambda: all(states(p)[k] == v for k, v in want.items()), 5,
                           f"{what}: {want} (now {states(p)})", interval=0.1)


def test_lamps_follow_registrations_and_calls(hinted_pbx):
    p = hinted_pbx
    hints = json.loads(p.ok("core show hints --json"))
    assert {(h["exten"], h["device"]) for h in hints} >= {("1001", "SIP/1001"),
                                                          ("1002", "SIP/1002")}
    assert states(p) == {"1001": "UNAVAILABLE", "1002": "UNAVAILABLE", "1000": "UNAVAILABLE"}
    text = p.ok("core show hints")
    assert "1001@default" in text and "UNAVAILABLE" in text, text

    a = callib.Phone(p, "1001", callib.PASSWORD)
    b = callib.Phone(p, "1002", callib.PASSWORD)
    try:
        a.register()
        wait_states(p, {"1001": "NOT_INUSE", "1002": "UNAVAILABLE", "1000": "NOT_INUSE"},
                    "1001 registered")
        b.register()
        wait_states(p, {"1002": "NOT_INUSE"}, "1002 registered")

        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.ring()
        wait_states(p, {"1001": "INUSE", "1002": "RINGING", "1000": "INUSE"}, "ringing")
        cb.answer(codecs=("PCMU",))
        ca.established()
        wait_states(p, {"1001": "INUSE", "1002": "INUSE"}, "answered")

        r = ca.reinvite("sendonly")
        assert r.status == 200, r.text()
        re_inv = cb.wait_request("INVITE")
        cb.answer_reinvite(re_inv, "recvonly")
        wait_states(p, {"1001": "ONHOLD", "1002": "INUSE", "1000": "INUSE"}, "1001 holds")
        r = ca.reinvite("sendrecv")
        assert r.status == 200, r.text()
        cb.answer_reinvite(cb.wait_request("INVITE"), "sendrecv")
        wait_states(p, {"1001": "INUSE"}, "1001 resumes")

        ca.bye()
        callib.wait_channels(p, 0)
        wait_states(p, {"1001": "NOT_INUSE", "1002": "NOT_INUSE", "1000": "NOT_INUSE"},
                    "hung up")
        a.register(expires=0)
        wait_states(p, {"1001": "UNAVAILABLE", "1000": "NOT_INUSE"}, "1001 unregistered")
    finally:
        a.close()
        b.close()
