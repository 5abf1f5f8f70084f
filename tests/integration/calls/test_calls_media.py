"""Calls between raw SIP phones (callib.Phone) through the real PBX, with
the audio checked sample by sample: G.711 relay and u-law <-> A-law
transcoding, RFC 4733 DTMF relayed between the legs (and carried across
to SIP INFO where a leg has no telephone-event, DESIGN.md Media) and read
by app.read, hold and resume passed from one leg to the other, and the
rtp.timeout hangup.

Tones are measured with the Goertzel algorithm on the decoded samples
(callib.goertzel): the share of a block's energy at one frequency.
"""

import re
import time

import pytest

import callib
from callib import tone, tone_seconds


def establish(p, phone, caller="1001", callee="1002", caller_codecs=("PCMU", "PCMA"),
              callee_codecs=("PCMU", "PCMA"), dtmf_pt=101):
    """A calls B through `_1XXX` (Dial), B rings and answers: (A, B, A's call, B's call)."""
    a = phone(p, caller)
    b = phone(p, callee)
    ca = a.call(callee, codecs=caller_codecs, dtmf_pt=dtmf_pt)
    cb = b.incoming()
    assert cb.offer is not None, "the PBX's INVITE to the callee has no SDP offer"
    cb.ring()
    ca.provisional(180)
    cb.answer(codecs=callee_codecs)
    ca.established()
    callib.wait_channels(p, 2, what="both legs of the call")
    return a, b, ca, cb


@pytest.mark.parametrize("caller_codec,callee_codec", [("PCMU", "PCMU"), ("PCMU", "PCMA")])
def test_audio_both_ways(call_pbx, phone, caller_codec, callee_codec):
    """Each side's tone arrives at the other, through relay or transcoding."""
    p = call_pbx()
    a, b, ca, cb = establish(p, phone, caller_codecs=(caller_codec,),
                             callee_codecs=(callee_codec,))
    # The INVITE to the callee: to its registered contact, from the caller's number.
    assert cb.invite.ruri == f"sip:1002@127.0.0.1:{b.port}", cb.invite.ruri
    assert "<sip:1001@test.local>" in cb.invite["From"], cb.invite["From"]
    assert "sip:1002@test.local" in cb.invite["To"], cb.invite["To"]
    assert ca.remote_sdp.codec == caller_codec, ca.remote_sdp.text
    assert cb.codecs == (callee_codec,)
    chans = {c["direction"]: c for c in callib.channels(p)}
    assert chans["in"]["media"].startswith(caller_codec), chans
    assert chans["out"]["media"].startswith(callee_codec), chans
    assert chans["in"]["bridged_to"] == chans["out"]["name"], chans

    t0 = time.monotonic()
    ca.rtp.start_stream(caller_codec, tone(1000, 1.0))
    cb.rtp.start_stream(callee_codec, tone(1400, 1.0))
    cb.rtp.wait_packets(50, callib.CODEC_PT[callee_codec], t0, what="caller's audio at callee")
    ca.rtp.wait_packets(50, callib.CODEC_PT[caller_codec], t0, what="callee's audio at caller")
    ca.rtp.stop_stream()
    cb.rtp.stop_stream()

    at_b = cb.rtp.audio(callee_codec, t0)
    at_a = ca.rtp.audio(caller_codec, t0)
    # Each packet that arrived is in the payload type the receiver negotiated.
    assert {pk[2] for pk in cb.rtp.received(since=t0)} == {callib.CODEC_PT[callee_codec]}
    assert {pk[2] for pk in ca.rtp.received(since=t0)} == {callib.CODEC_PT[caller_codec]}
    assert tone_seconds(at_b, 1000) >= 0.8, callib.tone_windows(at_b, 1000)
    assert tone_seconds(at_b, 1400) == 0, "the callee hears itself"
    assert tone_seconds(at_a, 1400) >= 0.8, callib.tone_windows(at_a, 1400)
    assert tone_seconds(at_a, 1000) == 0, "the caller hears itself"

    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


@pytest.mark.parametrize("caller_codec", ["PCMU", "PCMA"])
def test_dtmf_relayed_between_phones(call_pbx, phone, caller_codec):
    """RFC 4733 events cross the PBX both ways, each leg with its own payload type
    (and, with PCMA on the caller's leg, while the audio is transcoded)."""
    p = call_pbx()
    # The caller offers telephone-event as 96; the PBX offers the callee its own (101).
    a, b, ca, cb = establish(p, phone, dtmf_pt=96, caller_codecs=(caller_codec,),
                             callee_codecs=("PCMU",))
    assert ca.remote_sdp.dtmf_pt == 96, ca.remote_sdp.text
    b_pt = cb.offer.dtmf_pt
    assert b_pt is not None, f"no telephone-event in the PBX's offer:\n{cb.offer.text}"

    t0 = time.monotonic()
    for d in "15#9":
        ca.rtp.send_dtmf(d, 96)
    for d in "*0":
        cb.rtp.send_dtmf(d, b_pt)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if len(cb.rtp.dtmf_events(b_pt, t0)) >= 4 and len(ca.rtp.dtmf_events(96, t0)) >= 2:
            break
        time.sleep(0.05)
    at_b = cb.rtp.dtmf_events(b_pt, t0)
    at_a = ca.rtp.dtmf_events(96, t0)
    assert [e[0] for e in at_b] == list("15#9"), at_b
    assert all(e[1] for e in at_b), f"an event without its end packet: {at_b}"
    assert [e[0] for e in at_a] == list("*0"), at_a
    assert all(e[1] for e in at_a), f"an event without its end packet: {at_a}"

    assert cb.bye().status == 200
    ca.wait_bye()


