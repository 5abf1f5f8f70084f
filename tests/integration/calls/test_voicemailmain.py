"""app.voicemailmain and app.saynumber in real calls: a raw SIP phone
(callib.Phone) logs in with RFC 4733 DTMF, hears what the PBX says, and
the test measures it: speech as RMS above silence, a message as its 600 Hz
tone (Goertzel), never just "some packets came".

Messages are made as an administrator could: a WAV copied into
STATE_DIR/voicemail/<mailbox>/INBOX/ before the PBX starts, which the
store adopts as a new message. What the menu did is checked in the store
through the console (`voicemail show EXT --json`) and on disk.
"""

import json
import re
import time

import pytest

import callib
import siplib
from callib import PASSWORD, tone, write_wav
from pbxlib import REPO, lua_value

DIALPLAN = r'''
extensions = {
  default = {
    ["*97"] = function() app.voicemailmain() end,
    ["*98"] = function() app.voicemailmain("1003") end,
    ["*99"] = function() app.voicemailmain("1003@default", "s") end,
    ["*91"] = function() app.voicemailmain("10 03") end,
    ["*92"] = function() app.voicemailmain("1003", "x") end,
    ["*93"] = function() app.saynumber("twelve") end,
    ["*94"] = function() app.answer() app.saynumber(21) app.verbose("SAID 21") app.hangup() end,
    ["*95"] = function() app.saynumber(1000000000) end,
    h = function() app.verbose("H RAN") end,
  },
}
'''

USERS = ("1001", "1003")
PIN = "4321"
MSG_HZ = 600
SPEECH_RMS = 300  # prompts are normalised to -3 dBFS; silence and comfort noise are far below


def put_message(p, mailbox, seconds=3.0, folder="INBOX", n=1):
    d = p.state_dir / "voicemail" / mailbox / folder
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"msg{n}.wav"
    write_wav(path, tone(MSG_HZ, seconds))
    return path


@pytest.fixture
def vm_pbx(pbx_factory):
    """vm_pbx(messages={mailbox: count}): a PBX whose mailboxes hold tone messages
    from the start, users 1001 and 1003 (PIN 4321)."""

    def start(messages=None, dialplan=DIALPLAN):
        p = pbx_factory(sections={"sip": {"qualify_interval": 0},
                                  "rtp": {"port_min": 20000, "port_max": 24999}},
                        log_level="info")
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(dialplan)
        p.sections["dialplan"] = {"file": str(p.dialplan)}
        p.write_config()
        for mailbox, count in (messages or {}).items():
            for i in range(count):
                put_message(p, mailbox, n=i + 1)
        p.start()
        siplib.wait_answering(p)
        siplib.add_users(p, USERS, PASSWORD)
        for ext in USERS:
            p.ok(f"user set {ext} pin {PIN}")
        return p

    return start


def messages(p, mailbox):
    return json.loads(p.ok(f"voicemail show {mailbox} --json"))


def keys(call, digits):
    for d in digits:
        call.rtp.send_dtmf(d, call.dtmf_pt)


def windows(call, since, freq=MSG_HZ):
    """[(arrival, rms, share of @freq)] per 100 ms of PCMU audio received since @since."""
    pkts = call.rtp.received(callib.PT_PCMU, since)
    out = []
    for i in range(0, len(pkts) - 4, 5):
        blk = []
        for pk in pkts[i:i + 5]:
            blk.extend(callib.decode("PCMU", pk[7]))
        out.append((pkts[i][0], callib.rms(blk), callib.goertzel(blk, freq)))
    return out


def wait_speech(call, since, seconds=0.5, timeout=10):
    """Wait until @seconds of speech (loud, not the message tone) came after @since."""
    def enough():
        return sum(0.1 for _, r, g in windows(call, since) if r >= SPEECH_RMS and g < 0.5) \
            >= seconds
    siplib.wait_for(enough, timeout, f"{seconds} s of prompts from the PBX", interval=0.1)


def wait_tone(call, since, seconds=1.5, timeout=20):
    """Wait for @seconds of the message's tone after @since; returns when it began."""
    def enough():
        return sum(0.1 for _, r, g in windows(call, since) if r >= SPEECH_RMS and g >= 0.6) \
            >= seconds
    siplib.wait_for(enough, timeout, f"{seconds} s of the {MSG_HZ} Hz message", interval=0.1)
    return next(t for t, r, g in windows(call, since) if r >= SPEECH_RMS and g >= 0.6)


