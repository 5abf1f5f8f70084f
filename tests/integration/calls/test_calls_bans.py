"""Three phones behind one address (loopback, as behind one NAT router),
one of them with a wrong password: that phone is banned, and the other
two keep registering and calling through the PBX.

sip.ban_ignore is emptied so that loopback can be banned at all (it is
never banned by default); ../sip/test_bans.py covers the rest of banning.
"""

import json
import re

import callib
import siplib


def test_a_phone_with_a_wrong_password_is_banned_not_its_neighbours(call_pbx, phone):
    p = call_pbx(ban_ignore=[], ban_threshold=3)
    a = phone(p, "1001")
    b = phone(p, "1002")
    # The third phone, at the same address, has a typo in its password.
    c = siplib.SipClient(p.port, "udp")
    try:
        bad = siplib.UA(c, "1003", "s3cert", domain=p.domain)
        for i in range(3):
            r = bad.register()
            assert r.status == 401, f"attempt {i + 1}: {r.text()}"
        bad.send_register()
        assert c.silent(), "the banned phone got an answer"
    finally:
        c.close()
    bans = json.loads(p.ok("sip show bans --json"))
    assert [(x["scope"], x["address"], x["user"]) for x in bans if x["banned"]] == [
        ("pair", "127.0.0.1", "1003")], bans
    line = callib.wait_log(p, r"SECURITY sip ban .*")
    assert line.group(0) == ("SECURITY sip ban scope=pair address=127.0.0.1 users=1003 "
                             "user_count=1 failures=3 ban_s=600"), line.group(0)
    # Its neighbours register again...
    a.register()
    b.register()
    # ...and call each other: the INVITE is challenged, authenticated and
    # reaches the other phone, which answers.
    ca = a.call("1002")
    cb = b.incoming()
    cb.ring()
    cb.answer()
    ca.established()
    assert ca.bye().status == 200
    cb.wait_bye()
    # And the other way round.
    cb2 = b.call("1001")
    ca2 = a.incoming()
    ca2.answer()
    cb2.established()
    assert cb2.bye().status == 200
    ca2.wait_bye()
    callib.wait_channels(p, 0)
    assert len(re.findall(r"SECURITY sip ban", p.log())) == 1


def test_a_call_up_before_the_ban_still_ends_cleanly(call_pbx, phone):
    """A ban stops new requests of that user at that address, not the
    requests inside a call it already has: its BYE is answered."""
    p = call_pbx(ban_ignore=[], ban_threshold=3)
    a = phone(p, "1001")
    c3 = phone(p, "1003")
    call = c3.call("1001")
    inc = a.incoming()
    inc.answer()
    call.established()
    # The same user fails its logins from the same address (a second
    # account on the phone with a typo, say) until the pair is banned.
    c = siplib.SipClient(p.port, "udp")
    try:
        bad = siplib.UA(c, "1003", "s3cert", domain=p.domain)
        for i in range(3):
            assert bad.register().status == 401, f"attempt {i + 1}"
        bad.send_register()
        assert c.silent(), "the banned pair got an answer to a new request"
    finally:
        c.close()
    assert call.bye().status == 200
    inc.wait_bye()
    callib.wait_channels(p, 0)
