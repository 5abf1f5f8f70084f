"""Voicemail end to end, as issue 11 tells it, on the shipped defaults.

The shipped etc/pbx.lua and etc/extensions.lua with only what a user must
set. 1001 (a raw SIP phone) calls 1003, which has no phone registered: the
shipped `_1XXX` dial fails and app.voicemail answers; 1001 leaves 5 s of a
600 Hz tone and hangs up. Then 1003's baresip registers with its `mwi`
module and is told `Messages-Waiting: yes`, `1/0` (the NOTIFY's body, as
baresip reports it on its control socket). 1003 calls `*97` from a second
phone (RFC 4733 keys), enters the PIN, hears "you have one new message"
(speech, measured by level) and then the 600 Hz message (measured by
frequency), presses 7 and `#`: the file and the row are gone and baresip's
lamp goes to `no`, `0/0`. Three wrong PINs get a hang-up.
"""

import json
import re
import time

import callib
import siplib
from callib import Baresip, tone
from test_shipped_defaults import shipped_config
from test_voicemailmain import keys, security_lines, wait_speech, wait_tone, windows

PIN = "4711"
F_MSG = 600


def lamp(body):
    waiting = re.search(r"Messages-Waiting:\s*(\w+)", body)
    counts = re.search(r"Voice-Message:\s*(\d+)/(\d+)", body)
    return (waiting.group(1) if waiting else None,
            f"{counts.group(1)}/{counts.group(2)}" if counts else None)


def wait_lamp(events, want, timeout=20):
    try:
        return siplib.wait_for(lambda: any(lamp(b) == want for b in events.mwi()), timeout,
                               f"baresip to be told {want}", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}; events: {events.events}") from None


def test_voicemail_story_on_shipped_defaults(pbx_factory, phone, tmp_path):
    p = pbx_factory()
    p.write_config(shipped_config(p))
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ("1001", "1003"), callib.PASSWORD)
    p.ok(f"user set 1003 pin {PIN}")

    # 1001 calls 1003, who has no phone: voicemail answers; 5 s of 600 Hz, then hang up.
    a = phone(p, "1001")
    c = a.call("1003", codecs=("PCMU",))
    c.established(timeout=30)
    c.rtp.start_stream("PCMU", tone(F_MSG, 1.0))
    callib.wait_log(p, r"VoiceMail\(1003\): recording a message from 1001", timeout=30)
    time.sleep(5.0)
    c.rtp.stop_stream()
    c.bye()
    siplib.wait_for(lambda: len(json.loads(p.ok("voicemail show 1003 --json"))) == 1, 15,
                    "the message to be stored", interval=0.1)
    (msg,) = json.loads(p.ok("voicemail show 1003 --json"))
    assert msg["caller_num"] == "1001" and 4000 <= msg["duration_ms"] <= 7000, msg

    # 1003's baresip registers with MWI: the lamp is lit, one new and no old message.
    silence = tmp_path / "silence.wav"
    callib.write_wav(silence, [0] * 8000)
    b = Baresip(tmp_path, p, "1003", silence, "PCMU", password=callib.PASSWORD,
                modules=("mwi.so",))
    b.start()
    events = callib.ControlEvents(b.ctrl_port)
    try:
        siplib.wait_for(lambda: any(x["user"] == "1003" and x["state"] == "active"
                                    for x in json.loads(p.ok("sip show subscriptions --json"))),
                        20, "baresip to subscribe to message-summary", interval=0.1)
        try:
            wait_lamp(events, ("yes", "1/0"), timeout=3)
        except AssertionError:
            # The NOTIFY that answered the SUBSCRIBE may come before our control connection
            # is up (baresip registers as it starts); any console change notifies again.
            p.ok("user set 1003 mwi subscribe")
            wait_lamp(events, ("yes", "1/0"))

        # 1003 calls *97 from a desk phone, enters the PIN by RFC 4733, hears the message.
        ph = phone(p, "1003")
        v = ph.call("*97", codecs=("PCMU",))
        v.established()
        t0 = time.monotonic()
        wait_speech(v, t0, 0.8)  # "please enter your PIN"
        t1 = time.monotonic()
        keys(v, PIN + "#")
        began = wait_tone(v, t1, seconds=2.0)
        heard = [1 for t, r, g in windows(v, t1) if t < began and r >= 300 and g < 0.5]
        assert len(heard) >= 10, "\"you have one new message\" before the message"
        assert not security_lines(p)

        # 7 deletes, # hangs up: file and row gone, the lamp goes out.
        keys(v, "7")
        time.sleep(1.5)
        keys(v, "#")
        v.wait_bye(timeout=15)
        siplib.wait_for(lambda: json.loads(p.ok("voicemail show 1003 --json")) == [], 10,
                        "the message to be deleted", interval=0.1)
        assert not list((p.state_dir / "voicemail" / "1003").rglob("*.wav"))
        wait_lamp(events, ("no", "0/0"))

        # A wrong PIN three times: goodbye and hang-up, three SECURITY lines.
        w = ph.call("*97", codecs=("PCMU",))
        w.established()
        # Own mailbox: the PIN is asked first; after a wrong one the mailbox is asked too.
        for attempt in range(3):
            if attempt:
                wait_speech(w, time.monotonic(), 0.5)  # "... mailbox?"
                keys(w, "1003#")
            wait_speech(w, time.monotonic(), 0.5)  # "password?"
            keys(w, "0000#")
        w.wait_bye(timeout=30)
        assert len(security_lines(p)) == 3, security_lines(p)
    finally:
        events.close()
        b.stop()


