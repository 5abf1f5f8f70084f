"""The dialplan around calls in progress: `dialplan reload` leaves them up,
and a Lua error in one call ends that call only."""

import json
import re
import time

import callib
from callib import DIALPLAN


def establish(p, phone, caller, callee):
    a = phone(p, caller)
    b = phone(p, callee)
    ca = a.call(callee)
    cb = b.incoming()
    cb.ring()
    cb.answer()
    ca.established()
    return a, b, ca, cb


def media_flows(ca, cb):
    """A short tone each way arrives at the other side."""
    t0 = time.monotonic()
    ca.rtp.start_stream(ca.remote_sdp.codec, callib.tone(1000, 0.3))
    cb.rtp.start_stream(cb.codecs[0], callib.tone(1400, 0.3))
    try:
        cb.rtp.wait_packets(10, since=t0, what="caller's audio at the callee")
        ca.rtp.wait_packets(10, since=t0, what="callee's audio at the caller")
    finally:
        ca.rtp.stop_stream()
        cb.rtp.stop_stream()


def test_dialplan_reload_keeps_the_call_up(call_pbx, phone):
    p = call_pbx()
    a, b, ca, cb = establish(p, phone, "1001", "1002")
    before = callib.wait_channels(p, 2)

    # A new file: 800 is new, and the hangup handler says which file it is from.
    p.dialplan.write_text(DIALPLAN.replace(
        '["600"] = function()',
        '["800"] = function() app.verbose("NEW DIALPLAN 800") app.hangup("USER_BUSY") end,\n'
        '    ["600"] = function()').replace('"HANGUP HANDLER', '"NEW HANGUP HANDLER'))
    out = p.ok("dialplan reload")
    assert "800" in p.ok("dialplan show"), "the reloaded dialplan is not the one shown"

    # The call is still there, bridged, and its media still flows.
    after = callib.wait_channels(p, 2)
    assert sorted(c["name"] for c in after) == sorted(c["name"] for c in before), (before, after)
    assert all(c["state"] == "Up" and c["bridged_to"] for c in after), after
    calls = p.ok("core show calls")
    assert "2 active channels" in calls and "1 active call" in calls, calls
    assert a.quiet(lambda m: m.method == "BYE", 0.3), "BYE to the caller after the reload"
    assert b.quiet(lambda m: m.method == "BYE", 0.1), "BYE to the callee after the reload"
    media_flows(ca, cb)

    # A new call runs the new dialplan.
    c = phone(p, "1004")
    cc = c.call("800")
    r = cc.final()
    cc.ack_failure(r)
    assert r.status == 486, f"new extension 800 answered {r.status}; reload output: {out}"
    callib.wait_log(p, "NEW DIALPLAN 800")
    callib.wait_log(p, "NEW HANGUP HANDLER")
    assert not re.search(r"notice: HANGUP HANDLER", p.log()), "the old call's h ran early"

    # And BYE still ends the old one, on both legs; that call finishes on
    # the dialplan it started with (its own h runs).
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)
    callib.wait_log(p, r"notice: HANGUP HANDLER DIALSTATUS=ANSWER",
                    what="the old dialplan's h for the call that started on it")


def test_broken_reload_keeps_old_dialplan_and_call(call_pbx, phone):
    p = call_pbx()
    a, b, ca, cb = establish(p, phone, "1001", "1002")
    p.dialplan.write_text("extensions = { default = { [\"_1XXX\"] = function( } }\n")
    rc, out, err = p.rx("dialplan reload")
    assert rc != 0 or "rror" in out + err, f"a file that does not load was accepted: {out}{err}"
    callib.wait_channels(p, 2)
    media_flows(ca, cb)
    # The old dialplan still routes new calls.
    c = phone(p, "1003")
    cc = c.call("2005")   # 1005 is not registered: chanunavail -> 404
    r = cc.final()
    cc.ack_failure(r)
    assert r.status == 404, r.text()
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


