"""The registrar against the real binary, driven by a raw SIP client:
digest challenges and answers (SHA-256 and MD5), bans, expiry rules,
contact limits, persistence across a restart, TCP, and OPTIONS qualify."""

import json
import re
import sqlite3
import time

import pytest

from siplib import (UA, authorization, challenge_for, challenges, contacts_of, parse_contacts,
                    registrations, token, wait_for)

TRANSPORTS = ["udp", "tcp"]


def ua_for(p, c, user="1001", password="s3cret"):
    return UA(c, user, password, domain=p.domain)


def contact_expires(resp, uri):
    for u, params in parse_contacts(resp):
        if u == uri:
            return int(params["expires"])
    raise AssertionError(f"{uri} not among the Contacts of:\n{resp.text()}")


def db_rows(p, sql="SELECT extension, contact, source, user_agent, expires FROM registrations"):
    con = sqlite3.connect(f"file:{p.db_path}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---- the challenge ------------------------------------------------------------------------


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_register_without_credentials_is_challenged_md5_alone_by_default(sip_pbx, sip_client, tp):
    """The shipped default offers MD5 alone, as Asterisk and Kamailio do:
    SIPp and baresip give up on a challenge naming anything else."""
    p = sip_pbx(users=["1001"])
    c = sip_client(p, tp)
    r = ua_for(p, c).challenge()
    raw = r.all("WWW-Authenticate")
    assert len(raw) == 1, r.text()
    assert re.search(r"\balgorithm=MD5\b", raw[0]), raw[0]
    assert re.search(r'\bqop="auth"', raw[0]), raw[0]
    (md5,) = challenges(r)
    assert md5["realm"] == p.domain and re.fullmatch(r"[0-9a-f]{64}", md5["nonce"])
    assert registrations(p) == []


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_register_without_credentials_is_challenged_sha256_then_md5(sip_pbx, sip_client, tp):
    p = sip_pbx(users=["1001"], auth_algorithms=["SHA-256", "MD5"])
    c = sip_client(p, tp)
    r = ua_for(p, c).challenge()
    raw = r.all("WWW-Authenticate")
    assert len(raw) == 2, r.text()
    # RFC 8760: the strongest algorithm first; both offer qop="auth" (quoted).
    assert re.search(r"\balgorithm=SHA-256\b", raw[0]), raw[0]
    assert re.search(r"\balgorithm=MD5\b", raw[1]), raw[1]
    for v in raw:
        assert re.search(r'\bqop="auth"', v), v
        assert "stale" not in v
    sha, md5 = challenges(r)
    assert sha["realm"] == md5["realm"] == p.domain
    assert sha["nonce"] == md5["nonce"] and re.fullmatch(r"[0-9a-f]{64}", sha["nonce"])
    assert sha["opaque"] == md5["opaque"]
    # Nothing was registered by the unauthenticated attempt.
    assert registrations(p) == []


@pytest.mark.parametrize("tp", TRANSPORTS)
@pytest.mark.parametrize("alg", ["SHA-256", "MD5"])
def test_register_with_correct_digest(sip_pbx, sip_client, tp, alg):
    p = sip_pbx(users=["1001"], auth_algorithms=["SHA-256", "MD5"])
    c = sip_client(p, tp)
    ua = ua_for(p, c)
    r = ua.register(alg=alg, expires=600)
    assert r.status == 200, r.text()
    uri = c.contact_uri("1001")
    assert 595 <= contact_expires(r, uri) <= 600
    (b,) = contacts_of(p, 1001)
    assert b["contact"] == uri
    assert b["source"] == f"{tp}:127.0.0.1:{c.port}"
    assert b["user_agent"] == "pytest-sip/1.0"
    assert 590 <= b["expires_in"] <= 600
    # The text listing shows it and counts it.
    out = p.ok("sip show registrations")
    assert uri in out and "1 contact of 1 user registered" in out, out


def test_register_response_over_tcp_comes_back_on_the_same_connection(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "tcp")
    ua = ua_for(p, c)
    r = ua.register(expires=600)
    assert r.status == 200, r.text()
    # The client socket is connected: anything it read came over this
    # connection. The PBX did not open a second one to the Contact either.
    assert not c.closed
    r2 = ua.register_once(expires=600, auth=None)
    assert r2 is not None and r2.status == 401
    assert contacts_of(p, 1001)[0]["source"] == f"tcp:127.0.0.1:{c.port}"


def _shape(resp):
    """A response's form with every per-challenge value masked out."""
    hdrs = []
    for n, v in resp.headers:
        if n.lower() in ("call-id", "from", "to", "via", "cseq"):
            continue
        v = re.sub(r'nonce="[0-9a-f]+"', 'nonce="N"', v)
        hdrs.append((n, v))
    return resp.status, resp.reason, hdrs


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_unknown_user_is_challenged_like_a_known_one(sip_pbx, sip_client, tp):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, tp)
    known, unknown = ua_for(p, c, "1001"), ua_for(p, c, "9999")
    k1, u1 = known.challenge(), unknown.challenge()
    assert _shape(k1) == _shape(u1)
    # Answering the challenge: a wrong password for a known user and any
    # password for an unknown one look the same: a fresh 401.
    k2 = known.register(password="wrong-pass")
    u2 = unknown.register(password="wrong-pass")
    assert k2.status == u2.status == 401
    assert _shape(k2) == _shape(u2)
    assert registrations(p) == []


