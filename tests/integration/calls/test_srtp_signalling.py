"""SRTP signalling (SDES, RFC 4568): who offers RTP/SAVP, what is answered, what is refused.

Policies per user (`user set EXT srtp off|optional|mandatory`, default
rtp.srtp = optional): a mandatory caller's plain offer gets 488 "SRTP
required"; an optional caller's RTP/SAVP offer is answered RTP/SAVP with one
a=crypto of the same tag and suite and a key of the PBX's own; a mandatory
callee is offered RTP/SAVP with one a=crypto per suite, while its plain
caller's leg stays RTP/AVP. `core show channels` tells the legs apart.

Only the signalling is checked here: the raw phones do not encrypt. Audio
through SRTP is the media engine's tests' business (and baresip's).
"""

import base64
import re

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


def test_optional_caller_savp_offer_answered_savp_callee_plain(call_pbx, phone):
    """1001 (optional) offers SRTP; 1002 (optional) is offered plain RTP: one leg each way."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    offered = [f"5 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"]
    ca = call_with_sdp(a, "1002", lambda port: savp(sdp_offer(port), offered))
    cb = b.incoming()
    # Optional is not best-effort: the callee gets a plain offer, no keys.
    assert m_proto(cb.invite.body) == "RTP/AVP", cb.invite.body
    assert not cryptos(cb.invite.body), cb.invite.body
    cb.answer()
    r = ca.established()
    assert m_proto(r.body) == "RTP/SAVP", r.body
    keys = cryptos(r.body)
    assert len(keys) == 1, r.body
    tag, suite, key = keys[0]
    assert (tag, suite) == (5, "AES_CM_128_HMAC_SHA1_80")
    assert len(key) == 30 and key != base64.b64decode(KEY_80), "the PBX answered our own key"
    media = media_of(p)
    assert media["in"].endswith(" SRTP AES_CM_128_HMAC_SHA1_80"), media
    assert media["out"].endswith(" RTP") and "SRTP" not in media["out"], media
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


def test_mandatory_callee_offered_savp_plain_caller(call_pbx, phone):
    p = call_pbx()
    p.ok("user set 1002 srtp mandatory")
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    assert m_proto(cb.invite.body) == "RTP/SAVP", cb.invite.body
    offered = cryptos(cb.invite.body)
    assert [(t, s) for t, s, _ in offered] == list(zip(range(1, 5), SUITES)), cb.invite.body
    assert all(len(k) == KEY_LEN[s] for _, s, k in offered), offered
    assert len({k for _, _, k in offered}) == 4, "the same key for two suites"

    # The callee takes tag 1 and answers with a key of its own.
    cb.rtp = b.new_rtp()
    answer = savp(sdp_offer(cb.rtp.port, ("PCMU",)),
                  [f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"])
    b.reply(cb.invite, 200, to_tag=cb.local_tag, body=answer, contact=True)
    cb.remote_uri = callib._uri_of(cb.remote_from)
    cb.local_uri = callib._uri_of(cb.local_to)
    cb.wait_request("ACK")

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
