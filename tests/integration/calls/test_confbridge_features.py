"""Conference features with real softphones (baresip 1.0, a tone each as its
microphone) on the shipped config; a test that needs a dialplan option has
its own dialplan (TEST_DIALPLAN), which logs CONFBRIDGE_RESULT after the
application and in `h`. What a phone hears is its decoded dump, measured
per tone (Goertzel) or by level, in windows counted back from its hangup
(conflib.window):

- a PIN room: three wrong PINs hang the caller up (INVALID_PIN), the PIN
  joins it as a member, the admin PIN as an admin, even into a locked room;
- the console records the room twice, and each WAV holds all three tones;
  a second start replaces the first; a stop without a recording fails,
  also right after a stop;
- one member on Opus (or G.722) and two on G.711 hear each other and not
  themselves, and the room is recorded at its rate;
- the DTMF menu: 1 mutes and unmutes (the others stop and start hearing
  it), # leaves the room and the dialplan goes on (DTMF); entering a room
  again and hanging up there is HANGUP, not the first visit's DTMF;
- a locked room refuses a newcomer with conf-locked and a hangup, a full
  room with BYE and Q.850 cause 34; unlocked, it lets the newcomer in;
- end_marked and wait_marked: music until the admin comes, the admin heard,
  and the member out of the room (ENDMARKED) when the admin leaves;
- `confbridge play` is heard in the room, for as long as the sound; an
  unknown sound is an error, and a list with one leaves nothing queued.
"""

import re
import time
import wave
from pathlib import Path

import pytest

import callib
from callib import goertzel, read_wav
from conflib import (ROOM, TONES, assert_hears_others_not_itself, conf_list, hang_up_all, heard,
                     join_all, level_db, members, music_check, phones, start_conf_pbx,
                     tone_db, wait_members, window)

SOUNDS = Path(__file__).resolve().parents[3] / "sounds"

# After app.confbridge the dialplan goes on and says how it left; h says it again
# for calls the application hung up.
TEST_DIALPLAN = r'''
local function result()
  return channel.CONFBRIDGE_RESULT:get() or "<nil>"
end

local function after(exten)
  app.verbose("AFTER " .. exten .. " " .. channel.CHANNEL:get() .. " " .. result())
end

extensions = {
  default = {
    ["_8XXX"] = function(context, exten)
      app.confbridge(exten)
      after(exten)
    end,
    ["7300"] = function(context, exten)
      app.confbridge("7300", { admin = true })
      after(exten)
    end,
    ["7301"] = function(context, exten)
      app.confbridge("7300", { end_marked = true, wait_marked = true })
      after(exten)
    end,
    -- Leave by '#', and come back.
    ["7500"] = function(context, exten)
      app.confbridge(exten)
      after(exten)
      app.confbridge(exten)
      after(exten .. "-again")
    end,
    h = function()
      app.verbose("HANGUP " .. channel.CHANNEL:get() .. " CONFBRIDGE_RESULT=" .. result())
    end,
  },
}
'''


def sound_seconds(name):
    with wave.open(str(SOUNDS / f"{name}.wav"), "rb") as w:
        return w.getnframes() / w.getframerate()


@pytest.fixture
def conf_pbx(pbx_factory):
    """conf_pbx(dialplan=None): the shipped config (and dialplan, unless @dialplan),
    users 1001-1003, started."""
    def start(dialplan=None):
        return start_conf_pbx(pbx_factory, tuple(TONES), dialplan)

    return start


def member(p, ext, room=ROOM):
    got = [m for m in members(p, room) if m["caller"] == ext]
    assert len(got) == 1, f"{ext} in {room}: {members(p, room)}"
    return got[0]


def channel_names(p):
    return [c["name"] for c in callib.channels(p)]


def wait_up(p, b, timeout=10):
    """Until @b's call is answered by the PBX (its channel is Up)."""
    callib.siplib.wait_for(
        lambda: any(c["name"].startswith(f"SIP/{b.user}-") and c["state"] == "Up"
                    for c in callib.channels(p)), timeout, f"{b.user}'s call to be up",
        interval=0.1)