def security_lines(p):
    return re.findall(r"SECURITY voicemail login failed (\S.*)", p.log())


def test_login_hear_the_message_and_delete_it(vm_pbx, phone):
    p = vm_pbx(messages={"1003": 1})
    before = messages(p, "1003")
    assert [(m["folder"], m["read"]) for m in before] == [("INBOX", False)], before
    wav = before[0]["file"]

    ph = phone(p, "1003")
    c = ph.call("*97", codecs=("PCMU",))
    c.established()
    t0 = time.monotonic()
    wait_speech(c, t0, 0.8)  # "Please enter your PIN": the caller's own mailbox, no mailbox asked
    t1 = time.monotonic()
    keys(c, PIN + "#")
    # "You have one new message", "message one", then the message itself.
    began = wait_tone(c, t1)
    intro = [w for w in windows(c, t1) if w[0] < began and w[1] >= SPEECH_RMS]
    assert sum(0.1 for w in intro) >= 1.0, f"the intro before the message: {intro}"
    assert all(g < 0.5 for _, _, g in intro), "the intro is speech, not the message's tone"
    callib.wait_log(p, "VoiceMailMain: mailbox 1003 opened")
    assert not security_lines(p)

    # Heard: read at once (the lamp's new count drops), still in INBOX until the mailbox closes.
    siplib.wait_for(lambda: messages(p, "1003")[0]["read"], 5, "the message marked read")

    # 7 deletes ("Message deleted"), # says goodbye and hangs up; the delete happens then.
    t2 = time.monotonic()
    keys(c, "7")
    wait_speech(c, t2, 0.5)
    assert messages(p, "1003"), "deleted before the mailbox was closed (7 undeletes until then)"
    keys(c, "#")
    c.wait_bye(timeout=15)
    callib.wait_channels(p, 0)
    assert messages(p, "1003") == []
    assert not (p.state_dir / "voicemail" / "1003" / "INBOX" / wav.split("/")[-1]).exists()
    assert not list((p.state_dir / "voicemail" / "1003").rglob("*.wav")), "a file is left"
    callib.wait_log(p, "mailbox 1003: 1 deleted, 0 moved to Old")
    callib.wait_log(p, "H RAN")


def test_heard_message_moves_to_old_and_undelete_keeps_it(vm_pbx, phone):
    p = vm_pbx(messages={"1003": 2})
    ph = phone(p, "1003")
    c = ph.call("*98", codecs=("PCMU",))  # the mailbox as argument: PIN only
    c.established()
    keys(c, PIN + "#")
    t1 = time.monotonic()
    wait_tone(c, t1)
    keys(c, "77")  # delete, undelete
    t2 = time.monotonic()
    keys(c, "6")   # the second message plays
    wait_tone(c, t2)
    c.bye()        # hanging up closes the mailbox as '#' does
    callib.wait_channels(p, 0)
    left = messages(p, "1003")
    assert [(m["folder"], m["read"]) for m in left] == [("Old", True), ("Old", True)], left
    callib.wait_log(p, "mailbox 1003: 0 deleted, 2 moved to Old")


def test_three_wrong_pins_hang_up(vm_pbx, phone):
    p = vm_pbx(messages={"1003": 1})
    ph = phone(p, "1001")
    c = ph.call("*97", codecs=("PCMU",))
    c.established()
    # The caller's own mailbox (1001) is assumed; after a wrong PIN the mailbox is asked.
    keys(c, "9999#")
    keys(c, "1003#" "0000#")
    keys(c, "1003#" "1111#")
    c.wait_bye(timeout=20)
    callib.wait_channels(p, 0)
    lines = security_lines(p)
    assert len(lines) == 3, p.log()
    assert lines[0].startswith("mailbox=1001 caller=1001 channel=SIP/1001-"), lines
    assert "attempt=1 of=3 reason=wrong_pin" in lines[0], lines
    assert lines[2].startswith("mailbox=1003 caller=1001 "), lines
    assert lines[2].endswith("attempt=3 of=3 reason=wrong_pin"), lines
    assert "mailbox 1003 opened" not in p.log()
    assert [m["read"] for m in messages(p, "1003")] == [False], "nothing heard, nothing changed"


