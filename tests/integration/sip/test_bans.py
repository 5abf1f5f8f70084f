"""Bans that are safe behind NAT, against the real binary: a user failing
at an address is banned as that pair, an address trying many users is
banned whole, loopback (sip.ban_ignore) is spared by default, bans end
on time or by `sip unban`, and each ban writes one SECURITY log line.

The PBX listens on 127.0.0.1 and these clients come from loopback, so
every test that wants a ban empties sip.ban_ignore. Three phones at one
address that keep calling while one of them is banned are in
../calls/test_calls_bans.py (they need the call machinery there).
"""

import json
import re

import pytest

from siplib import UA, authorization, challenge_for, registrations, token, wait_for

# The documented format (channels/sip/sip_stack.c, ban_logged): fixed
# fields in a fixed order.
SECURITY_RE = re.compile(
    r"SECURITY sip ban scope=(pair|address) address=(\S+) users=(\S*) user_count=(\d+) "
    r"failures=(\d+) ban_s=(\d+)$", re.M)


def security_lines(p):
    return SECURITY_RE.findall(p.log())


def bans(p):
    return json.loads(p.ok("sip show bans --json"))


def banned(p):
    return [b for b in bans(p) if b["banned"]]


def ua_for(p, c, user="1001", password="s3cret"):
    return UA(c, user, password, domain=p.domain)


def test_address_trying_ten_extensions_is_banned_as_an_address(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], ban_ignore=[])
    c = sip_client(p, "udp")
    tried = [str(2001 + i) for i in range(10)]
    answered = []
    for ext in tried:
        ua = ua_for(p, c, ext, "guess")
        r = ua.register_once()
        if r is None:  # the address is banned: unanswered from here on
            break
        assert r.status == 401, r.text()
        r = ua.register()
        assert r.status == 401, r.text()
        answered.append(ext)
    # sip.ban_users (5 by default) different users banned the address.
    assert answered == tried[:5], answered
    # Everything from the address is dropped now, whatever the user.
    ua_for(p, c).send_register()
    assert c.silent(), "a banned address got an answer to REGISTER"
    c.request("OPTIONS", call_id=token())
    assert c.silent(), "a banned address got an answer to OPTIONS"
    (b,) = banned(p)
    assert b["scope"] == "address" and b["address"] == "127.0.0.1", b
    assert b["users"] == "2001,2002,2003,2004,2005" and b["user_count"] == 5, b
    assert b["reason"] == "5 users tried: 2001,2002,2003,2004,2005", b
    assert 0 < b["remaining_s"] <= 600, b
    assert "1 address banned, 0 pairs banned" in p.ok("sip show bans")
    assert wait_for(lambda: security_lines(p), 5, "the SECURITY line") == [
        ("address", "127.0.0.1", "2001,2002,2003,2004,2005", "5", "5", "600")]
    # Another address is not affected.
    other = sip_client(p, "udp", host="127.0.0.2")
    assert ua_for(p, other).register().status == 200
    # Unbanned, the address is answered again.
    assert p.ok("sip unban 127.0.0.1") == "127.0.0.1 unbanned.\n"
    assert banned(p) == []
    assert ua_for(p, c).register().status == 200
    assert len(security_lines(p)) == 1


def test_failures_of_one_user_ban_the_pair_once(sip_pbx, sip_client):
    p = sip_pbx(users=["1001", "1002"], ban_threshold=3, ban_ignore=[])
    c = sip_client(p, "udp")
    for _ in range(3):
        assert ua_for(p, c, "1001", "wrong").register().status == 401
    (b,) = banned(p)
    assert (b["scope"], b["address"], b["user"], b["failures"]) == ("pair", "127.0.0.1",
                                                                    "1001", 3), b
    assert b["reason"] == "3 failed logins for 1001", b
    # The neighbour at the same address registers, failing once on the way.
    assert ua_for(p, c, "1002", "wrong").register().status == 401
    assert ua_for(p, c, "1002").register().status == 200
    assert wait_for(lambda: security_lines(p), 5, "the SECURITY line") == [
        ("pair", "127.0.0.1", "1001", "1", "3", "600")]
    # Counters are listed too, with their reason.
    counting = [x for x in bans(p) if not x["banned"]]
    assert {"scope": "address", "address": "127.0.0.1", "users": "1001,1002",
            "user_count": 2, "failures": 4, "banned": False,
            "reason": "4 failed logins for 2 users: 1001,1002"}.items() <= \
        counting[0].items(), counting
    assert len(security_lines(p)) == 1


