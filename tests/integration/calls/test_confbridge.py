"""Conferences with real softphones: three baresip 1.0 phones, each with a
tone of its own as its microphone (440, 1000 and 1500 Hz), dial into the
same room of the shipped dialplan (`_8XXX` -> app.confbridge), on the
shipped config. What each hears is its own decoded dump, measured per
tone (Goertzel), never only found:

- everyone hears both others and not itself: in the last seconds its own
  tone is at least 20 dB below each of the others;
- muted from the console, a member's tone leaves the others' audio, and
  unmuting brings it back; kicked, it gets BYE and the others go on;
- alone in a room, a member hears hold music, not silence;
- a PIN room refuses a wrong PIN three times, then hangs up; the right
  PIN joins;
- the room is recorded twice while people talk: both files hold all tones;
- one member on Opus or G.722 and two on G.711 all hear each other.
"""

import time

import pytest

import callib
from conflib import (ROOM, TONES, assert_hears_others_not_itself, conf_list, hang_up_all, heard,
                     join_all, members, music_check, phones, start_conf_pbx, tone_db, wait_members,
                     window)


@pytest.fixture
def conf_pbx(pbx_factory):
    """The shipped config and dialplan, users 1001-1003."""
    def start(users=tuple(TONES)):
        return start_conf_pbx(pbx_factory, users)

    return start


def test_three_phones_hear_each_other_not_themselves(conf_pbx, baresips, tmp_path):
    p = conf_pbx()
    bs = phones(tmp_path, p, baresips)
    join_all(p, bs)
    parts = members(p)
    assert {m["codec"] for m in parts} == {"PCMU"}
    assert not any(m["muted"] for m in parts)
    time.sleep(3.0)
    hang_up_all(p, bs)
    assert_hears_others_not_itself(bs)
    assert conf_list(p) == [], "the room outlived its members"


def test_mute_unmute_and_kick_from_the_console(conf_pbx, baresips, tmp_path):
    p = conf_pbx()
    bs = phones(tmp_path, p, baresips)
    join_all(p, bs)
    chan = {m["caller"]: m["channel"] for m in members(p)}

    p.ok(f"confbridge mute {ROOM} {chan['1002']}")
    assert [m["muted"] for m in members(p) if m["caller"] == "1002"] == [True]
    t_mute = time.monotonic()
    time.sleep(2.5)
    p.ok(f"confbridge unmute {ROOM} {chan['1002']}")
    t_unmute = time.monotonic()
    time.sleep(2.5)
    out = p.ok(f"confbridge kick {ROOM} {chan['1003']}")
    t_kick = time.monotonic()
    assert "Kicked 1 member" in out, out
    wait_members(p, 2)
    callib.siplib.wait_for(lambda: not [c for c in callib.channels(p)
                                        if c["name"] == chan["1003"]], 5, "1003 to be gone")
    assert "CHANNEL" in p.fail(f"confbridge kick {ROOM} SIP/9999-nope")
    time.sleep(2.5)
    t_end = time.monotonic()
    hang_up_all(p, {k: v for k, v in bs.items() if k != "1003"})

    def level(ext, freq, t0, t1, end=t_end):
        rate, x = window(bs[ext], end, t0, t1)
        return tone_db(x, freq, rate)

    for ext in ("1001", "1003"):
        end = t_kick if ext == "1003" else t_end
        other = TONES["1003" if ext == "1001" else "1001"]
        muted = level(ext, 1000, t_mute + 0.6, t_unmute - 0.2, end)
        assert muted < -55, f"{ext} still hears the muted 1002: {muted:.1f} dB"
        assert level(ext, other, t_mute + 0.6, t_unmute - 0.2, end) > -40
        back = level(ext, 1000, t_unmute + 0.6, t_kick - 0.2, end)
        assert back > -40, f"{ext} does not hear 1002 unmuted: {back:.1f} dB"
    # The kicked phone was hung up by the PBX (BYE), the others go on.
    for ext, f in (("1001", 1000), ("1002", 440)):
        after = level(ext, f, t_kick + 0.6, t_end - 0.2)
        assert after > -40, f"{ext} stopped hearing the other after the kick: {after:.1f} dB"


def test_alone_hears_music(conf_pbx, baresips, tmp_path):
    p = conf_pbx()
    bs = phones(tmp_path, p, baresips, exts=("1001",))
    assert bs["1001"].command("dial", "8123").get("ok", True)
    wait_members(p, 1, "8123")
    time.sleep(7.0)  # "you are the only person in this conference", then music
    hang_up_all(p, bs)
    rate, samples = heard(bs["1001"])
    tail = samples[-int(3.0 * rate):]
    music_check(tail, rate, [TONES["1001"]], "alone in a room")