def test_lua_error_ends_only_its_own_call(call_pbx, phone):
    """Errors in one call's script end that call only: a bridged call and a call
    waiting in app.read go on, and each error is logged with file:line."""
    p = call_pbx()
    a, b, ca, cb = establish(p, phone, "1001", "1002")
    reader = phone(p, "1003")
    cr = reader.call("600")
    cr.established()
    cr.rtp.wait_packets(5, what="the beep prompt of the waiting call")
    callib.wait_channels(p, 3)

    c = phone(p, "1004")
    for ext, what, answered in (("700", "unknown application", False),
                                ("701", "bad argument", False),
                                ("702", "unknown application", True),
                                ("703", "longer than", False)):
        cc = c.call(ext)
        if answered:
            cc.established()
            cc.wait_bye()
        else:
            r = cc.final(timeout=callib.WAIT + 2)
            cc.ack_failure(r)
            assert r.status >= 400, f"call to {ext} got {r.status}"
        m = callib.wait_log(p, rf"{ext}@default: ([^\n]*)")
        assert what in m.group(1).lower(), m.group(0)
        assert re.search(r"extensions\.lua:\d+", m.group(1)), \
            f"the error does not say where (file:line): {m.group(0)}"
        callib.wait_channels(p, 3, what=f"the other calls after the error in {ext}")

    # The first call is untouched: still listed, bridged, with media both ways.
    chans = [ch for ch in callib.channels(p) if ch["callee"] == "1002"]
    assert len(chans) == 2 and all(ch["state"] == "Up" and ch["bridged_to"] for ch in chans), \
        chans
    assert a.quiet(lambda m: m.method == "BYE", 0.2) and b.quiet(lambda m: m.method == "BYE", 0.2)
    media_flows(ca, cb)
    # The waiting call still reads its digits.
    for d in "31#":
        cr.rtp.send_dtmf(d, cr.remote_sdp.dtmf_pt)
    callib.wait_log(p, r"GOT 31 READSTATUS=OK")
    cr.wait_bye()
    # The callee hangs up: Dial returns ANSWER and the script goes on.
    assert cb.bye().status == 200
    ca.wait_bye()
    callib.wait_channels(p, 0)
    callib.wait_log(p, r"DIAL 1002 DIALSTATUS=ANSWER ret=ANSWER")


def test_reload_while_the_script_waits_finishes_on_the_old_dialplan(call_pbx, phone):
    """A call waiting in app.read when the file is reloaded goes on with the old function."""
    p = call_pbx()
    a = phone(p, "1001")
    c = a.call("600")
    c.established()
    c.rtp.wait_packets(5, what="the beep prompt")
    p.dialplan.write_text(DIALPLAN.replace('app.verbose("GOT "', 'app.verbose("NEWGOT "'))
    p.ok("dialplan reload")
    callib.wait_channels(p, 1)
    for d in "4279":
        c.rtp.send_dtmf(d, c.remote_sdp.dtmf_pt)
    callib.wait_log(p, r"GOT 4279 READSTATUS=OK")
    assert "NEWGOT" not in p.log(), "the waiting call switched to the new file"
    c.wait_bye()
    callib.wait_channels(p, 0)
    # A new call gets the new function.
    c2 = a.call("600")
    c2.established()
    c2.rtp.wait_packets(5, what="the beep prompt")
    for d in "1#":
        c2.rtp.send_dtmf(d, c2.remote_sdp.dtmf_pt)
    callib.wait_log(p, r"NEWGOT 1 READSTATUS=OK")
    c2.wait_bye()


def test_channel_originate_calls_a_phone_and_runs_the_extension(call_pbx, phone):
    """`channel originate SIP/1001 extension 600@default`: the phone rings; when it
    answers, extension 600 runs on its channel (answer, then the dialplan's work),
    and `channel hangup` of that channel sends it a BYE."""
    p = call_pbx()
    a = phone(p, "1001")
    out = p.ok("channel originate SIP/1001 extension 600@default")
    assert out.startswith("Calling SIP/1001-"), out
    c = a.incoming()
    c.answer()
    # 600 answers and plays the "beep" prompt of app.read: audio reaches the phone.
    c.rtp.wait_packets(10, what="the prompt of extension 600")
    chans = callib.channels(p)
    assert len(chans) == 1 and chans[0]["context"] == "default" and \
        chans[0]["callee"] == "600", chans
    p.ok(f"channel hangup {chans[0]['name']}")
    c.wait_bye()
    callib.wait_channels(p, 0)


def test_channel_originate_refuses_bad_targets(call_pbx):
    p = call_pbx()
    assert "no extension 999 in context default" in \
        p.fail("channel originate SIP/1001 extension 999@default")
    assert "unknown technology 'XYZ'" in p.fail("channel originate XYZ/1001 extension 600@default")
    assert "not registered" in p.fail("channel originate SIP/1009 extension 600@default")
    assert "expected 'extension'" in p.fail("channel originate SIP/1001 exten 600@default")


def test_what_calls_dropped_is_collected_once_they_stop(call_pbx, phone):
    """Lua's collector runs as the script allocates, so it stops with the
    calls: what the last calls dropped would stay in the heap, pinning pages
    the allocator cannot give back. The engine collects it on its own
    within a few seconds (every 5 s, once 256 KiB were allocated)."""
    garbage = ('["850"] = function() local t = {} for i = 1, 3000 do '
               't[i] = ("x"):rep(100) .. i end app.hangup("USER_BUSY") end,\n'
               '    ["600"] = function()')
    p = call_pbx(dialplan=DIALPLAN.replace('["600"] = function()', garbage))

    def lua_bytes():
        return json.loads(p.ok("dialplan show --json"))["memory"]

    base = lua_bytes()
    a = phone(p, "1001")
    for _ in range(2):
        c = a.call("850")
        r = c.final()
        c.ack_failure(r)
        assert r.status == 486, r.status
    callib.wait_channels(p, 0)
    grown = lua_bytes()
    assert grown > base + 256 * 1024, (base, grown)
    deadline = time.monotonic() + 15
    while lua_bytes() > base + 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert lua_bytes() <= base + 64 * 1024, (base, grown, lua_bytes())
