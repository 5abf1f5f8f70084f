"""Transfers the dialplan and the console ask for: app.transfer and `channel redirect`.

app.transfer on an answered SIP call sends REFER to the phone (baresip
then calls the target itself) and sets TRANSFERSTATUS from the phone's
NOTIFYs; on a call not answered the PBX redirects the channel to the
extension. `channel redirect NAME EXTEN@CONTEXT` moves a bridged channel
to another extension: its old peer is hung up, the new call connects.
"""

import time

import callib
from callib import write_wav

DIALPLAN = """
extensions = {
  default = {
    ["_10XX"] = function(ctx, ext) app.dial("SIP/" .. ext, 20) end,
    ["600"] = function()
      app.answer()
      app.wait(0.5)
      local st = app.transfer("1003")
      app.verbose("TRANSFERSTATUS=" .. channel.TRANSFERSTATUS:get() .. " ret=" .. tostring(st))
    end,
    ["601"] = function()
      app.transfer("1003")
      app.verbose("not reached: the channel went to 1003")
    end,
    ["602"] = function()
      app.transfer("1999")
      app.verbose("TRANSFERSTATUS=" .. channel.TRANSFERSTATUS:get())
      app.hangup()
    end,
  },
}
"""


def _up(p, n):
    chans = callib.channels(p)
    return len(chans) == n and all(c["state"] == "Up" and c["bridged_to"] for c in chans)


def test_app_transfer_refers_a_sip_phone(call_pbx, baresips, tmp_path):
    p = call_pbx(dialplan=DIALPLAN)
    write_wav(tmp_path / "t.wav", callib.tone(1000, 30))
    b1 = baresips(tmp_path, p, "1001", tmp_path / "t.wav", "PCMU")
    baresips(tmp_path, p, "1003", tmp_path / "t.wav", "PCMU", answermode="auto")  # answers itself
    callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == 2, 10,
                           "two baresips to register", interval=0.1)
    assert b1.command("dial", "600").get("ok", True)
    callib.wait_log(p, r"TRANSFERSTATUS=SUCCESS ret=SUCCESS")
    # 1001's phone called 1003 itself, on a call of its own.
    callib.siplib.wait_for(lambda: _up(p, 2), 10, "1001's new call to 1003", interval=0.1)
    chans = callib.channels(p)
    assert {c["callee"] for c in chans} == {"1003"}, chans
    b1.command("hangup")
    callib.wait_channels(p, 0, what="no channel after 1001 hung up")
    assert callib.bridges(p) == []


def test_app_transfer_redirects_an_unanswered_call(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    c = phone(p, "1003")
    ca = a.call("601")
    cc = c.incoming()
    cc.answer()
    ca.established()
    callib.siplib.wait_for(lambda: _up(p, 2), 10, "1001 bridged to 1003", interval=0.1)
    assert "not reached" not in p.log()
    ca.bye()
    cc.wait_bye()
    callib.wait_channels(p, 0)
    assert callib.bridges(p) == []


def test_app_transfer_to_nothing_fails(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    ca = a.call("602")
    r = ca.final()
    ca.ack_failure(r)
    callib.wait_log(p, r"TRANSFERSTATUS=FAILURE")
    callib.wait_channels(p, 0)


def test_console_redirect_moves_a_bridged_call(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ca = a.call("1002")
    cb = b.incoming()
    cb.answer()
    ca.established()
    callib.siplib.wait_for(lambda: _up(p, 2), 10, "1001 and 1002 bridged", interval=0.1)
    name = next(ch["name"] for ch in callib.channels(p) if ch["direction"] == "in")
    out = p.ok(f"channel redirect {name} 1003@default")
    assert f"Redirected {name} to 1003@default" in out, out
    cb.wait_bye()
    cc = c.incoming()
    cc.answer()
    callib.siplib.wait_for(lambda: _up(p, 2), 10, "1001 bridged to 1003", interval=0.1)
    # Bad arguments are named.
    out = p.fail("channel redirect SIP/nobody-1 1003@default")
    assert "no channel named 'SIP/nobody-1'" in out, out
    out = p.fail(f"channel redirect {name} 1999@default")
    assert "no extension 1999 in context default" in out, out
    ca.bye()
    cc.wait_bye()
    callib.wait_channels(p, 0)
    assert callib.bridges(p) == []
    time.sleep(0.2)
