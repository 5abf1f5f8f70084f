"""SRTP end to end: real softphones (baresip 1.0, headless) over SIP/TLS with
mediaenc=srtp-mand, and a capture of what the PBX's RTP ports carry on lo.

Each phone's microphone is a WAV of a tone of its own (aufile) and the
sndfile filter records what it decodes, as in test_calls_baresip.py. A call
passes when each phone recorded the other's tone (callib.tone_seconds, at
the level it was sent) and
the wire shows what the policy promises: on an SRTP leg no RTP payload,
decoded as G.711, carries either tone (nor equals any 160-byte G.711 frame
of it), on a plain leg nearly every payload does. The plain-call control
shows the wire check can fail.

The fixtures (conftest.py: srtp_pbx, phones, capture) and the checks
(srtplib.py) are shared with test_srtp_reoffer.py, the same calls over UDP
with every user at the default policy.

The PBX's RTP ports are a small range of their own per test and each phone
has its own (baresip rtp_ports), so the capture filter is
`udp portrange LO-HI` over them and a packet's leg is told by its phone
port. Users' SRTP policies come from `user set EXT srtp ...`; sip.tls is
left unset, so the PBX makes its self-signed certificate (baresip 1.0
accepts any server certificate). baresip computes MD5 digests only.

The phones run with the SIP trace on (-s), so each one's log holds the SDP
it sent and got, decrypted from TLS: SRTP legs must be RTP/SAVP with
a=crypto throughout, plain legs RTP/AVP without. Last, a mandatory user's
phone that offers plain RTP/AVP (over TLS) is refused with 488.
"""

import re

import pytest

import callib
import siplib
from srtplib import (F_CALLEE, F_CALLER, check_heard, check_leg, check_ports, check_sdp,
                     registered, rtp_audio, srtp_suite, talk)


# ---- both phones SRTP-mandatory over TLS, and the plain control ---------------------------


@pytest.mark.parametrize("mode", ["srtp-tls", "plain-control"])
def test_two_phones_call_and_the_wire_shows_no_tone(srtp_pbx, phones, capture, mode):
    srtp = mode == "srtp-tls"
    p = srtp_pbx({"1001": "mandatory", "1002": "mandatory"} if srtp
                 else {"1001": "off", "1002": "off"})
    transport, enc = ("tls", "srtp-mand") if srtp else ("udp", None)
    cap = capture(p)
    b1 = phones(p, "1001", F_CALLER, transport, enc, 0)
    b2 = phones(p, "1002", F_CALLEE, transport, enc, 1, answermode="auto")
    registered(p, b1, b2)
    if srtp:
        regs = p.ok("sip show registrations")
        assert regs.count("tls:127.0.0.1:") == 2, f"not both registered over TLS:\n{regs}"

    chans = talk(p, b1, b2)
    cap.stop()
    print("\nMEDIA", {d: c["media"] for d, c in chans.items()})
    for d in ("in", "out"):
        suite = srtp_suite(chans[d]["media"])
        if srtp:
            assert suite, f"{d} leg not SRTP: {chans[d]['media']!r}\n{chans}"
        else:
            assert not suite, f"{d} leg SRTP in a plain call: {chans[d]['media']!r}"
        # The media engine's counters: packets both ways, none refused by SRTP.
        assert chans[d]["rx_packets"] > 0 and chans[d]["tx_packets"] > 0, chans[d]
        # The media engine's counters: TALK seconds at 50 packets/s both ways; SRTP refuses at
        # most the first packet or two (one can race the keys reaching the media worker).
        assert chans[d]["rx_packets"] > 50 and chans[d]["tx_packets"] > 50, chans[d]
        assert chans[d]["srtp_rejected"] <= 2, chans[d]
    for b in (b1, b2):
        check_sdp(b, srtp)
    check_ports(p, chans)

    check_heard(b1, F_CALLEE, F_CALLER)
    check_heard(b2, F_CALLER, F_CALLEE)

    audio = rtp_audio(cap.packets())
    check_leg(audio, p.phone_ranges[0], srtp, f"{mode}: 1001's leg")
    check_leg(audio, p.phone_ranges[1], srtp, f"{mode}: 1002's leg")


