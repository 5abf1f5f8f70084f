"""Conferences when the caller does the unexpected, with raw SIP phones
(callib.Phone): hanging up while asked for the PIN or while recording its
name, being kicked while a prompt plays to it, and console commands with
bad arguments. Every case ends with nothing left behind: no channel, no
bridge, no room, no recorded name, and the ASan build reports no leak.
"""

import json
import time

import callib

DIALPLAN = r'''
extensions = {
  default = {
    ["8100"] = function() app.confbridge("8100", { pin = "4321" }) end,
    ["8200"] = function() app.confbridge("8200", { announce_name = true }) end,
    ["8300"] = function() app.confbridge("8300") end,
    ["8400"] = function() app.confbridge("8400", { announce_name = true, quiet = true }) end,
    h = function()
      app.verbose("HANGUP " .. channel.CHANNEL:get() .. " CONFBRIDGE_RESULT=" ..
                  (channel.CONFBRIDGE_RESULT:get() or "<nil>"))
    end,
  },
}
'''


def rooms(p):
    return json.loads(p.ok("confbridge list --json"))


def nothing_left(p):
    callib.wait_channels(p, 0)
    assert rooms(p) == [], rooms(p)
    assert callib.bridges(p) == [], callib.bridges(p)


def call(phone, p, ext, target):
    c = phone(p, ext).call(target, codecs=("PCMU",))
    c.established()
    c.rtp.start_stream("PCMU", callib.tone(700, 1.0))
    return c


def test_hang_up_while_asked_for_the_pin(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = call(phone, p, "1001", "8100")
    time.sleep(1.0)  # "please enter the conference PIN ..."
    c.rtp.send_dtmf("4", c.dtmf_pt)
    time.sleep(0.3)
    c.bye()
    m = callib.wait_log(p, r"HANGUP \S+ CONFBRIDGE_RESULT=(\S+)")
    assert m.group(1) == "HANGUP", m.group(0)
    nothing_left(p)


def test_hang_up_while_recording_the_name(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = call(phone, p, "1001", "8200")
    time.sleep(3.5)  # "after the tone, say your name", the beep, then recording
    c.bye()
    callib.wait_log(p, r"HANGUP \S+ CONFBRIDGE_RESULT=HANGUP")
    nothing_left(p)
    names = list((p.state_dir / "confbridge").glob("confbridge-name-*")) \
        if (p.state_dir / "confbridge").exists() else []
    assert names == [], f"recorded names left behind: {names}"


def test_a_recorded_name_is_removed_once_said(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = call(phone, p, "1001", "8300")
    callib.siplib.wait_for(lambda: len(rooms(p)) == 1, 5, "the room")
    b = call(phone, p, "1002", "8200")  # another room: its name goes nowhere
    # "After the tone, say your name", the beep, 3 s of name, then in.
    callib.siplib.wait_for(lambda: {r["room"] for r in rooms(p)} == {"8300", "8200"}, 12,
                           "1002 in room 8200 after its name", interval=0.2)
    assert list((p.state_dir / "confbridge").glob("confbridge-name-*")), "no name recorded"
    b.bye()
    a.bye()
    nothing_left(p)
    folder = p.state_dir / "confbridge"
    left = list(folder.glob("confbridge-name-*")) if folder.exists() else []
    assert left == [], f"recorded names left behind: {left}"


def test_kicked_while_a_prompt_plays(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = call(phone, p, "1001", "8300")
    callib.siplib.wait_for(lambda: len(rooms(p)) == 1, 5, "the room")
    b = call(phone, p, "1002", "8300")
    # b hears "there are currently 1 other participants" for about 3 s: kick it now.
    callib.siplib.wait_for(lambda: rooms(p) and rooms(p)[0]["members"] == 2, 5, "2 members")
    chan = next(m["channel"] for m in rooms(p)[0]["participants"] if m["caller"] == "1002")
    time.sleep(0.5)
    assert "Kicked 1 member" in p.ok(f"confbridge kick 8300 {chan}")
    b.wait_bye()
    m = callib.wait_log(p, rf"HANGUP {chan} CONFBRIDGE_RESULT=(\S+)")
    assert m.group(1) == "KICKED", m.group(0)
    assert rooms(p)[0]["members"] == 1
    a.bye()
    nothing_left(p)


def test_quiet_records_no_name(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = call(phone, p, "1001", "8400")
    # Quiet: straight in, no name asked for.
    callib.siplib.wait_for(lambda: len(rooms(p)) == 1, 3, "the room at once")
    a.bye()
    nothing_left(p)


def test_console_refusals_name_their_argument(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = call(phone, p, "1001", "8300")
    callib.siplib.wait_for(lambda: len(rooms(p)) == 1, 5, "the room")
    assert "no conference '9999'" in p.fail("confbridge kick 9999 all")
    assert "no conference '9999'" in p.fail("confbridge list 9999")
    assert "CHANNEL 'SIP/nobody'" in p.fail("confbridge mute 8300 SIP/nobody")
    assert "SOUND 'no-such-prompt'" in p.fail("confbridge play 8300 no-such-prompt")
    assert "FILE '../escape.wav'" in p.fail("confbridge record start 8300 ../escape.wav")
    assert "not recording" in p.fail("confbridge record stop 8300")
    assert "Muted 1 member of 8300" in p.ok("confbridge mute 8300 participants")
    assert [m["muted"] for m in rooms(p)[0]["participants"]] == [True]
    a.bye()
    nothing_left(p)