def test_user_set_to_sha256_is_challenged_with_sha256_only(sip_pbx, sip_client):
    """`user set EXT auth sha-256` (RFC 8760) on the shipped defaults: that
    user alone is challenged with SHA-256, an MD5 answer is not accepted
    for it, and every other user keeps the MD5 challenge."""
    p = sip_pbx(users=["1001", "1002"])
    assert "auth updated" in p.ok("user set 1001 auth sha-256")
    assert "Auth      : sha-256" in p.ok("user show 1001")
    assert json.loads(p.ok("user show 1001 --json"))["auth"] == "sha-256"
    c = sip_client(p, "udp")
    ua = ua_for(p, c, "1001")
    raw = ua.challenge().all("WWW-Authenticate")
    assert len(raw) == 1 and re.search(r"\balgorithm=SHA-256\b", raw[0]), raw
    # A downgrade to MD5 is answered with a fresh SHA-256 challenge.
    ch = challenges(ua.last_challenge)[0]
    auth = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri, alg="MD5")
    r = ua.register_once(auth=auth, expires=600)
    assert r.status == 401 and "algorithm=SHA-256" in r["WWW-Authenticate"], r.text()
    assert registrations(p) == []
    assert ua.register(alg="SHA-256", expires=600).status == 200
    # The neighbour, and a user who does not exist, get the default.
    other = ua_for(p, c, "1002").challenge().all("WWW-Authenticate")
    assert len(other) == 1 and "algorithm=MD5" in other[0], other
    ghost = ua_for(p, c, "1999").challenge().all("WWW-Authenticate")
    assert len(ghost) == 1 and "algorithm=MD5" in ghost[0], ghost
    # Both, in the order given; and back to the default.
    p.ok("user set 1002 auth sha-256,md5")
    both = ua_for(p, c, "1002").challenge().all("WWW-Authenticate")
    assert [re.search(r"algorithm=([\w-]+)", v).group(1) for v in both] == ["SHA-256", "MD5"]
    p.ok("user set 1001 auth default")
    raw = ua_for(p, c, "1001").challenge().all("WWW-Authenticate")
    assert len(raw) == 1 and "algorithm=MD5" in raw[0], raw
    err = p.fail("user set 1001 auth sha-1")
    assert "invalid auth 'sha-1'" in err, err


