"""SRTP signalling (SDES, RFC 4568): who offers RTP/SAVP, what is answered, what is refused.

Policies per user (`user set EXT srtp off|optional|mandatory`, default
rtp.srtp = optional): a mandatory caller's plain offer gets 488 "SRTP
required"; an optional caller's RTP/SAVP offer is answered RTP/SAVP with one
a=crypto of the same tag and suite and a key of the PBX's own; a mandatory
callee is offered RTP/SAVP with one a=crypto per suite, while its plain
caller's leg stays RTP/AVP; an optional callee is offered the profile of the
caller's leg, and a contact that refuses it (488; 415 or 406 naming the
media) is offered the other profile once. `core show channels` tells the
legs apart.

Only the signalling is checked here: the raw phones do not encrypt. Audio
through SRTP is the media engine's tests' business (and baresip's).
"""

import base64
import re

import pytest

import callib
from callib import WAIT, Call, authorization, challenge_for, sdp_offer

KEY_80 = base64.b64encode(bytes(range(1, 31))).decode()  # 30 bytes: AES_CM_128 key + salt
SUITES = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM",
          "AEAD_AES_256_GCM"]
KEY_LEN = {"AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30,
           "AEAD_AES_128_GCM": 28, "AEAD_AES_256_GCM": 44}


def savp(sdp, cryptos):
    """A plain sdp_offer() body made RTP/SAVP with @cryptos ("TAG SUITE inline:KEY")."""
    sdp = sdp.replace(" RTP/AVP ", " RTP/SAVP ")
    lines = "".join(f"a=crypto:{c}\r\n" for c in cryptos)
    return sdp.replace("a=sendrecv\r\n", lines + "a=sendrecv\r\n")


def cryptos(body):
    """[(tag, suite, key bytes)] of the a=crypto lines of an SDP body."""
    text = body.decode() if isinstance(body, bytes) else body
    out = []
    for m in re.finditer(r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)", text, re.M):
        out.append((int(m.group(1)), m.group(2), base64.b64decode(m.group(3))))
    return out


def m_proto(body):
    text = body.decode() if isinstance(body, bytes) else body
    return re.search(r"^m=audio \d+ (\S+)", text, re.M).group(1)


def call_with_sdp(ph, target, body):
    """Phone.call with an SDP body of our own; returns the Call (INVITE sent with credentials)."""
    c = Call(ph, uac=True)
    c.rtp = ph.new_rtp()
    c.remote_uri = f"sip:{target}@{ph.domain}"
    c.local_uri = f"sip:{ph.ext}@{ph.domain}"
    c.ruri = f"sip:{target}@127.0.0.1:{ph.pbx.port}"
    c.local_sdp = body(c.rtp.port)
    c.send_invite()
    r = c.final(timeout=WAIT)
    assert r.status == 401, f"{ph.name}: INVITE without credentials got {r.status}"
    c.ack_failure(r)
    c.cseq += 1
    c.send_invite(authorization(challenge_for(r, "MD5"), ph.ext, ph.password, "INVITE", c.ruri))
    ph.calls.append(c)
    return c


def media_of(p):
    chans = callib.wait_channels(p, 2)
    return {ch["direction"]: ch["media"] for ch in chans}


def test_mandatory_caller_plain_offer_gets_488(call_pbx, phone):
    p = call_pbx()
    p.ok("user set 1001 srtp mandatory")
    a = phone(p, "1001")
    phone(p, "1002")
    ca = a.call("1002")
    r = ca.final()
    assert r.status == 488, f"plain offer from a mandatory user got {r.status} {r.reason}"
    assert "SRTP required" in r.reason, r.text()
    assert "SRTP required" in r.get("Warning", ""), r.text()
    ca.ack_failure(r)
    callib.wait_channels(p, 0)