def wait_gone(p, ext, timeout=10):
    """Until no channel of @ext is left; the monotonic time it was seen gone."""
    callib.siplib.wait_for(lambda: not [n for n in channel_names(p)
                                        if n.startswith(f"SIP/{ext}-")],
                           timeout, f"{ext}'s channel to be gone", interval=0.1)
    return time.monotonic()


def keys(b, digits, gap=0.4):
    """Press @digits on @b's keypad (RFC 4733 events)."""
    for d in digits:
        assert b.command("sndcode", d).get("ok", True), f"{b.user}: sndcode {d}"
        time.sleep(gap)


def pbx_byes(b):
    """The BYEs the PBX sent to @b, as @b's SIP trace (baresip -s) shows them."""
    msgs = re.split(r"\n(?=BYE sip:)", b.log())[1:]
    return [m.split("\n\n", 1)[0] for m in msgs if "\nUser-Agent: pbx" in m.split("\n\n")[0]]


# ---- PIN --------------------------------------------------------------------------------------


def test_pin_room_wrong_pin_three_times_then_pin_and_admin_pin(conf_pbx, baresips, tmp_path):
    p = conf_pbx(dialplan=TEST_DIALPLAN)
    p.ok("confbridge room add 8100 --pin 1234 --admin-pin 9999")
    bs = phones(tmp_path, p, baresips)

    # 1001 gets three tries, all wrong ('#' ends each), and is hung up.
    b = bs["1001"]
    assert b.command("dial", "8100").get("ok", True)
    wait_up(p, b)
    time.sleep(1.0)
    for n, pin in enumerate(("1111", "4321", "12345"), 1):
        keys(b, pin + "#")
        callib.wait_log(p, rf"8100: wrong PIN \(try {n} of 3\)", 10)
    t_third = time.monotonic()
    gone = wait_gone(p, "1001", 15)
    # After "conf-invalidpin" and "goodbye".
    said = sound_seconds("conf-invalidpin") + sound_seconds("vm-goodbye")
    assert said - 0.5 < gone - t_third < said + 3.0, f"hung up {gone - t_third:.1f} s after"
    line = callib.wait_log(p, r"HANGUP SIP/1001-\S+ CONFBRIDGE_RESULT=(\S+)").group(0)
    assert line.endswith("CONFBRIDGE_RESULT=INVALID_PIN"), line
    assert "AFTER" not in p.log(), "the dialplan went on after a refusal"
    assert conf_list(p) == [], "a room was opened for a caller without the PIN"
    # It heard the prompts ("conf-getpin", "conf-invalidpin" and goodbye), not silence.
    rate, x = heard(b)
    assert level_db(x) > -40, f"1001 heard {level_db(x):.1f} dBFS while asked for the PIN"

    # 1002 with the PIN is a member; 1003 with the admin PIN an admin, who enters the
    # room even locked.
    for ext, pin in (("1002", "1234"), ("1003", "9999")):
        if ext == "1003":
            p.ok("confbridge lock 8100")
        assert bs[ext].command("dial", "8100").get("ok", True)
        wait_up(p, bs[ext])
        time.sleep(1.0)
        keys(bs[ext], pin + "#")
        callib.siplib.wait_for(lambda: any(m["caller"] == ext for m in members(p, "8100")), 10,
                               f"{ext} to join 8100", interval=0.2)
    [room] = conf_list(p, "8100")
    assert (room["room"], room["members"], room["locked"]) == ("8100", 2, True), room
    m2, m3 = member(p, "1002", "8100"), member(p, "1003", "8100")
    assert (m2["admin"], m3["admin"]) == (False, True), members(p, "8100")
    assert m3["marked"] is True and not m2["muted"] and not m3["muted"]
    assert [r["defined"] for r in conf_list(p)] == [True]
    time.sleep(7.0)  # "there is 1 other participant" is over; the two hear each other
    hang_up_all(p, {k: bs[k] for k in ("1002", "1003")})
    assert_hears_others_not_itself({k: bs[k] for k in ("1002", "1003")}, 2.0)
    assert conf_list(p) == []


# ---- recording --------------------------------------------------------------------------------