@pytest.mark.parametrize("sender", ["rfc4733-to-info", "info-to-rfc4733"])
def test_dtmf_crosses_to_a_leg_without_the_same_method(call_pbx, phone, sender):
    """DTMF reaches the other phone when only one leg has telephone-event: the PBX
    sends SIP INFO to a phone without it (its fallback, DESIGN.md Media), and turns
    a phone's INFO into RFC 4733 events for one that has it."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    if sender == "rfc4733-to-info":
        ca = a.call("1002", dtmf_pt=101)
        cb = b.incoming()
        cb.ring()
        cb.answer(dtmf=False)
        ca.established()
        assert ca.remote_sdp.dtmf_pt == 101
        for d in "59":
            ca.rtp.send_dtmf(d, 101)
        got = []
        for _ in "59":
            info = cb.wait_request("INFO", timeout=3)
            b.reply(info, 200)
            m = re.search(rb"Signal\s*=\s*(\S+)", info.body)
            got.append(m.group(1).decode() if m else info.body.decode())
        assert got == ["5", "9"], got
    else:
        ca = a.call("1002", dtmf_pt=None)
        cb = b.incoming()
        cb.ring()
        cb.answer()
        ca.established()
        assert ca.remote_sdp.dtmf_pt is None, ca.remote_sdp.text
        b_pt = cb.offer.dtmf_pt
        t0 = time.monotonic()
        for d in "59":
            assert ca.info_dtmf(d).status == 200
            time.sleep(0.25)
        deadline = time.monotonic() + 3
        while len(cb.rtp.dtmf_events(b_pt, t0)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        events = cb.rtp.dtmf_events(b_pt, t0)
        assert [e[0] for e in events] == ["5", "9"], \
            f"RFC 4733 events at the callee for INFO 5, 9 from the caller: {events}"
        assert all(e[1] for e in events), events
    assert ca.bye().status == 200
    cb.wait_bye()


@pytest.mark.parametrize("method", ["rfc4733", "info"])
def test_dtmf_reaches_app_read(call_pbx, phone, method):
    """app.read collects the digits (RFC 4733 events or SIP INFO); the script logs them."""
    p = call_pbx()
    a = phone(p, "1001")
    c = a.call("600")
    c.established()
    # The beep prompt (250 ms of 1 kHz, sounds/make-sounds.sh) is heard first.
    t0 = time.monotonic()
    c.rtp.wait_packets(12, since=t0, what="the beep prompt")
    time.sleep(0.2)
    codec = c.remote_sdp.codec
    beep = tone_seconds(c.rtp.audio(codec), 1000, window=0.05)
    assert 0.15 <= beep <= 0.35, f"{beep:.2f}s of the 1 kHz beep heard (250 ms expected): " \
                                 f"{callib.tone_windows(c.rtp.audio(codec), 1000, window=0.05)}"
    assert c.remote_sdp.dtmf_pt == 101
    for d in "4279":
        if method == "rfc4733":
            c.rtp.send_dtmf(d, 101)
        else:
            assert c.info_dtmf(d).status == 200
    callib.wait_log(p, r"GOT (\S*) READSTATUS=(\S+) DIGITS=(\S*)")
    m = re.search(r"GOT (\S*) READSTATUS=(\S+) DIGITS=(\S*)", p.log())
    assert m.groups() == ("4279", "OK", "4279"), m.group(0)
    c.wait_bye()
    callib.wait_channels(p, 0)


@pytest.mark.parametrize("holder", ["caller", "callee"])
def test_hold_and_resume_passed_to_the_other_leg(call_pbx, phone, holder):
    """One side holds (sendonly): the other is re-INVITEd with sendonly and answers
    recvonly; then resume (sendrecv) the same way.

    What the holding phone does toward the PBX, the PBX does toward the held
    one (RFC 3264 8.4 through a B2BUA): the held phone is offered sendonly,
    the holding one is answered recvonly. Each new SDP keeps its o= session
    id and counts its version up by one (RFC 3264 8).
    """
    p = call_pbx()
    a, b, ca, cb = establish(p, phone)
    # h: the holding side's dialog, d: the held side's; their SDPs from the PBX so far.
    h, d = (ca, cb) if holder == "caller" else (cb, ca)
    h_sdp = h.remote_sdp
    d_sdp = d.remote_sdp

    r = h.reinvite("sendonly")
    assert r.status == 200, r.text()
    assert h.remote_sdp.direction == "recvonly", h.remote_sdp.text
    assert h.remote_sdp.sess_id == h_sdp.sess_id
    assert h.remote_sdp.sess_version == h_sdp.sess_version + 1, \
        f"answer changed, o= version {h_sdp.sess_version} -> {h.remote_sdp.sess_version}"
    re_inv = d.wait_request("INVITE")
    offer = callib.Sdp(re_inv.body)
    assert offer.direction == "sendonly", offer.text
    assert offer.sess_id == d_sdp.sess_id
    assert offer.sess_version == d_sdp.sess_version + 1, \
        f"new offer, o= version {d_sdp.sess_version} -> {offer.sess_version}"
    assert offer.port == d_sdp.port and offer.codec in ("PCMU", "PCMA"), offer.text
    d.answer_reinvite(re_inv, "recvonly")
    chans = {c["direction"]: c for c in callib.channels(p)}
    assert chans["in"]["bridged_to"] == chans["out"]["name"], "hold broke the bridge"

    # Still relayed while held: the holding phone's audio (music on hold) reaches the other.
    t0 = time.monotonic()
    h.rtp.start_stream(h.codecs[0] if h is cb else h.remote_sdp.codec, tone(1000, 0.4))
    d.rtp.wait_packets(10, since=t0, what="the holding phone's audio during hold")
    h.rtp.stop_stream()

    r = h.reinvite("sendrecv")
    assert r.status == 200, r.text()
    assert h.remote_sdp.direction == "sendrecv", h.remote_sdp.text
    assert h.remote_sdp.sess_version == h_sdp.sess_version + 2, h.remote_sdp.text
    re_inv = d.wait_request("INVITE")
    offer2 = callib.Sdp(re_inv.body)
    assert offer2.direction == "sendrecv", offer2.text
    assert offer2.sess_version == offer.sess_version + 1, offer2.text
    d.answer_reinvite(re_inv, "sendrecv")
    # No further re-INVITE bounces between the legs.
    assert a.quiet(lambda m: m.method == "INVITE", 0.5)
    assert b.quiet(lambda m: m.method == "INVITE", 0.2)

    t0 = time.monotonic()
    d.rtp.start_stream(d.codecs[0] if d is cb else d.remote_sdp.codec, tone(1400, 0.4))
    h.rtp.wait_packets(10, since=t0, what="the held phone's audio after resume")
    d.rtp.stop_stream()

    assert ca.bye().status == 200
    cb.wait_bye()


def test_held_call_is_not_hung_up_by_rtp_timeout(call_pbx, phone):
    """rtp.timeout = 2 watches sendrecv media only: a held call that is silent stays up."""
    p = call_pbx(rtp={"timeout": 2})
    a, b, ca, cb = establish(p, phone)
    assert ca.reinvite("sendonly").status == 200
    re_inv = cb.wait_request("INVITE")
    cb.answer_reinvite(re_inv, "recvonly")
    assert a.quiet(lambda m: m.method == "BYE", 3.5), "a held call was hung up for no RTP"
    assert b.quiet(lambda m: m.method == "BYE", 0.1), "a held call was hung up for no RTP"
    callib.wait_channels(p, 2)
    assert ca.bye().status == 200
    cb.wait_bye()


def test_no_rtp_hangs_up_after_rtp_timeout(call_pbx, phone):
    """rtp.timeout = 2: a call where neither side sends RTP is ended with BYE to both."""
    p = call_pbx(rtp={"timeout": 2})
    a, b, ca, cb = establish(p, phone)
    t0 = time.monotonic()
    bye_a = ca.wait_request("BYE", timeout=6)
    a.reply(bye_a, 200)
    bye_b = cb.wait_request("BYE", timeout=2)
    b.reply(bye_b, 200)
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 5, f"BYE after {elapsed:.1f}s with rtp.timeout = 2"
    callib.wait_log(p, r"no RTP for rtp.timeout seconds")
    callib.wait_channels(p, 0)


def test_rtp_flowing_keeps_the_call_up(call_pbx, phone):
    """The same timeout leaves a call with media in both directions alone."""
    p = call_pbx(rtp={"timeout": 2})
    a, b, ca, cb = establish(p, phone)
    ca.rtp.start_stream(ca.remote_sdp.codec, tone(1000, 1.0))
    cb.rtp.start_stream(cb.codecs[0], tone(1400, 1.0))
    assert ca.p.quiet(lambda m: m.method == "BYE", 4.0), "BYE although RTP flows"
    assert cb.p.quiet(lambda m: m.method == "BYE", 0.1), "BYE although RTP flows"
    ca.rtp.stop_stream()
    cb.rtp.stop_stream()
    assert ca.bye().status == 200
    cb.wait_bye()