def answer_savp(ph, c, tag=1, suite="AES_CM_128_HMAC_SHA1_80"):
    """@c (an incoming Call of phone @ph) answered RTP/SAVP, taking tag @tag of the
    PBX's offer, with a key of its own; waits for the ACK."""
    c.rtp = ph.new_rtp()
    answer = savp(sdp_offer(c.rtp.port, ("PCMU",)), [f"{tag} {suite} inline:{KEY_80}"])
    ph.reply(c.invite, 200, to_tag=c.local_tag, body=answer, contact=True)
    c.remote_uri = callib._uri_of(c.remote_from)
    c.local_uri = callib._uri_of(c.local_to)
    c.wait_request("ACK")


def check_savp_offer(body):
    """An RTP/SAVP offer of the PBX: one a=crypto per suite, fresh keys of the right size."""
    assert m_proto(body) == "RTP/SAVP", body
    offered = cryptos(body)
    assert [(t, s) for t, s, _ in offered] == list(zip(range(1, 5), SUITES)), body
    assert all(len(k) == KEY_LEN[s] for _, s, k in offered), offered
    assert len({k for _, _, k in offered}) == 4, "the same key for two suites"


def test_optional_caller_savp_offer_answered_savp_callee_offered_savp(call_pbx, phone):
    """1001 (optional) offers SRTP; 1002 (optional) is offered what 1001's leg uses:
    RTP/SAVP. Both legs SRTP, each with keys of its own."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    offered = [f"5 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"]
    ca = call_with_sdp(a, "1002", lambda port: savp(sdp_offer(port), offered))
    cb = b.incoming()
    check_savp_offer(cb.invite.body)
    assert KEY_80 not in cb.invite.body.decode(), "the caller's key passed on to the callee"
    answer_savp(b, cb)
    r = ca.established()
    assert m_proto(r.body) == "RTP/SAVP", r.body
    keys = cryptos(r.body)
    assert len(keys) == 1, r.body
    tag, suite, key = keys[0]
    assert (tag, suite) == (5, "AES_CM_128_HMAC_SHA1_80")
    assert len(key) == 30 and key != base64.b64decode(KEY_80), "the PBX answered our own key"
    media = media_of(p)
    assert media["in"].endswith(" SRTP AES_CM_128_HMAC_SHA1_80"), media
    assert media["out"].endswith(" SRTP AES_CM_128_HMAC_SHA1_80"), media
    callib.wait_log(p, r"SDES keys for SIP/1001-\S+ sent over udp: not confidential; use TLS")

    # A re-INVITE with the same offer is answered with a fresh key.
    cseq = ca.request("INVITE", body=ca.local_sdp.replace(" 1 IN IP4", " 2 IN IP4", 1))
    r2 = ca.p.response_of(ca.call_id, cseq, "INVITE", True, WAIT)
    assert r2.status == 200, r2.text()
    ca.ack(cseq)
    keys2 = cryptos(r2.body)
    assert [(t, s) for t, s, _ in keys2] == [(5, "AES_CM_128_HMAC_SHA1_80")], r2.body
    assert keys2[0][2] != key, "re-INVITE answered with the old key"

    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


def test_optional_plain_caller_callee_offered_plain(call_pbx, phone):
    """1001 (optional) offers plain RTP: 1002 (optional) is offered plain RTP, no keys."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    assert m_proto(cb.invite.body) == "RTP/AVP" and not cryptos(cb.invite.body), cb.invite.body
    cb.answer()
    ca.established()
    media = media_of(p)
    assert media["in"].endswith(" RTP") and media["out"].endswith(" RTP"), media
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


# ---- re-offers: a callee that refuses the profile is offered the other one once -------------


def is_new_invite(m):
    return m.method == "INVITE" and ";tag=" not in m.get("To", "")