def wait_not_recording(p, room=ROOM, timeout=10):
    callib.siplib.wait_for(lambda: [r["recording"] for r in conf_list(p)
                                    if r["room"] == room] == [False], timeout,
                           f"{room}'s recording to end", interval=0.1)


def record_start(p, room=ROOM):
    out = p.ok(f"confbridge record start {room}")
    m = re.match(rf"Recording {room} to (\S+\.wav)\n", out)
    assert m, out
    return Path(m.group(1))


def assert_tones_in(path, seconds, slack=0.8):
    """The WAV at @path lasts about @seconds and holds each phone's tone."""
    rate, x = read_wav(path)
    assert rate in (16000, 48000), f"{path}: {rate} Hz"
    dur = len(x) / rate
    assert abs(dur - seconds) <= slack, f"{path}: {dur:.2f} s, expected about {seconds:.1f}"
    mid = x[int(0.3 * rate):len(x) - int(0.3 * rate)]
    shares = {f: goertzel(mid, f, rate) for f in TONES.values()}
    for ext, f in TONES.items():
        level = tone_db(mid, f, rate)
        assert level > -35, f"{path.name}: {ext}'s {f} Hz at {level:.1f} dBFS ({shares})"
        assert shares[f] > 0.15, f"{path.name}: {ext}'s {f} Hz is {shares[f]:.2f} of it"
    assert sum(shares.values()) > 0.8, f"{path.name}: not mostly the tones: {shares}"


def test_record_twice_while_three_talk(conf_pbx, baresips, tmp_path):
    p = conf_pbx()
    bs = phones(tmp_path, p, baresips)
    join_all(p, bs)
    assert p.fail(f"confbridge record stop {ROOM}").count("is not recording") == 1
    state = p.state_dir.resolve() / "confbridge"

    files = []
    for _ in range(2):
        path = record_start(p)
        assert path.resolve().parent == state, path
        assert [r["recording"] for r in conf_list(p)] == [True]
        time.sleep(2.0)
        # Two stops in one write: the second is read before the worker has closed the
        # file, and must not stop it "again".
        with p.console() as con:
            con.send(f"confbridge record stop {ROOM}\nconfbridge record stop {ROOM}\n".encode())
            (st1, out1), (st2, out2) = con.reply(), con.reply()
        assert (st1, out1.decode()) == (0, f"Recording of {ROOM} stops: {path}\n"), out1
        assert st2 == 1 and f"{ROOM} is not recording" in out2.decode(), out2
        wait_not_recording(p)
        files.append(path)
    assert files[0] != files[1]

    # A second start replaces the first: the first file ends there, the second goes on.
    first = record_start(p)
    time.sleep(1.5)
    second = record_start(p)
    assert second != first
    time.sleep(2.0)
    p.ok(f"confbridge record stop {ROOM}")
    wait_not_recording(p)
    assert "FILE" in p.fail(f"confbridge record start {ROOM} ../escape-%d.wav")
    assert "no conference" in p.fail("confbridge record start 8999")
    hang_up_all(p, bs)

    for path, seconds in ((files[0], 2.0), (files[1], 2.0), (first, 1.5), (second, 2.0)):
        assert path.exists(), f"{path} was not written"
        assert_tones_in(path, seconds)


# ---- wideband -------------------------------------------------------------------------------


@pytest.mark.parametrize("codec,spec", [("opus", ("opus", 48000, 2)), ("G722", ("G722", 16000, 1))],
                         ids=["opus", "g722"])
def test_wideband_member_and_two_g711_hear_each_other(conf_pbx, baresips, tmp_path, codec, spec):
    """The room mixes at 48 kHz while the Opus member is in (16 kHz with G.722), and
    records at that rate."""
    p = conf_pbx()
    bs = phones(tmp_path, p, baresips, codecs={"1001": codec, "1003": "PCMA"})
    join_all(p, bs)
    codecs = {m["caller"]: m["codec"].lower() for m in members(p)}
    assert codecs == {"1001": codec.lower(), "1002": "pcmu", "1003": "pcma"}, codecs
    assert spec in bs["1001"].codecs_set("decoder"), bs["1001"].codecs_set()
    path = record_start(p)
    time.sleep(3.0)
    p.ok(f"confbridge record stop {ROOM}")
    hang_up_all(p, bs)
    assert heard(bs["1001"])[0] == spec[1]
    assert_hears_others_not_itself(bs)
    # The mix is recorded at the room's rate: 48 kHz with Opus in, else 16 kHz.
    assert read_wav(path)[0] == (48000 if codec == "opus" else 16000)
    assert_tones_in(path, 3.0)


