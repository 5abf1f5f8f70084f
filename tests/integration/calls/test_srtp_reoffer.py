"""SRTP offers that reach SRTP-only phones: real baresip 1.0 phones over UDP, every
user at the default policy (optional), nothing set but what a user must set.

An optional callee is first offered the profile of the caller's leg: RTP/SAVP
with a=crypto when the caller's phone encrypts, RTP/AVP when it does not. A
callee that refuses that offer (baresip with mediaenc=srtp-mand answers a plain
offer with 488) is offered the other profile once, in a new INVITE of the same
call, and the call goes on. The PBX relays between an SRTP leg and a plain one.

Three calls, as the issue asks:
  - SRTP-mandatory calls SRTP-mandatory: both legs SRTP, the callee offered
    RTP/SAVP at once (one INVITE, no re-offer);
  - SRTP-mandatory calls a plain phone: the callee is offered RTP/SAVP
    first, refuses it with 488 (baresip without mediaenc does), and takes
    RTP/AVP in the re-offer: the caller's leg SRTP, the callee's plain;
  - a plain phone calls an SRTP-mandatory one: the callee refuses RTP/AVP
    with 488 and is offered RTP/SAVP, which it takes.

Each phone's microphone is a tone of its own; each must record the other's
tone (frequency and level) and none of its own. A capture on lo shows each
leg's payloads: no tone in any packet of an SRTP leg, the tone in nearly
every packet of a plain one (srtplib.check_leg). The phones' SIP traces
(baresip -s) show what the PBX offered them.

Each phone quits by itself after 60 s (baresip -t) and every wait is bounded.
"""

import re

import pytest

from srtplib import (F_CALLEE, F_CALLER, check_heard, check_leg, check_ports, registered,
                     rtp_audio, srtp_suite, talk)

SRTP = "srtp-mand"


def offers_received(b):
    """The m=audio lines of the INVITEs @b received, in order, each with the status
    line of @b's final answer to it ("200 OK", "488 ..."), from its SIP trace."""
    out = []
    # baresip -s prints each message after a line naming its direction; the INVITEs
    # it receives start with "INVITE sip:" and its answers with "SIP/2.0 NNN".
    log = b.log()
    for m in re.finditer(r"^INVITE sip:\S+ SIP/2\.0\r?$", log, re.M):
        body = log[m.end():m.end() + 4000]
        cseq = re.search(r"^CSeq: *(\d+) INVITE", body, re.M | re.I)
        audio = re.search(r"^m=audio \d+ (\S+)", body, re.M)
        callid = re.search(r"^Call-ID: *(\S+)", body, re.M | re.I)
        if not (cseq and audio and callid):
            continue
        final = None
        for r in re.finditer(r"^SIP/2\.0 ([2-6]\d\d) (.*?)\r?$", log, re.M):
            rest = log[r.end():r.end() + 3000]
            rc = re.search(r"^CSeq: *(\d+) INVITE", rest, re.M | re.I)
            rid = re.search(r"^Call-ID: *(\S+)", rest, re.M | re.I)
            if rc and rid and rc.group(1) == cseq.group(1) and rid.group(1) == callid.group(1):
                final = f"{r.group(1)} {r.group(2)}"
                break
        out.append((audio.group(1), final, callid.group(1), int(cseq.group(1))))
    # Retransmissions appear twice; keep one per transaction.
    seen, uniq = set(), []
    for o in out:
        if (o[2], o[3]) not in seen:
            seen.add((o[2], o[3]))
            uniq.append(o)
    return uniq


def diag(p, b1, b2):
    return (f"\n--- {b1.user}:\n{b1.log()[-3000:]}\n--- {b2.user}:\n{b2.log()[-4000:]}"
            f"\n--- PBX:\n{p.log()[-3000:]}")


@pytest.mark.parametrize("enc1,enc2", [(SRTP, SRTP), (SRTP, None), (None, SRTP)],
                         ids=["srtp-calls-srtp", "srtp-calls-plain", "plain-calls-srtp"])
def test_udp_phones_default_policy(srtp_pbx, phones, capture, enc1, enc2):
    # Shipped defaults: no srtp policy set for anyone, qualify left on, no TLS.
    p = srtp_pbx(tls=False, qualify=True)
    users = p.ok("user show 1001") + p.ok("user show 1002")
    assert users.count("optional") >= 2, f"users not at the default policy:\n{users}"
    cap = capture(p)
    b1 = phones(p, "1001", F_CALLER, "udp", enc1, 0)
    b2 = phones(p, "1002", F_CALLEE, "udp", enc2, 1, answermode="auto")
    registered(p, b1, b2)

    chans = talk(p, b1, b2)
    cap.stop()
    print("\nMEDIA", {d: c["media"] for d, c in chans.items()})
    check_ports(p, chans)
    # "in" is 1001's leg, "out" 1002's: each as its phone encrypts.
    for d, enc in (("in", enc1), ("out", enc2)):
        suite = srtp_suite(chans[d]["media"])
        assert bool(suite) == bool(enc), \
            f"{d} leg ({enc or 'plain'} phone) media {chans[d]['media']!r}{diag(p, b1, b2)}"
        assert chans[d]["rx_packets"] > 50 and chans[d]["tx_packets"] > 50, chans[d]
        assert chans[d]["srtp_rejected"] <= 2, chans[d]

    # What the callee was offered, and what it said.
    offers = offers_received(b2)
    print("CALLEE OFFERS", offers)
    assert offers and offers[-1][1] and offers[-1][1].startswith("200"), \
        f"callee's INVITEs and answers: {offers}{diag(p, b1, b2)}"
    last_proto = offers[-1][0]
    assert last_proto == ("RTP/SAVP" if enc2 else "RTP/AVP"), offers
    first_proto = offers[0][0]
    # The first offer follows the caller's leg.
    assert first_proto == ("RTP/SAVP" if enc1 else "RTP/AVP"), offers
    if enc1 and enc2 or not enc1 and not enc2:
        assert len(offers) == 1, f"a re-offer where none was needed: {offers}"
    if bool(enc1) != bool(enc2):
        # The callee refused the caller's profile with 488 (baresip does, either way
        # round), then took the other one in a new INVITE of the same attempt (same
        # Call-ID, CSeq one higher, RFC 3261 8.1.3.5).
        assert len(offers) == 2 and offers[0][1].startswith("488"), offers
        assert offers[1][2] == offers[0][2] and offers[1][3] == offers[0][3] + 1, offers
    # What the caller's phone saw: its own profile throughout.
    ms = b1.sdp_lines("m=audio")
    want = " RTP/SAVP " if enc1 else " RTP/AVP "
    assert ms and all(want in m for m in ms), f"1001's SDP streams {ms}"

    check_heard(b1, F_CALLEE, F_CALLER)
    check_heard(b2, F_CALLER, F_CALLEE)

    audio = rtp_audio(cap.packets())
    check_leg(audio, p.phone_ranges[0], bool(enc1), f"1001's leg ({enc1 or 'plain'})")
    check_leg(audio, p.phone_ranges[1], bool(enc2), f"1002's leg ({enc2 or 'plain'})")