@pytest.mark.parametrize("ignore", ["default", "empty"])
def test_loopback_is_never_banned_by_default(sip_pbx, sip_client, ignore):
    cfg = {} if ignore == "default" else {"ban_ignore": []}
    p = sip_pbx(users=["1001"], ban_threshold=2, **cfg)
    c = sip_client(p, "udp")
    for i in range(2):
        assert ua_for(p, c, "1001", "wrong").register().status == 401, f"attempt {i + 1}"
    if ignore == "empty":
        ua_for(p, c).send_register()
        assert c.silent(), "loopback was not banned with sip.ban_ignore = {}"
        assert [b["scope"] for b in banned(p)] == ["pair"]
        return
    # Loopback is not even counted: a wrong password, scanning, then the right one.
    for i in range(10):
        assert ua_for(p, c, str(3000 + i), "wrong").register().status == 401
    assert ua_for(p, c).register().status == 200
    assert bans(p) == []
    assert security_lines(p) == []


def test_a_ban_ends_on_time(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], ban_threshold=2, ban_time=2, ban_ignore=[])
    c = sip_client(p, "udp")
    for _ in range(2):
        assert ua_for(p, c, "1001", "wrong").register().status == 401
    (b,) = banned(p)
    assert b["scope"] == "pair" and 0 < b["remaining_s"] <= 2, b
    ua = ua_for(p, c)
    ua.send_register()
    assert c.silent(timeout=0.3), "answered while banned"
    # Gone from the list when its time is up, and the phone is answered.
    wait_for(lambda: banned(p) == [], 15, "the ban to end")
    assert ua_for(p, c).register().status == 200


def test_unban_lifts_pairs_and_names_bad_arguments(sip_pbx, sip_client):
    p = sip_pbx(users=["1001", "1002"], ban_threshold=2, ban_ignore=[])
    c = sip_client(p, "udp")
    for user in ("1001", "1002"):
        for _ in range(2):
            assert ua_for(p, c, user, "wrong").register().status == 401
    assert sorted(b["user"] for b in banned(p)) == ["1001", "1002"]
    # One pair.
    assert p.ok("sip unban 1002@127.0.0.1") == "1002@127.0.0.1 unbanned.\n"
    assert ua_for(p, c, "1002").register().status == 200
    out = p.fail("sip unban 1002@127.0.0.1")
    assert "sip unban: 1002@127.0.0.1 is not banned" in out, out
    # The address form lifts every pair at it.
    assert p.ok("sip unban 127.0.0.1") == "127.0.0.1 unbanned.\n"
    assert banned(p) == []
    assert ua_for(p, c, "1001").register().status == 200
    for arg in ("office", "1001@host", "127.0.0.1:5060"):
        out = p.fail(f"sip unban {arg}")
        assert f"sip unban: '{arg}' is not an IP address nor USER@ADDRESS" in out, out
    out = p.fail("sip unban 192.0.2.1")
    assert "sip unban: 192.0.2.1 is not banned" in out, out


def test_a_banned_pair_cannot_guess_by_claiming_a_dialog(sip_pbx, sip_client):
    """A To tag makes a request look in-dialog, which a ban lets through for
    calls already up; one that matches no dialog must not reach a password
    check: refused, with the right password too, and not counted."""
    p = sip_pbx(users=["1001"], ban_threshold=3, ban_ignore=[])
    c = sip_client(p, "udp")
    ua = ua_for(p, c, "1001", "wrong")
    for _ in range(3):
        assert ua.register().status == 401
    (b,) = banned(p)
    ch = challenge_for(ua.last_challenge, "MD5")
    for auth in (None, authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri)):
        r = ua.register_once(auth=auth, to_tag="forged", expires=600)
        assert r is not None and r.status == 403, r and r.text()
        assert "banned" in r.reason, r.text()
    (after,) = banned(p)
    assert after["failures"] == b["failures"], after
    assert registrations(p) == []