# ---- the DTMF menu ------------------------------------------------------------------------------


def test_menu_mute_unmute_and_leave_by_keys(conf_pbx, baresips, tmp_path):
    p = conf_pbx(dialplan=TEST_DIALPLAN)
    bs = phones(tmp_path, p, baresips)
    join_all(p, bs)
    b2 = bs["1002"]

    def muted():
        return member(p, "1002")["muted"]

    time.sleep(1.5)  # the last joiner's announcement is over for sure
    t_key = time.monotonic()
    keys(b2, "1", 0)
    callib.siplib.wait_for(muted, 5, "1002 muted by its key 1", interval=0.1)
    t_mute = time.monotonic()
    time.sleep(3.0)
    keys(b2, "1", 0)
    callib.siplib.wait_for(lambda: not muted(), 5, "1002 unmuted by 1 again", interval=0.1)
    t_unmute = time.monotonic()
    time.sleep(3.0)
    keys(b2, "#", 0)
    t_leave = time.monotonic()
    line = callib.wait_log(p, r"AFTER 8000 SIP/1002-\S+ (\S+)").group(0)
    assert line.endswith(" DTMF"), line
    wait_members(p, 2)
    wait_gone(p, "1002")  # the dialplan ended after "AFTER"
    time.sleep(2.0)
    t_end = time.monotonic()
    hang_up_all(p, {k: bs[k] for k in ("1001", "1003")})

    for ext in ("1001", "1003"):
        other = TONES["1003" if ext == "1001" else "1001"]

        def level(freq, t0, t1):
            rate, x = window(bs[ext], t_end, t0, t1)
            return tone_db(x, freq, rate)

        before = level(1000, t_key - 1.5, t_key - 0.1)
        assert before > -40, f"{ext} did not hear 1002 before the mute: {before:.1f} dB"
        gone = level(1000, t_mute + 0.6, t_unmute - 0.3)
        assert gone < -55, f"{ext} still hears 1002 muted by its key: {gone:.1f} dB"
        assert level(other, t_mute + 0.6, t_unmute - 0.3) > -40
        back = level(1000, t_unmute + 0.6, t_leave - 0.3)
        assert back > -40, f"{ext} does not hear 1002 unmuted: {back:.1f} dB"
        left = level(1000, t_leave + 1.0, t_end - 0.2)
        assert left < -55, f"{ext} still hears 1002 after it left: {left:.1f} dB"
        assert level(other, t_leave + 1.0, t_end - 0.2) > -40


def test_result_of_a_second_visit_is_its_own(conf_pbx, baresips, tmp_path):
    """The dialplan enters a room again after '#': hanging up there is HANGUP, not
    the first visit's DTMF."""
    p = conf_pbx(dialplan=TEST_DIALPLAN)
    bs = phones(tmp_path, p, baresips, exts=("1001",))
    b = bs["1001"]
    assert b.command("dial", "7500").get("ok", True)
    wait_members(p, 1, "7500")
    time.sleep(1.0)
    keys(b, "#", 0)
    line = callib.wait_log(p, r"AFTER 7500 SIP/1001-\S+ (\S+)").group(0)
    assert line.endswith(" DTMF"), line
    wait_members(p, 1, "7500")  # in again
    time.sleep(1.0)
    b.command("hangup")
    wait_gone(p, "1001")
    line = callib.wait_log(p, r"HANGUP SIP/1001-\S+ CONFBRIDGE_RESULT=\S+").group(0)
    assert line.endswith("=HANGUP"), line
    assert "AFTER 7500-again" not in p.log()
    assert conf_list(p) == []


# ---- lock and full ----------------------------------------------------------------------------