def test_wrong_password_is_challenged_again(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    r = ua.register(password="not-it")
    assert r.status == 401, r.text()
    assert len(challenges(r)) == 1
    assert all("stale" not in v for v in r.all("WWW-Authenticate"))
    assert registrations(p) == []
    # The right password still works afterwards.
    assert ua.register().status == 200


# ---- bans ------------------------------------------------------------------------------------
# These run on loopback, which sip.ban_ignore spares by default: each test
# empties the list. The NAT cases (several users at one address, address
# bans, the ignore list, the log line) are in test_bans.py.


def test_repeated_failures_ban_the_user_at_that_address_until_unbanned(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], ban_threshold=3, ban_window=60, ban_time=600, ban_ignore=[])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    for i in range(3):
        r = ua.register(password=f"wrong{i}xx")
        assert r.status == 401, f"attempt {i + 1}: {r.text()}"
    # Banned now: that user's requests from this address are silently dropped.
    ua.send_register()
    assert c.silent(), "a banned user got an answer to REGISTER"
    c.request("OPTIONS", call_id=token(), from_uri=f"sip:1001@{p.domain}")
    assert c.silent(), "a banned user got an answer to OPTIONS"
    # Another user at the same address is answered: only the pair is banned.
    r = c.options()
    assert r is not None and r.status == 200
    out = p.ok("sip show bans")
    line = [ln for ln in out.splitlines() if ln.startswith("pair ") and "banned" in ln]
    assert line and "127.0.0.1" in line[0], out
    assert "3 failed logins for 1001" in line[0], out
    assert "0 addresses banned, 1 pair banned" in out
    # A client on another loopback address is not affected.
    other = sip_client(p, "udp", host="127.0.0.2")
    assert ua_for(p, other).register().status == 200
    rc, out, err = p.rx("sip unban 1001@127.0.0.2")
    assert rc == 1 and "not banned" in out + err
    assert p.ok("sip unban 1001@127.0.0.1") == "1001@127.0.0.1 unbanned.\n"
    assert "0 addresses banned, 0 pairs banned" in p.ok("sip show bans")
    r = ua.register()
    assert r.status == 200, r.text()


def test_ban_over_tcp_drops_requests(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], ban_threshold=2, ban_ignore=[])
    c = sip_client(p, "tcp")
    ua = ua_for(p, c)
    for _ in range(2):
        assert ua.register(password="bad-pass").status == 401
    ua.send_register()
    assert c.silent()
    assert "1 pair banned" in p.ok("sip show bans")


def test_a_good_login_clears_the_failure_count(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], ban_threshold=3, ban_ignore=[])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    for _ in range(2):
        assert ua.register(password="bad-pass").status == 401
    assert ua.register().status == 200
    for _ in range(2):
        assert ua.register(password="bad-pass").status == 401
    # 4 failures in all, never 3 in a row: not banned.
    assert ua.register().status == 200
    assert "0 addresses banned, 0 pairs banned" in p.ok("sip show bans")


def test_ban_threshold_zero_never_bans(sip_pbx, sip_client):
    """The config schema documents sip.ban_threshold = 0 as "never ban"."""
    p = sip_pbx(users=["1001"], ban_threshold=0, ban_ignore=[])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    for i in range(5):
        r = ua.register(password="bad-pass")
        assert r.status == 401, f"attempt {i + 1}"
    assert ua.register().status == 200
    assert "0 addresses banned, 0 pairs banned" in p.ok("sip show bans")


# ---- expiry rules --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["header", "param"])
def test_expires_below_minimum_gets_423_with_min_expires(sip_pbx, sip_client, how):
    p = sip_pbx(users=["1001"], min_expires=60)
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    if how == "header":
        r = ua.register(expires=30)
    else:
        r = ua.register(contact=ua.contact(";expires=30"))
    assert r.status == 423, r.text()
    assert r.get("Min-Expires") == "60"
    assert registrations(p) == []
    # Exactly the minimum is fine.
    r = ua.register(expires=60)
    assert r.status == 200 and 55 <= contact_expires(r, c.contact_uri("1001")) <= 60


def test_expires_above_maximum_is_cut(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], max_expires=3600)
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    r = ua.register(expires=7200)
    assert r.status == 200
    assert 3595 <= contact_expires(r, c.contact_uri("1001")) <= 3600
    assert 3590 <= contacts_of(p, 1001)[0]["expires_in"] <= 3600


def test_contact_expires_param_wins_over_header(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    r = ua.register(expires=600, contact=ua.contact(";expires=300"))
    assert r.status == 200
    assert 295 <= contact_expires(r, c.contact_uri("1001")) <= 300


def test_default_expires_when_none_given(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], default_expires=1800)
    c = sip_client(p, "udp")
    r = ua_for(p, c).register()
    assert r.status == 200
    assert 1795 <= contact_expires(r, c.contact_uri("1001")) <= 1800