# ---- a plain phone and an SRTP-mandatory one --------------------------------------------------


@pytest.mark.parametrize("caller_mandatory", [False, True],
                         ids=["plain-calls-mandatory", "mandatory-calls-plain"])
def test_plain_and_mandatory_phone_call(srtp_pbx, phones, capture, caller_mandatory):
    pol = {"1001": "mandatory" if caller_mandatory else "off",
           "1002": "off" if caller_mandatory else "mandatory"}
    p = srtp_pbx(pol)
    cap = capture(p)
    spec = {e: (("tls", "srtp-mand") if pol[e] == "mandatory" else ("udp", None)) for e in pol}
    b1 = phones(p, "1001", F_CALLER, *spec["1001"], 0)
    b2 = phones(p, "1002", F_CALLEE, *spec["1002"], 1, answermode="auto")
    registered(p, b1, b2)

    chans = talk(p, b1, b2)
    cap.stop()
    print("\nMEDIA", {d: c["media"] for d, c in chans.items()})
    check_ports(p, chans)
    check_sdp(b1, pol["1001"] == "mandatory")
    check_sdp(b2, pol["1002"] == "mandatory")
    # "in" is 1001's leg, "out" 1002's
    for d, ext in (("in", "1001"), ("out", "1002")):
        suite = srtp_suite(chans[d]["media"])
        if pol[ext] == "mandatory":
            assert suite, f"{ext}'s leg ({d}) is mandatory but not SRTP: {chans}"
        else:
            assert not suite, f"{ext}'s leg ({d}) is plain but SRTP: {chans}"

    check_heard(b1, F_CALLEE, F_CALLER)
    check_heard(b2, F_CALLER, F_CALLEE)

    audio = rtp_audio(cap.packets())
    for idx, ext in enumerate(("1001", "1002")):
        check_leg(audio, p.phone_ranges[idx], pol[ext] == "mandatory",
                  f"{ext}'s leg ({pol[ext]})")


# ---- a mandatory user's own plain offer --------------------------------------------------------


def test_mandatory_users_plain_offer_refused_488(srtp_pbx, phones):
    """1001 is SRTP-mandatory but its phone (over TLS) offers plain RTP/AVP: the PBX
    refuses the INVITE with 488 and 1002 never rings."""
    p = srtp_pbx({"1001": "mandatory", "1002": "off"})
    b1 = phones(p, "1001", F_CALLER, "tls", None, 0)
    b2 = phones(p, "1002", F_CALLEE, "udp", None, 1, answermode="auto")
    registered(p, b1, b2)
    r = b1.command("dial", "1002")
    assert r.get("ok", True), r
    status = re.compile(r"^SIP/2\.0 (\d{3}) (.*)$", re.M)

    def final():
        return [m for m in status.finditer(b1.log()) if int(m.group(1)) >= 300
                and int(m.group(1)) not in (401, 407)]

    try:
        siplib.wait_for(final, 8, "a final response to 1001's INVITE", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- 1001:\n{b1.log()[-4000:]}\n--- PBX:\n"
                             f"{p.log()[-3000:]}") from None
    invites = b1.sdp_lines("m=audio")
    assert invites and all(" RTP/AVP " in m for m in invites), invites
    got = final()[0]
    assert got.group(1) == "488" and "SRTP required" in got.group(2), \
        f"1001 (mandatory) offering RTP/AVP got {got.group(0)!r}, expected 488 SRTP required"
    log = b1.log()
    assert "Call established" not in log, log[-3000:]
    callib.wait_channels(p, 0, what="no channel after the 488")
    assert "INVITE sip:" not in b2.log(), f"1002 was called:\n{b2.log()[-3000:]}"