def test_locked_room_refuses_then_unlocked_lets_in(conf_pbx, baresips, tmp_path):
    p = conf_pbx(dialplan=TEST_DIALPLAN)
    bs = phones(tmp_path, p, baresips, sip_trace=True)
    join_all(p, {k: bs[k] for k in ("1001", "1002")})
    out = p.ok(f"confbridge lock {ROOM}")
    assert out == f"Conference {ROOM} locked.\n", out
    assert [r["locked"] for r in conf_list(p)] == [True]

    b3 = bs["1003"]
    assert b3.command("dial", ROOM).get("ok", True)
    t_dial = time.monotonic()
    wait_gone(p, "1003", 10)
    t_gone = time.monotonic()
    line = callib.wait_log(p, r"HANGUP SIP/1003-\S+ CONFBRIDGE_RESULT=\S+").group(0)
    assert line.endswith("=LOCKED"), line
    assert len(members(p)) == 2, members(p)
    # It heard "this conference is locked", then the PBX hung up (cause 21, rejected).
    rate, x = heard(b3)
    said = sound_seconds("conf-locked")
    assert len(x) / rate >= said - 0.3, f"1003 heard {len(x) / rate:.2f} s of a {said:.2f} s prompt"
    assert t_gone - t_dial < said + 4.0
    assert level_db(x) > -40, f"1003 heard {level_db(x):.1f} dBFS instead of conf-locked"
    for f in (TONES["1001"], TONES["1002"]):
        assert tone_db(x, f, rate) < -50, f"1003 heard the room ({f} Hz) while refused"
    byes = pbx_byes(b3)
    assert len(byes) == 1 and "\nReason: Q.850;cause=21" in byes[0], byes or b3.log()[-3000:]

    out = p.ok(f"confbridge unlock {ROOM}")
    assert out == f"Conference {ROOM} unlocked.\n", out
    assert b3.command("dial", ROOM).get("ok", True)
    wait_members(p, 3)
    time.sleep(7.0)  # after "there are 2 other participants"
    hang_up_all(p, bs)
    assert_hears_others_not_itself(bs, 2.0)


def test_full_room_refuses_with_cause_34(conf_pbx, baresips, tmp_path):
    p = conf_pbx(dialplan=TEST_DIALPLAN)
    p.ok("confbridge room add 8200 --max 2")
    bs = phones(tmp_path, p, baresips, sip_trace=True)
    join_all(p, {k: bs[k] for k in ("1001", "1002")}, "8200")
    b3 = bs["1003"]
    assert b3.command("dial", "8200").get("ok", True)
    wait_gone(p, "1003", 10)
    line = callib.wait_log(p, r"HANGUP SIP/1003-\S+ CONFBRIDGE_RESULT=\S+").group(0)
    assert line.endswith("=FULL"), line
    assert len(members(p, "8200")) == 2, members(p, "8200")
    byes = pbx_byes(b3)
    assert len(byes) == 1 and "\nReason: Q.850;cause=34" in byes[0], byes or b3.log()[-3000:]
    rate, x = heard(b3)
    assert level_db(x) > -40, f"1003 heard {level_db(x):.1f} dBFS instead of conf-full"
    hang_up_all(p, bs)


# ---- end_marked and wait_marked --------------------------------------------------------------