def test_expires_zero_removes_the_binding(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    keep = "sip:1001@127.0.0.1:9;line=keep"
    assert ua.register(expires=600, contact=f"<{keep}>").status == 200
    assert ua.register(expires=600).status == 200
    assert len(contacts_of(p, 1001)) == 2
    r = ua.register(expires=0)
    assert r.status == 200
    # The response lists what is left: only the other contact.
    assert [u for u, _ in parse_contacts(r)] == [keep]
    assert [b["contact"] for b in contacts_of(p, 1001)] == [keep]


def test_contact_star_with_expires_zero_removes_all(sip_pbx, sip_client):
    p = sip_pbx(users=["1001", "1002"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    for i in range(3):
        assert ua.register(expires=600, contact=f"<sip:1001@127.0.0.1:9;line={i}>").status == 200
    other = ua_for(p, c, "1002")
    assert other.register(expires=600).status == 200
    assert len(contacts_of(p, 1001)) == 3
    r = ua.register(contact="*", expires=0)
    assert r.status == 200, r.text()
    assert r.all("Contact") == []
    assert contacts_of(p, 1001) == []
    assert len(contacts_of(p, 1002)) == 1, "another user's binding went too"
    assert "1001 has no registered contacts" in p.ok("sip show contacts 1001")


@pytest.mark.parametrize("case", ["no-expires", "expires-60", "with-other-contact"])
def test_contact_star_needs_expires_zero_and_nothing_else(sip_pbx, sip_client, case):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    assert ua.register(expires=600).status == 200
    if case == "no-expires":
        r = ua.register(contact="*")
    elif case == "expires-60":
        r = ua.register(contact="*", expires=60)
    else:
        r = ua.register(contact="*", expires=0, headers=[f"Contact: {ua.contact()}"])
    assert r.status == 400, r.text()
    assert len(contacts_of(p, 1001)) == 1, "a refused REGISTER changed the bindings"


def test_max_contacts_replaces_the_oldest(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], max_contacts=2)
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    uris = [f"sip:1001@127.0.0.1:9;line={i}" for i in range(3)]
    for u in uris:
        r = ua.register(expires=600, contact=f"<{u}>")
        assert r.status == 200
        time.sleep(0.05)
    assert {u for u, _ in parse_contacts(r)} == set(uris[1:])
    assert {b["contact"] for b in contacts_of(p, 1001)} == set(uris[1:])


def test_refresh_keeps_one_binding_and_renews_it(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], min_expires=1)
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    assert ua.register(expires=60).status == 200
    assert ua.register(expires=600).status == 200
    (b,) = contacts_of(p, 1001)
    assert b["expires_in"] > 590
    out = p.ok("sip show contacts 1001")
    assert f"Call-ID    : {ua.call_id}" in out
    assert f"CSeq       : {ua.cseq}" in out, out


def test_binding_expires_by_itself(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], min_expires=1)
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    r = ua.register(expires=2)
    assert r.status == 200
    assert len(contacts_of(p, 1001)) == 1
    wait_for(lambda: not contacts_of(p, 1001), 5, "the 2 s binding to expire")
    # ... and its row leaves the database too.
    wait_for(lambda: not db_rows(p), 3, "the expired binding's row to be deleted")


def test_lower_cseq_on_the_same_call_id_gets_500(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    ua.cseq = 10
    assert ua.register(expires=600).status == 200   # CSeq 11 (401), 12 (200)
    ch = challenge_for(ua.challenge(cseq=4), "MD5")
    auth = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri)
    r = ua.register_once(cseq=5, auth=auth, expires=600)
    assert r.status == 500, r.text()
    assert r.get("Retry-After") is not None
    out = p.ok("sip show contacts 1001")
    assert "CSeq       : 12" in out, out


# ---- who may register ----------------------------------------------------------------------