def test_change_pin(vm_pbx, phone):
    p = vm_pbx()
    ph = phone(p, "1003")
    c = ph.call("*97", codecs=("PCMU",))
    c.established()
    keys(c, PIN + "#")
    callib.wait_log(p, "mailbox 1003 opened")
    # No messages: "You have no messages", the main menu; 0 options, 4 the PIN, twice.
    keys(c, "0" "4")
    keys(c, "12#")          # too short: "A PIN must be 4 to 16 digits", asked again
    keys(c, "86420#" "86420#")
    callib.wait_log(p, "VoiceMailMain: mailbox 1003 changed its PIN")
    keys(c, "*" "#")        # back to the menu, goodbye
    c.wait_bye(timeout=15)
    callib.wait_channels(p, 0)

    # The old PIN fails, the new one opens.
    c = ph.call("*98", codecs=("PCMU",))
    c.established()
    keys(c, PIN + "#")
    siplib.wait_for(lambda: len(security_lines(p)) == 1, 10, "the old PIN refused")
    keys(c, "86420#")
    siplib.wait_for(lambda: p.log().count("mailbox 1003 opened") == 2, 10, "the new PIN accepted")
    c.bye()
    callib.wait_channels(p, 0)


def test_option_s_and_bad_arguments(vm_pbx, phone):
    p = vm_pbx(messages={"1003": 1})
    ph = phone(p, "1001")
    # s: no PIN for the mailbox given as argument ("1003@default": the context is ignored).
    c = ph.call("*99", codecs=("PCMU",))
    c.established()
    wait_tone(c, time.monotonic())
    c.bye()
    callib.wait_channels(p, 0)
    assert not security_lines(p)

    # A wrong call from the dialplan is a Lua error with the file and line; the PBX goes on.
    for ext, text in (("*91", "'10 03' is not a mailbox"),
                      ("*92", "option 'x' is not supported"),
                      ("*93", "bad argument #1 'number' to 'saynumber'"),
                      ("*95", "1000000000 is out of range")):
        c = ph.call(ext, codecs=("PCMU",))
        callib.wait_log(p, re.escape(text))
        c.final()
        callib.wait_channels(p, 0)
    assert re.search(r"extensions\.lua:\d+:.*is not a mailbox", p.log()), p.log()[-2000:]


def test_saynumber_speaks(vm_pbx, phone):
    p = vm_pbx()
    ph = phone(p, "1001")
    c = ph.call("*94", codecs=("PCMU",))
    c.established()
    t0 = time.monotonic()
    callib.wait_log(p, "SAID 21")
    c.wait_bye()
    said = sum(0.1 for _, r, _ in windows(c, t0) if r >= SPEECH_RMS)
    assert 0.5 <= said <= 3.0, f"'twenty one': {said:.1f} s of speech"


def test_shipped_defaults_hear_a_message(pbx_factory, phone):
    """The shipped etc/pbx.lua and etc/extensions.lua with only what a user must set: *97
    opens the caller's own mailbox."""
    shipped = (REPO / "etc" / "extensions.lua").read_text()
    if not re.search(r'^\s*\["\*97"\]\s*=\s*function\(\)\s*app\.voicemailmain\(\)', shipped, re.M):
        pytest.skip("the shipped dialplan does not route *97 to app.voicemailmain() yet")
    p = pbx_factory()
    p.write_config((REPO / "etc" / "pbx.lua").read_text() + (
        "\n-- What a user sets: where state lives, addresses, domain, dialplan.\n"
        f"pbx.state_dir = {lua_value(str(p.state_dir))}\n"
        f"sip.listen = {{ \"udp:127.0.0.1:{p.port}\", \"tcp:127.0.0.1:{p.port}\" }}\n"
        f"sip.domain = {lua_value(p.domain)}\n"
        f"dialplan.file = {lua_value(str(REPO / 'etc' / 'extensions.lua'))}\n"))
    put_message(p, "1003")
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ("1003",), PASSWORD)
    p.ok(f"user set 1003 pin {PIN}")
    ph = phone(p, "1003")
    c = ph.call("*97", codecs=("PCMU",))
    c.established()
    keys(c, PIN + "#")
    wait_tone(c, time.monotonic())
    keys(c, "7#")
    c.wait_bye(timeout=15)
    callib.wait_channels(p, 0)
    assert messages(p, "1003") == []