@pytest.mark.parametrize("caller_srtp", [False, True], ids=["plain-caller", "srtp-caller"])
def test_refusing_contact_reoffered_other_forks_untouched(call_pbx, phone, caller_srtp):
    """1003 has two contacts. The one that refuses the caller's profile with 488 gets a
    new INVITE with the other profile (same Call-ID and From tag, CSeq one higher); the
    other contact hears nothing new and the caller sees no failure. The re-offered
    contact answers, the other is CANCELled."""
    p = call_pbx()
    a = phone(p, "1001")
    refuser = phone(p, "1003", name="1003-refuser")
    other = phone(p, "1003", name="1003-other")
    assert len(callib.siplib.contacts_of(p, 1003)) == 2
    if caller_srtp:
        ca = call_with_sdp(a, "1003", lambda port: savp(
            sdp_offer(port), [f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"]))
    else:
        ca = a.call("1003")
    c1 = refuser.incoming()
    c2 = other.incoming()
    first = "RTP/SAVP" if caller_srtp else "RTP/AVP"
    for c in (c1, c2):
        assert m_proto(c.invite.body) == first, c.invite.body
    c2.ring()
    ca.provisional(180)
    assert c1.reject(488).method == "ACK"

    c1b = refuser.incoming()
    assert c1b.call_id == c1.call_id and c1b.remote_tag == c1.remote_tag, \
        "the re-offer is not a retry of the same request (Call-ID, From tag)"
    assert c1b.invite.cseq[0] == c1.invite.cseq[0] + 1, (c1.invite.cseq, c1b.invite.cseq)
    via1 = re.search(r"branch=([^;,\s]+)", c1.invite["Via"]).group(1)
    via2 = re.search(r"branch=([^;,\s]+)", c1b.invite["Via"]).group(1)
    assert via1 != via2, "the re-offer reuses the refused transaction's branch"
    if caller_srtp:
        assert m_proto(c1b.invite.body) == "RTP/AVP" and not cryptos(c1b.invite.body)
    else:
        check_savp_offer(c1b.invite.body)
    # The other fork and the caller: nothing new while the re-offer is out.
    assert other.quiet(lambda m: m.method in ("INVITE", "CANCEL", "BYE"), 0.5), other.log[-6:]
    assert a.quiet(lambda m: m.is_response and m.call_id == ca.call_id and m.status >= 200,
                   0.2), a.log[-6:]

    if caller_srtp:
        c1b.answer()
    else:
        answer_savp(refuser, c1b)
    r = ca.established()
    assert m_proto(r.body) == first, r.body
    cancel = c2.wait_request("CANCEL")
    other.reply(cancel, 200)
    c2.reject(487)
    media = media_of(p)
    assert media["out"].endswith(" RTP" if caller_srtp else " SRTP AES_CM_128_HMAC_SHA1_80"), \
        media
    assert ca.bye().status == 200
    c1b.wait_bye()
    callib.wait_channels(p, 0)


@pytest.mark.parametrize("policy", ["mandatory", "off"])
def test_no_reoffer_outside_the_callee_policy(call_pbx, phone, policy):
    """A mandatory callee is only ever offered RTP/SAVP, an off one only RTP/AVP: a 488
    from either ends that contact, and the caller gets the failure."""
    p = call_pbx()
    p.ok(f"user set 1002 srtp {policy}")
    a = phone(p, "1001")
    b = phone(p, "1002")
    # The caller's leg uses the profile the callee's policy excludes.
    if policy == "off":
        ca = call_with_sdp(a, "1002", lambda port: savp(
            sdp_offer(port), [f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"]))
    else:
        ca = a.call("1002")
    cb = b.incoming()
    assert m_proto(cb.invite.body) == ("RTP/SAVP" if policy == "mandatory" else "RTP/AVP")
    cb.reject(488)
    r = ca.final()
    assert r.status >= 400, r.text()
    ca.ack_failure(r)
    assert b.quiet(is_new_invite, 0.5), f"{policy} callee re-offered: {b.log[-6:]}"
    callib.wait_channels(p, 0)


def test_reoffer_refused_too_ends_the_contact(call_pbx, phone):
    """The re-offer is made once: a contact that refuses both profiles is done."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    cb.reject(488)
    cb2 = b.incoming()
    assert m_proto(cb2.invite.body) == "RTP/SAVP"
    cb2.reject(488)
    r = ca.final()
    assert r.status >= 400, r.text()
    ca.ack_failure(r)
    assert b.quiet(is_new_invite, 0.5), f"a third INVITE: {b.log[-6:]}"
    callib.wait_channels(p, 0)


@pytest.mark.parametrize("status,headers,reoffer", [
    (415, ["Accept: application/sdp"], False),
    (415, ['Warning: 305 phone "Incompatible media format"'], True),
    (406, [], False),
    (406, [], True),
], ids=["415-bare", "415-warning-305", "406-bare", "406-srtp-reason"])
def test_415_406_reoffered_only_when_naming_the_media(call_pbx, phone, status, headers,
                                                        reoffer):
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    reason = "SRTP Required" if status == 406 and reoffer else None
    b.reply(cb.invite, status, reason=reason, to_tag=cb.local_tag, headers=headers)
    cb.wait_request("ACK")
    if reoffer:
        cb2 = b.incoming()
        assert m_proto(cb2.invite.body) == "RTP/SAVP", cb2.invite.body
        answer_savp(b, cb2)
        ca.established()
        assert ca.bye().status == 200
        cb2.wait_bye()
    else:
        r = ca.final()
        assert r.status >= 400, r.text()
        ca.ack_failure(r)
        assert b.quiet(is_new_invite, 0.5), f"re-offered after {status}: {b.log[-6:]}"
    callib.wait_channels(p, 0)


def test_reoffer_within_the_dial_timeout(call_pbx, phone):
    """2002 dials 1002 for 2 s. The callee refuses the first offer at once and lets the
    re-offer ring: the dial ends on its own timeout (NOANSWER, the re-offer CANCELled),
    not on the refusal."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("2002")
    cb = b.incoming()
    cb.reject(488)
    cb2 = b.incoming()
    cb2.ring()
    ca.provisional(180)
    # The 2 s dial timeout CANCELs the re-offer (bounded wait; no timing asserted).
    cancel = cb2.wait_request("CANCEL", timeout=10)
    b.reply(cancel, 200)
    cb2.reject(487)
    r = ca.final()
    assert r.status == 408, f"caller got {r.status} {r.reason}, expected the noanswer branch"
    ca.ack_failure(r)
    callib.wait_log(p, r"DIALSTATUS=NOANSWER")
    callib.wait_channels(p, 0)


def test_mandatory_callee_offered_savp_plain_caller(call_pbx, phone):
    p = call_pbx()
    p.ok("user set 1002 srtp mandatory")
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    check_savp_offer(cb.invite.body)
    # The callee takes tag 1 and answers with a key of its own.
    answer_savp(b, cb)

    r = ca.established()
    assert m_proto(r.body) == "RTP/AVP", r.body
    assert not cryptos(r.body), r.body
    media = media_of(p)
    assert media["out"].endswith(" SRTP AES_CM_128_HMAC_SHA1_80"), media
    assert "SRTP" not in media["in"] and media["in"].endswith(" RTP"), media
    callib.wait_log(p, r"SDES keys for SIP/1002-\S+ sent over udp: not confidential; use TLS")

    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


def test_mandatory_callee_plain_answer_is_refused(call_pbx, phone):
    """A mandatory callee that answers RTP/AVP to the SAVP offer is hung up on."""
    p = call_pbx()
    p.ok("user set 1002 srtp mandatory")
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    cb.answer()  # plain RTP/AVP, no keys
    cb.wait_bye()
    r = ca.final()
    assert r.status >= 400, f"caller got {r.status} after the callee's plain answer"
    ca.ack_failure(r)
    callib.wait_channels(p, 0)
