"""SRTP end to end: real softphones (baresip 1.0, headless) over SIP/TLS with
mediaenc=srtp-mand, and a capture of what the PBX's RTP ports carry on lo.

Each phone's microphone is a WAV of a tone of its own (aufile) and the
sndfile filter records what it decodes, as in test_calls_baresip.py. A call
passes when each phone recorded the other's tone (callib.tone_seconds) and
the wire shows what the policy promises: on an SRTP leg no RTP payload,
decoded as G.711, carries either tone (nor equals any 160-byte G.711 frame
of it), on a plain leg nearly every payload does. The plain-call control
shows the wire check can fail.

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

import random
import re
import time

import pytest

import callib
import siplib
from callib import DIALPLAN, PASSWORD, read_wav, tone_seconds, write_wav
from pbxlib import free_port
from srtplib import Capture, SrtpBaresip, leg, plain_frames, rtp_audio, tone_packets

F_CALLER, F_CALLEE = 1000, 1400
TALK = 3.0
USERS = ("1001", "1002")


@pytest.fixture
def srtp_pbx(pbx_factory):
    """srtp_pbx(policies={ext: policy}): a started PBX listening on udp, tcp and tls
    (p.tls_port), with users 1001 and 1002 and a private RTP range (p.rtp_range).
    Each phone gets a range of its own next to it: p.phone_ranges[0], [1]."""

    def start(policies=None):
        base = random.randrange(25000, 32000, 100)  # below the ephemeral ports
        p = pbx_factory(sections={"sip": {"qualify_interval": 0},
                                  "rtp": {"port_min": base, "port_max": base + 39}})
        p.rtp_range = (base, base + 39)
        p.phone_ranges = [(base + 40, base + 59), (base + 60, base + 79)]
        p.capture_range = (base, base + 79)
        p.tls_port = free_port()
        p.sections["sip"]["listen"] = [f"udp:127.0.0.1:{p.port}", f"tcp:127.0.0.1:{p.port}",
                                       f"tls:127.0.0.1:{p.tls_port}"]
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(DIALPLAN)
        p.sections["dialplan"] = {"file": str(p.dialplan)}
        p.write_config()
        p.start()
        c = siplib.SipClient(p.port, "udp")
        try:
            siplib.wait_for(lambda: (lambda r: r is not None and r.status == 200)(
                c.options()), 10, "the PBX to answer OPTIONS")
        finally:
            c.close()
        siplib.add_users(p, USERS, PASSWORD)
        for ext, pol in (policies or {}).items():
            p.ok(f"user set {ext} srtp {pol}")
        return p

    return start


@pytest.fixture
def phones(tmp_path):
    """phones(pbx, ext, freq, transport, mediaenc, idx, answermode): a started SrtpBaresip
    playing @freq, on RTP ports pbx.phone_ranges[idx]."""
    made = []

    def make(p, ext, freq, transport, mediaenc, idx, answermode="manual"):
        wav = tmp_path / f"tone-{ext}.wav"
        write_wav(wav, callib.tone(freq, 15))
        b = SrtpBaresip(tmp_path, p, ext, wav, "PCMU", transport=transport, mediaenc=mediaenc,
                        rtp_ports=p.phone_ranges[idx], answermode=answermode)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def capture(tmp_path):
    made = []

    def make(p):
        lo, hi = p.capture_range
        c = Capture(tmp_path, f"udp portrange {lo}-{hi}")
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def registered(p, b1, b2):
    try:
        siplib.wait_for(lambda: len(siplib.registrations(p)) == 2, 10,
                        "both baresips to register", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- {b1.user}:\n{b1.log()[-2500:]}\n--- {b2.user}:\n"
                             f"{b2.log()[-2500:]}\n--- PBX:\n{p.log()[-3000:]}") from None


def talk(p, b1, b2):
    """b1 dials b2 (answering by itself); TALK seconds of audio; b1 hangs up.
    Returns the channels ({direction: channel}) seen while the call was up."""
    r = b1.command("dial", b2.user)
    assert r.get("ok", True), r
    chans = None

    def up():
        nonlocal chans
        chans = callib.channels(p)
        return len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)

    try:
        siplib.wait_for(up, 10, "the call to be answered and bridged", interval=0.1)
        siplib.wait_for(lambda: "Call established" in b1.log(), 5,
                        f"{b1.user}: call established", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}\nchannels: {chans}\n--- {b1.user}:\n{b1.log()[-3000:]}\n"
                             f"--- {b2.user}:\n{b2.log()[-3000:]}\n--- PBX:\n"
                             f"{p.log()[-4000:]}") from None
    time.sleep(TALK)
    # Seen again at the end of the talk, so the media counters cover it.
    chans = callib.channels(p)
    b1.command("hangup")
    callib.wait_channels(p, 0, what=f"no channel left after {b1.user} hung up")
    siplib.wait_for(lambda: "terminated" in b2.log(), 5, f"{b2.user} to see the BYE",
                    interval=0.1)
    b1.stop()
    b2.stop()
    return {c["direction"]: c for c in chans}


def check_heard(b, theirs, mine):
    recs = b.recordings("dec")
    assert len(recs) == 1, f"{b.user}: recordings {recs}\n{b.log()[-3000:]}"
    rate, samples = read_wav(recs[0])
    assert rate == 8000
    heard = tone_seconds(samples, theirs, rate)
    assert heard >= TALK - 1.0, \
        (f"{b.user} heard {heard:.1f}s of the other phone's {theirs} Hz in a "
         f"{len(samples) / rate:.1f}s recording: {callib.tone_windows(samples, theirs)[:20]}"
         f"\n{b.log()[-3000:]}")
    assert tone_seconds(samples, mine, rate, share=0.2) == 0, \
        f"{b.user} hears its own {mine} Hz tone"


FRAMES = None


def exact_matches(audio):
    """How many payloads' first 160 bytes equal a u-law frame of either tone."""
    global FRAMES
    if FRAMES is None:
        FRAMES = plain_frames("PCMU", F_CALLER) | plain_frames("PCMU", F_CALLEE)
    return sum(1 for *_, pt, pl in audio if pt == 0 and pl[:160] in FRAMES)


