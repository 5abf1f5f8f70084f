"""Blind transfer from a real phone's transfer key: baresip's /transfer sends REFER.

1001 calls 1002; 1002 transfers the call to 1003 (REFER, Refer-To 1003).
The PBX checks the target, accepts (202), keeps 1001's leg and runs 1003
for it; 1003 rings and answers by itself. Measured at the end: 1001 hears
1003's tone and 1003 hears 1001's, 1002's call is over, and 1002 received
the NOTIFY sipfrag bodies 100, 180, 200 in that order (baresip's SIP trace).
"""

import re
import time

import pytest

import callib
from callib import write_wav

F1, F2, F3 = 1000, 1400, 1800
TALK = 3.0
DIALPLAN = """
extensions = {
  default = {
    ["_10XX"] = function(ctx, ext) app.dial("SIP/" .. ext, 20) end,
  },
}
"""


def _up(p, n):
    chans = callib.channels(p)
    return len(chans) == n and all(c["state"] == "Up" and c["bridged_to"] for c in chans)


def _notify_bodies(log):
    """The sipfrag status codes of the NOTIFYs (Event: refer) a baresip trace shows, in order."""
    codes = []
    for m in re.finditer(r"^NOTIFY sip:", log, re.M):
        head, _, rest = log[m.start():].replace("\r\n", "\n").partition("\n\n")
        if re.search(r"^Event: refer", head, re.M | re.I) and "message/sipfrag" in head:
            frag = re.match(r"SIP/2\.0 (\d{3}) ", rest)
            if frag:
                codes.append(frag.group(1))
    return codes


@pytest.mark.parametrize("transferor", ["callee", "caller"])
def test_blind_transfer_from_baresip(call_pbx, baresips, tmp_path, transferor):
    p = call_pbx(dialplan=DIALPLAN)
    for f, name in ((F1, "1"), (F2, "2"), (F3, "3")):
        write_wav(tmp_path / f"{name}.wav", callib.tone(f, 30))
    # The transferor (b2, traced) is the callee of the first call, or its caller.
    b1 = baresips(tmp_path, p, "1001", tmp_path / "1.wav", "PCMU",
                  answermode="auto" if transferor == "caller" else "manual")
    b2 = baresips(tmp_path, p, "1002", tmp_path / "2.wav", "PCMU", answermode="auto",
                  sip_trace=True)
    b3 = baresips(tmp_path, p, "1003", tmp_path / "3.wav", "PCMU", answermode="auto")
    callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == 3, 10,
                           "three baresips to register", interval=0.1)

    first, second = (b1, b2) if transferor == "callee" else (b2, b1)
    assert first.command("dial", second.user).get("ok", True)
    callib.siplib.wait_for(lambda: _up(p, 2), 10, "1001 and 1002 to talk", interval=0.1)
    time.sleep(1.0)
    r = b2.command("transfer", "1003")
    assert r.get("ok", True), r

    def transferred():
        chans = callib.channels(p)
        return (len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)
                and not any("1002" in (c["caller"], c["callee"]) and c["direction"] == "out"
                            and c["callee"] == "1002" for c in chans))

    callib.siplib.wait_for(transferred, 15, "1001 to be bridged to 1003, 1002 gone",
                           interval=0.1)
    chans = callib.channels(p)
    names = " ".join(c["name"] for c in chans)
    assert "SIP/1001-" in names and "SIP/1003-" in names and "SIP/1002-" not in names, chans
    time.sleep(TALK)
    b1.command("hangup")
    callib.wait_channels(p, 0, what="no channel left after 1001 hung up")
    assert callib.bridges(p) == [], callib.bridges(p)
    log2 = b2.log()
    for b in (b1, b2, b3):
        b.stop()

    # The transferor's phone got the progress in order.
    codes = _notify_bodies(log2)
    assert codes == ["100", "180", "200"], (codes, log2[-4000:])

    # 1001 hears 1003 at the end, and 1003 hears 1001.
    for b, theirs in ((b1, F3), (b3, F1)):
        b.assert_hears_at_end(theirs, TALK)


FEATURES_DIALPLAN = """
extensions = {
  default = {
    ["_10XX"] = function(ctx, ext) app.dial("SIP/" .. ext, 20, "tT") end,
  },
}
"""


@pytest.mark.parametrize("code", ["##", "*2"])
def test_feature_code_transfer_from_baresip_keys(call_pbx, baresips, tmp_path, code):
    """1002, called by 1001, keys a transfer code and 1003 on its keypad (baresip's
    sndcode: RFC 4733 events). Blind (##): 1001 goes to 1003 at once. Attended (*2):
    1002 talks to 1003 first, then hangs up. Either way 1001 and 1003 end up hearing
    each other, 1002 is gone, and 1001 never hears the keys of the code."""
    p = call_pbx(dialplan=FEATURES_DIALPLAN)
    for f, name in ((F1, "1"), (F2, "2"), (F3, "3")):
        write_wav(tmp_path / f"{name}.wav", callib.tone(f, 30))
    b1 = baresips(tmp_path, p, "1001", tmp_path / "1.wav", "PCMU")
    b2 = baresips(tmp_path, p, "1002", tmp_path / "2.wav", "PCMU", answermode="auto")
    b3 = baresips(tmp_path, p, "1003", tmp_path / "3.wav", "PCMU", answermode="auto")
    callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == 3, 10,
                           "three baresips to register", interval=0.1)
    assert b1.command("dial", "1002").get("ok", True)
    callib.siplib.wait_for(lambda: _up(p, 2), 10, "1001 and 1002 to talk", interval=0.1)
    # The keys 1001 receives. baresip's ctrl_tcp talks to its latest connection only:
    # the listener connects after the last command before the keys.
    events = callib.ControlEvents(b1.ctrl_port)
    time.sleep(1.0)
    # A key that begins no code reaches 1001 (and shows that 1001 reports the keys it gets).
    assert b2.command("sndcode", "5").get("ok", True)
    callib.siplib.wait_for(lambda: events.params("CALL_DTMF_START"), 5,
                           "1001 to receive the key 5", interval=0.1)
    for key in code + "1003#":
        assert b2.command("sndcode", key).get("ok", True)
        time.sleep(0.3)
    if code == "*2":
        # 1002 talks to 1003 while 1001 holds; then 1002 hangs up to complete.
        callib.siplib.wait_for(lambda: len(callib.channels(p)) == 3, 10,
                               "1002's consultation call to 1003", interval=0.1)
        callib.siplib.wait_for(lambda: "Call established" in b3.log(), 10,
                               "1003 to answer", interval=0.1)
        time.sleep(1.0)
        b2.command("hangup")

    def transferred():
        chans = callib.channels(p)
        return (len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)
                and not any(c["name"].startswith("SIP/1002-") for c in chans))

    callib.siplib.wait_for(transferred, 15, "1001 bridged to 1003, 1002 gone", interval=0.1)
    time.sleep(TALK)
    got = events.params("CALL_DTMF_START")
    events.close()
    b1.command("hangup")
    callib.wait_channels(p, 0, what="no channel left after 1001 hung up")
    assert callib.bridges(p) == [], callib.bridges(p)
    for b in (b1, b2, b3):
        b.stop()
    assert got == ["5"], f"1001 received the keys {got} (only 5 is no code): {events.events}"
    for b, theirs in ((b1, F3), (b3, F1)):
        b.assert_hears_at_end(theirs, TALK)