def test_record_a_greeting_listen_and_accept(vm_pbx, phone):
    p = vm_pbx()
    greet = p.state_dir / "voicemail" / "1003" / "greet" / "unavail.wav"
    ph = phone(p, "1003")
    c = ph.call("*97", codecs=("PCMU",))
    c.established()
    keys(c, PIN + "#")
    callib.wait_log(p, "mailbox 1003 opened")
    keys(c, "0" "1")  # options, the unavailable greeting: prompt, beep, recording
    siplib.wait_for(lambda: list((p.state_dir / "voicemail" / "1003" / "tmp").glob("*.part")),
                    20, "the recording started")
    c.rtp.start_stream("PCMU", tone(1000, 1.0))
    time.sleep(2.0)
    c.rtp.stop_stream()
    keys(c, "#")       # ends the recording: "1 accept, 2 listen, 3 record again"
    callib.wait_log(p, r"ms recorded for the unavail greeting of 1003 \(DTMF\)")
    t0 = time.monotonic()
    keys(c, "2")       # listen: the caller's own 1 kHz comes back
    siplib.wait_for(lambda: sum(0.1 for _, r, g in windows(c, t0, 1000)
                                if r >= SPEECH_RMS and g >= 0.6) >= 1.2,
                    15, "the recording played back")
    assert not greet.exists(), "in place before it was accepted"
    keys(c, "1")       # accept
    callib.wait_log(p, "mailbox 1003 recorded its unavail greeting")
    rate, samples = callib.read_wav(greet)
    assert callib.tone_seconds(samples, 1000, rate) >= 1.2, callib.tone_windows(samples, 1000,
                                                                                 rate)[:30]
    c.bye()
    callib.wait_channels(p, 0)
    assert not list((p.state_dir / "voicemail" / "1003" / "tmp").iterdir()), "tmp left behind"


@pytest.mark.parametrize("where", ["recording", "review"])
def test_hang_up_while_recording_or_reviewing_leaves_nothing(vm_pbx, phone, where):
    p = vm_pbx()
    tmp = p.state_dir / "voicemail" / "1003" / "tmp"
    ph = phone(p, "1003")
    c = ph.call("*98", codecs=("PCMU",))
    c.established()
    keys(c, PIN + "#" "0" "3")  # the name
    siplib.wait_for(lambda: list(tmp.glob("*.part")), 20, "the recording started")
    c.rtp.start_stream("PCMU", tone(1000, 1.0))
    time.sleep(1.0)
    if where == "review":
        keys(c, "#")
        callib.wait_log(p, "ms recorded for the name greeting of 1003")
    c.rtp.stop_stream()
    c.bye()
    callib.wait_channels(p, 0)
    siplib.wait_for(lambda: not list(tmp.iterdir()), 5, f"tmp/ empty: {list(tmp.iterdir())}")
    assert not (p.state_dir / "voicemail" / "1003" / "greet" / "name.wav").exists()


def test_forward_save_to_a_folder_and_change_folders(vm_pbx, phone):
    p = vm_pbx(messages={"1003": 1})
    ph = phone(p, "1003")
    c = ph.call("*97", codecs=("PCMU",))
    c.established()
    keys(c, PIN + "#")
    wait_tone(c, time.monotonic(), seconds=0.5)
    keys(c, "8" "1001#")  # forward: "Message forwarded"
    siplib.wait_for(lambda: len(messages(p, "1001")) == 1, 10, "the copy in 1001's INBOX")
    fwd = messages(p, "1001")[0]
    assert (fwd["folder"], fwd["read"]) == ("INBOX", False), fwd
    keys(c, "8" "1999#")  # no such mailbox: "that mailbox does not exist", the menu again
    keys(c, "9" "5")      # not a folder: "not a valid choice", asked again
    keys(c, "2")          # work
    siplib.wait_for(lambda: messages(p, "1003")[0]["folder"] == "Work", 10, "saved in Work")
    keys(c, "2" "2")      # change to work: "You have one work message", and it plays
    t0 = time.monotonic()
    wait_tone(c, t0, seconds=1.0)
    t1 = time.monotonic()
    keys(c, "3")          # the envelope: "Received <date> at <time> from an unknown caller"
    wait_speech(c, t1, 2.0)
    keys(c, "#")
    c.wait_bye(timeout=15)
    callib.wait_channels(p, 0)
    left = messages(p, "1003")
    assert [m["folder"] for m in left] == ["Work"], left
    assert [m["folder"] for m in messages(p, "1001")] == ["INBOX"]
    assert "forwarded to 1001" in p.log()
