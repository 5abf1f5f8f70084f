"""rtp.codecs on the wire: the PBX answers an offer with the first of its
codecs that the offer has (its order, not the phone's), offers a callee its
whole list in order (opus on a dynamic payload type with its fmtp, G.722 on
9 at 8000) with the caller's codec first, so that a callee that takes it
is relayed without transcoding, and refuses an offer with none of them.

The raw phones (callib.Phone) speak G.711 only; what they are offered is
read from the SDP text.
"""

import callib


def lines(sdp):
    return [ln.strip() for ln in sdp.text.splitlines()]


def test_default_codecs_our_order_and_caller_first(call_pbx, phone):
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    # The caller lists A-law first; the PBX's order (opus, g722, pcmu, pcma) takes u-law.
    ca = a.call("1002", codecs=("PCMA", "PCMU"))
    cb = b.incoming()
    offer = cb.offer
    assert offer is not None, "the PBX's INVITE to the callee has no SDP offer"
    # Every codec of rtp.codecs, the caller's first, then telephone-event.
    assert offer.pts == [0, 96, 9, 8, 101], offer.text
    ls = lines(offer)
    assert "a=rtpmap:0 PCMU/8000" in ls, offer.text
    assert "a=rtpmap:96 opus/48000/2" in ls, offer.text
    assert any(ln.startswith("a=fmtp:96 ") and "useinbandfec=1" in ln for ln in ls), offer.text
    assert "a=rtpmap:9 G722/8000" in ls, offer.text
    assert "a=rtpmap:8 PCMA/8000" in ls, offer.text
    assert "a=rtpmap:101 telephone-event/8000" in ls, offer.text
    cb.ring()
    ca.provisional(180)
    cb.answer(codecs=("PCMU", "PCMA"))
    ca.established()
    assert ca.remote_sdp.pts == [0, 101], ca.remote_sdp.text
    chans = {c["direction"]: c for c in callib.wait_channels(p, 2, what="both legs")}
    assert chans["in"]["media"].startswith("PCMU "), chans
    assert chans["out"]["media"].startswith("PCMU "), chans
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


def test_custom_codecs(call_pbx, phone):
    p = call_pbx(rtp={"codecs": ["PCMA"]})
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002", codecs=("PCMU", "PCMA"))
    cb = b.incoming()
    # Only what is configured is offered.
    assert cb.offer.pts == [8, 101], cb.offer.text
    cb.ring()
    ca.provisional(180)
    cb.answer(codecs=("PCMA",))
    ca.established()
    assert ca.remote_sdp.pts == [8, 101], ca.remote_sdp.text
    chans = {c["direction"]: c for c in callib.wait_channels(p, 2, what="both legs")}
    assert chans["in"]["media"].startswith("PCMA "), chans
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)

    # None of ours in the offer: 488, the Warning says why.
    ca = a.call("1002", codecs=("PCMU",))
    r = ca.final()
    assert r.status == 488, r.text()
    assert "no common codec" in r.get("Warning", ""), r.text()
    ca.ack_failure(r)
    callib.wait_channels(p, 0)