def test_disabled_user_gets_403_after_good_credentials(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    p.ok("user disable 1001")
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    r = ua.register()
    assert r.status == 403, r.text()
    # A wrong password reveals nothing: still a challenge.
    assert ua.register(password="bad-pass").status == 401
    p.ok("user enable 1001")
    assert ua.register().status == 200


def test_to_user_must_be_the_authenticated_user(sip_pbx, sip_client):
    p = sip_pbx(users=["1001", "1002"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c, "1001")
    r = ua.register(to_uri=f"sip:1002@{p.domain}")
    assert r.status == 403, r.text()
    assert registrations(p) == []


def test_user_without_password_cannot_register(sip_pbx, sip_client):
    p = sip_pbx()
    p.ok("user add 1003")
    c = sip_client(p, "udp")
    r = ua_for(p, c, "1003").register(password="anything")
    assert r.status == 401
    assert registrations(p) == []


# ---- nonces ----------------------------------------------------------------------------------


def test_nonce_count_replay_is_refused(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    ch = challenge_for(ua.challenge(), "MD5")
    auth1 = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri, nc=1, cnonce="abc")
    assert ua.register_once(auth=auth1, expires=600).status == 200
    # Same nonce, same nc, new transaction: a replay.
    r = ua.register_once(auth=auth1, expires=600)
    assert r.status == 401, r.text()
    assert all("stale" not in v for v in r.all("WWW-Authenticate"))
    # The next count on the same nonce is fine (RFC 7616 3.4.5).
    auth2 = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri, nc=2, cnonce="abd")
    assert ua.register_once(auth=auth2, expires=600).status == 200


def test_register_over_udp_is_answered_statelessly(sip_pbx, sip_client):
    """No transaction is kept for a REGISTER over UDP (its 401 nor its 200): a
    retransmission, the same bytes, is registered again and answered 200, not
    taken for a replay; the same credentials in another request are."""
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    before = json.loads(p.ok("sip show stats --json"))["server_transactions"]  # OPTIONS pings
    ch = challenge_for(ua.challenge(), "MD5")
    auth = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri, nc=1, cnonce="abc")
    data, cseq = ua.send_register(auth=auth, expires=600)
    assert c.response(ua.call_id, cseq).status == 200
    stats = json.loads(p.ok("sip show stats --json"))
    assert stats["server_transactions"] == before, stats
    c.send(data)  # the 200 was lost, say
    r = c.response(ua.call_id, cseq)
    assert r.status == 200, r.text()
    assert len(contacts_of(p, "1001")) == 1
    assert json.loads(p.ok("sip show stats --json"))["auth_failures"] == 0
    # Same Authorization, another Contact: a replay, refused.
    ua2 = ua_for(p, c)
    ua2.call_id, ua2.cseq = ua.call_id, cseq
    r = ua2.register_once(auth=auth, expires=600, contact="<sip:1001@192.0.2.66:5060>")
    assert r.status == 401, r.text()
    assert [b["contact"] for b in contacts_of(p, "1001")] != ["sip:1001@192.0.2.66:5060"]


def test_correct_answer_to_a_foreign_nonce_is_stale_not_a_failure(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], ban_threshold=2, ban_ignore=[])
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    ch = challenge_for(ua.challenge(), "MD5")
    for i in range(3):
        forged = token(32)  # 64 hex digits, not issued by this PBX
        auth = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri, nonce=forged)
        r = ua.register_once(auth=auth)
        assert r is not None, f"attempt {i + 1}: no answer (counted as a failure and banned?)"
        assert r.status == 401
        assert all(re.search(r"\bstale=true\b", v) for v in r.all("WWW-Authenticate")), r.text()
    assert "0 addresses banned, 0 pairs banned" in p.ok("sip show bans")


def test_expired_nonce_gets_stale_true(sip_pbx, sip_client):
    p = sip_pbx(users=["1001"], nonce_lifetime=10)
    c = sip_client(p, "udp")
    ua = ua_for(p, c)
    ch = challenge_for(ua.challenge(), "MD5")
    time.sleep(12)
    auth = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri)
    r = ua.register_once(auth=auth)
    assert r.status == 401, r.text()
    assert len(r.all("WWW-Authenticate")) == 1
    assert all(re.search(r"\bstale=true\b", v) for v in r.all("WWW-Authenticate")), r.text()
    fresh = challenge_for(r, "MD5")
    assert fresh["nonce"] != ch["nonce"]
    auth = authorization(fresh, "1001", "s3cret", "REGISTER", ua.ruri)
    assert ua.register_once(auth=auth).status == 200