def test_end_marked_member_waits_for_admin_and_leaves_with_it(conf_pbx, baresips, tmp_path):
    p = conf_pbx(dialplan=TEST_DIALPLAN)
    bs = phones(tmp_path, p, baresips, exts=("1001", "1002"))
    admin, user = bs["1001"], bs["1002"]
    assert user.command("dial", "7301").get("ok", True)
    wait_members(p, 1, "7300")
    t_join = time.monotonic()
    m = member(p, "1002", "7300")
    assert (m["waiting"], m["admin"]) == (True, False), m
    time.sleep(sound_seconds("conf-waitforleader") + 4.0)  # then hold music

    assert admin.command("dial", "7300").get("ok", True)
    wait_members(p, 2, "7300")
    t_admin = time.monotonic()
    assert member(p, "1001", "7300")["admin"] is True
    assert member(p, "1002", "7300")["waiting"] is False
    time.sleep(8.0)  # the admin is told "there is 1 other participant" first
    admin.command("hangup")
    t_admin_gone = wait_gone(p, "1001")
    line = callib.wait_log(p, r"AFTER 7301 SIP/1002-\S+ (\S+)", 10).group(0)
    assert line.endswith(" ENDMARKED"), line
    t_user_gone = wait_gone(p, "1002")
    assert t_user_gone - t_admin_gone < sound_seconds("conf-leaderhasleft") + 3.0
    assert conf_list(p) == [], "the room outlived its members"

    # Waiting: music, not the admin; with the admin: its tone, and the admin hears it.
    rate, x = window(user, t_user_gone, t_join + sound_seconds("conf-waitforleader") + 0.7,
                     t_admin - 0.3)
    music_check(x, rate, (TONES["1001"], TONES["1002"]), "1002 waiting for the leader")
    rate, x = window(user, t_user_gone, t_admin + 3.0, t_admin_gone - 0.3)
    assert tone_db(x, TONES["1001"], rate) > -40, "1002 does not hear the admin"
    rate, x = window(admin, t_admin_gone, t_admin + 5.5, t_admin_gone - 0.3)
    assert tone_db(x, TONES["1002"], rate) > -40, "the admin does not hear 1002"
    assert tone_db(x, TONES["1001"], rate) < -50, "the admin hears itself"


# ---- playing into the room ----------------------------------------------------------------------


def loud_seconds(samples, rate, db=-45.0, step=0.05):
    """Seconds of @samples in @step blocks louder than @db dBFS."""
    n = int(rate * step)
    return step * sum(1 for i in range(0, len(samples) - n + 1, n)
                      if level_db(samples[i:i + n]) > db)


def test_play_into_the_room(conf_pbx, baresips, tmp_path):
    p = conf_pbx()
    silent = {"1001": 0, "1002": 0}
    bs = phones(tmp_path, p, baresips, exts=tuple(silent), tones=silent)
    join_all(p, bs)
    assert "no such sound file" in p.fail(f"confbridge play {ROOM} nosuchsound")
    assert "no conference" in p.fail("confbridge play 8999 conf-onlyperson")
    time.sleep(1.0)
    t_play = time.monotonic()
    out = p.ok(f"confbridge play {ROOM} conf-onlyperson")
    assert out == f"Playing conf-onlyperson into {ROOM}.\n", out
    said = sound_seconds("conf-onlyperson")
    time.sleep(said + 2.0)
    # A list with a sound that does not exist plays nothing, now or later.
    t_bad = time.monotonic()
    assert "no such sound file" in p.fail(f"confbridge play {ROOM} conf-onlyperson&nosuchsound")
    time.sleep(1.5)
    t_chime = time.monotonic()
    p.ok(f"confbridge play {ROOM} confbridge-join")
    time.sleep(said + 1.5)
    t_end = time.monotonic()
    hang_up_all(p, bs)
    chime = sound_seconds("confbridge-join")
    for ext, b in bs.items():
        rate, before = window(b, t_end, t_play - 1.0, t_play)
        rate, during = window(b, t_end, t_play + 0.5, t_play + said - 0.3)
        rate, after = window(b, t_end, t_play + said + 0.8, t_bad)
        assert level_db(before) < -60, f"{ext}: {level_db(before):.1f} dBFS before the play"
        assert level_db(during) > -35, f"{ext}: {level_db(during):.1f} dBFS during the play"
        assert loud_seconds(during, rate) > said - 1.5, f"{ext}: the prompt is cut short"
        assert level_db(after) < -60, f"{ext}: {level_db(after):.1f} dBFS after the play"
        rate, x = window(b, t_end, t_bad, t_chime)
        assert level_db(x) < -60, f"{ext}: {level_db(x):.1f} dBFS after a refused play"
        rate, x = window(b, t_end, t_chime - 0.2, t_end - 0.2)
        got = loud_seconds(x, rate)
        assert 0.1 <= got <= chime + 0.4, \
            f"{ext}: {got:.2f} s of sound for a {chime:.2f} s chime"