def check_leg(audio, ports, encrypted, what):
    """The wire check of one phone's leg (packets from or to @ports)."""
    pkts = leg(audio, ports)
    hits, n = tone_packets(pkts, (F_CALLER, F_CALLEE))
    exact = exact_matches(pkts)
    # both directions of TALK seconds at 50 packets a second, give or take
    assert n >= 2 * 50 * (TALK - 1.0), \
        f"{what}: only {n} G.711-sized RTP packets captured on phone ports {ports}"
    lens = sorted({len(a[3]) for a in pkts})
    if encrypted:
        assert hits == 0 and exact == 0, \
            (f"{what}: SRTP leg, yet {hits} of {n} payloads decode to a tone and {exact} "
             f"equal a plain G.711 frame of it (payload lengths {lens})")
        assert all(len(a[3]) > 160 for a in pkts), \
            f"{what}: SRTP payloads carry an authentication tag; lengths seen {lens}"
    else:
        assert hits >= 0.8 * n and exact >= 0.8 * n, \
            (f"{what}: plain leg, yet only {hits} of {n} payloads decode to a tone and "
             f"{exact} equal a G.711 frame of it ({lens})")
    print(f"\n{what}: hits={hits} n={n} exact={exact} lens={lens}")
    return hits, n, exact


def check_sdp(b, encrypted):
    """Every audio stream in @b's SIP trace (its offers and answers, and the PBX's)
    is RTP/SAVP with a=crypto when @encrypted, RTP/AVP without a=crypto when not."""
    ms = b.sdp_lines("m=audio")
    cr = b.sdp_lines("a=crypto:")
    assert len(ms) >= 2, f"{b.user}: no offer/answer in the SIP trace: {ms}\n{b.log()[-3000:]}"
    if encrypted:
        assert all(" RTP/SAVP " in m for m in ms) and cr, \
            f"{b.user} (SRTP): SDP streams {ms}, crypto lines {cr}"
    else:
        assert all(" RTP/AVP " in m for m in ms) and not cr, \
            f"{b.user} (plain): SDP streams {ms}, crypto lines {cr}"


def check_ports(p, chans):
    """The PBX's legs point at the phones' own RTP ranges ("in" at 1001's, "out" at
    1002's): what lets the capture be split by leg."""
    for d, rng in (("in", p.phone_ranges[0]), ("out", p.phone_ranges[1])):
        m = re.search(r"127\.0\.0\.1:(\d+)", chans[d]["media"])
        assert m and rng[0] <= int(m.group(1)) <= rng[1], \
            f"{d} leg's media {chans[d]['media']!r} not in the phone's RTP range {rng}"


def srtp_suite(media):
    m = re.search(r"SRTP (\S+)", media or "")
    return m and m.group(1)


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