# ---- persistence -----------------------------------------------------------------------------


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_bindings_survive_a_restart(sip_pbx, sip_client, tp):
    p = sip_pbx(users=["1001", "1002"], min_expires=1)
    c = sip_client(p, tp)
    ua = ua_for(p, c, "1001")
    assert ua.register(expires=600).status == 200
    short = ua_for(p, c, "1002")
    assert short.register(expires=2, contact="<sip:1002@127.0.0.1:9>").status == 200
    before = {b["extension"]: b for b in registrations(p)}
    assert set(before) == {"1001", "1002"}
    p.stop()
    rows = {r[0]: r for r in db_rows(p)}
    uri = c.contact_uri("1001")
    assert rows["1001"][1:4] == (uri, f"{tp}:127.0.0.1:{c.port}", "pytest-sip/1.0"), rows
    assert rows["1001"][4] > time.time() + 590
    # While it is down, 1002's binding runs out.
    time.sleep(max(0.0, rows["1002"][4] - time.time()) + 1.1)
    p.start()
    after = registrations(p)
    assert [b["extension"] for b in after] == ["1001"], after
    (b,) = after
    assert b["contact"] == uri and b["user_agent"] == "pytest-sip/1.0"
    assert b["source"] == before["1001"]["source"]
    assert 580 <= b["expires_in"] <= 600
    wait_for(lambda: [r[0] for r in db_rows(p)] == ["1001"], 3,
             "the binding that expired while down to leave the database")
    # The restored binding refreshes as usual (same Call-ID, higher CSeq);
    # over TCP the phone comes back on a new connection.
    if tp == "tcp":
        assert c.recv(2) is None and c.closed, "the old connection outlived the PBX"
        c2 = sip_client(p, "tcp")
        ua.c = c2
    assert ua.register(expires=600, contact=f"<{uri}>").status == 200
    (b,) = contacts_of(p, 1001)
    assert b["contact"] == uri
    assert b["source"] == f"{tp}:127.0.0.1:{ua.c.port}"


def test_deleting_a_user_drops_its_bindings(sip_pbx, sip_client):
    p = sip_pbx(users=["1001", "1002"])
    c = sip_client(p, "udp")
    assert ua_for(p, c, "1001").register(expires=600).status == 200
    assert ua_for(p, c, "1002").register(expires=600).status == 200
    p.ok("user del 1001")
    assert [b["extension"] for b in registrations(p)] == ["1002"]
    wait_for(lambda: [r[0] for r in db_rows(p)] == ["1002"], 3,
             "the deleted user's binding to leave the database")
    rc, out, err = p.rx("sip show contacts 1001")
    assert rc == 1 and "no such user" in out + err


# ---- qualify ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_qualify_options_answered_marks_contact_ok(sip_pbx, sip_client, tp):
    p = sip_pbx(users=["1001"], qualify_interval=1)
    c = sip_client(p, tp)  # answers OPTIONS with 200
    ua = ua_for(p, c)
    assert ua.register(expires=600).status == 200
    assert contacts_of(p, 1001)[0]["status"] == "unknown"
    opt = c.wait_request("OPTIONS", 8)
    assert opt is not None, "no qualify OPTIONS within 8 s"
    assert opt.ruri == c.contact_uri("1001")
    assert re.match(rf"SIP/2.0/{tp.upper()} ", opt["Via"], re.I), opt["Via"]
    wait_for(lambda: contacts_of(p, 1001)[0]["status"] == "OK", 3, "status OK")
    b = contacts_of(p, 1001)[0]
    assert b["rtt_ms"] >= 0
    assert re.search(r"OK \(\d+ ms\)", p.ok("sip show registrations"))
    # qualify_interval=1: another one follows about a second later.
    assert c.wait_request("OPTIONS", 4) is not None


def test_qualify_unanswered_marks_contact_unreachable(sip_pbx, sip_client):
    """Timer F (64*T1 = 32 s) must run out: the slowest test here, under 40 s."""
    p = sip_pbx(users=["1001"], qualify_interval=1)
    c = sip_client(p, "udp", answer_options=False)
    ua = ua_for(p, c)
    assert ua.register(expires=600).status == 200
    opt = c.wait_request("OPTIONS", 8)
    assert opt is not None, "no qualify OPTIONS within 8 s"
    wait_for(lambda: contacts_of(p, 1001)[0]["status"] == "UNREACHABLE", 36,
             "the unanswered contact to become UNREACHABLE", interval=0.5)
    assert contacts_of(p, 1001)[0]["rtt_ms"] == -1
    assert "UNREACHABLE" in p.ok("sip show registrations")
