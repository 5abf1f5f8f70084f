"""Bridges as core objects: a call through Dial is a two-party bridge in
relay mode, listed by `core show bridges`, and gone when the call ends."""

import json

import callib


def bridges(p):
    return json.loads(p.ok("core show bridges --json"))


def test_a_call_is_one_relay_bridge(call_pbx, phone):
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    assert bridges(p) == []
    ca = a.call("1002")
    cb = b.incoming()
    cb.answer()
    ca.established()
    chans = {c["direction"]: c["name"] for c in callib.channels(p)}
    (br,) = bridges(p)
    assert br["mode"] == "relay", br
    assert sorted(br["members"]) == sorted([chans["in"], chans["out"]]), (br, chans)
    text = p.ok("core show bridges")
    assert "relay" in text and chans["in"] in text and chans["out"] in text, text
    assert text.rstrip().endswith("1 active bridge"), text
    # Media really goes through it: the callee hears what the caller sends.
    since = cb.rtp.count()
    ca.rtp.start_stream("PCMU", callib.tone(1000, 1.0))
    cb.rtp.wait_packets(since + 20, what="RTP relayed through the bridge")
    ca.rtp.stop_stream()
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)
    assert bridges(p) == []
    assert p.ok("core show bridges").rstrip().endswith("0 active bridges")
