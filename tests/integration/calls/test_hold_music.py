"""Hold music, measured: a phone that holds the call (re-INVITE sendonly or
inactive) makes the PBX play the default class (sounds/moh/default, low
plucked chords) to the other side instead of the holding phone's audio;
resume brings both tones back. app.musiconhold plays a class for a time.

What is music here: loud enough not to be silence, none of the holding
phone's tone, and most of its energy below 500 Hz (the chords' notes are
between 87 and 200 Hz; the phones' tones are 1000 and 1400 Hz).
"""

import time

import pytest

import callib
from callib import goertzel, rms, tone, tone_seconds

DIALPLAN = callib.DIALPLAN.replace('''    ["600"] = function()''', '''    ["650"] = function()
      app.musiconhold("default", 2)
      app.verbose("MOH DONE")
      app.musiconhold("nosuchclass", 5)
      app.verbose("MOH NOCLASS DONE")
      app.hangup()
    end,
    ["600"] = function()''')


def low_share(block, rate=8000):
    """Share of @block's energy between 80 and 500 Hz (10 Hz bins at 100 ms)."""
    return sum(goertzel(block, f, rate) for f in range(80, 500, 10))


def music_windows(samples, rate=8000, window=0.1):
    n = int(rate * window)
    out = []
    for i in range(0, len(samples) - n + 1, n):
        blk = samples[i:i + n]
        out.append((rms(blk), low_share(blk, rate)))
    return out


def assert_music(samples, not_tone, what):
    wins = music_windows(samples)
    loud = [w for w in wins if w[0] >= 200]
    assert len(loud) >= 0.7 * len(wins), f"{what}: mostly silence: {wins[:30]}"
    low = [w for w in loud if w[1] >= 0.5]
    assert len(low) >= 0.7 * len(loud), f"{what}: not the low chords: {wins[:30]}"
    assert tone_seconds(samples, not_tone, share=0.2) == 0, \
        f"{what}: the holding phone's {not_tone} Hz is heard"


def establish(p, phone):
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002", codecs=("PCMU",))
    cb = b.incoming()
    cb.ring()
    cb.answer(codecs=("PCMU",))
    ca.established()
    callib.wait_channels(p, 2)
    return ca, cb


@pytest.mark.parametrize("direction", ["sendonly", "inactive"])
def test_hold_plays_music_to_the_other_side_and_resume_stops_it(call_pbx, phone, direction):
    p = call_pbx()
    ca, cb = establish(p, phone)
    ca.rtp.start_stream("PCMU", tone(1000, 1.0))
    cb.rtp.start_stream("PCMU", tone(1400, 1.0))
    time.sleep(1.0)
    t0 = time.monotonic()
    assert tone_seconds(cb.rtp.audio("PCMU", since=t0 - 1.0), 1000) >= 0.5, "no tone before hold"

    r = ca.reinvite(direction)
    assert r.status == 200, r.text()
    re_inv = cb.wait_request("INVITE")
    # We only send to the held phone now: the music.
    assert callib.Sdp(re_inv.body).direction == "sendonly", re_inv.body
    cb.answer_reinvite(re_inv, "recvonly")
    t_hold = time.monotonic()
    time.sleep(2.5)
    held = cb.rtp.audio("PCMU", since=t_hold + 0.3)
    assert_music(held, 1000, "the held phone")

    r = ca.reinvite("sendrecv")
    assert r.status == 200, r.text()
    re_inv = cb.wait_request("INVITE")
    cb.answer_reinvite(re_inv, "sendrecv")
    t_resume = time.monotonic()
    time.sleep(1.5)
    back = cb.rtp.audio("PCMU", since=t_resume + 0.3)
    assert tone_seconds(back, 1000) >= 0.8, \
        f"after resume: {callib.tone_windows(back, 1000)[:20]}"
    heard_a = ca.rtp.audio("PCMU", since=t_resume + 0.3)
    assert tone_seconds(heard_a, 1400) >= 0.8, \
        f"the holding phone after resume: {callib.tone_windows(heard_a, 1400)[:20]}"
    ca.rtp.stop_stream()
    cb.rtp.stop_stream()
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)


def test_musiconhold_app_plays_for_its_duration(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    c = a.call("650", codecs=("PCMA",))
    c.established()
    t0 = time.monotonic()
    callib.wait_log(p, "MOH DONE", timeout=6)
    took = time.monotonic() - t0
    assert 1.7 <= took <= 3.0, f"MusicOnHold(default, 2) took {took:.1f} s"
    assert_music(c.rtp.audio("PCMA", since=t0 + 0.3)[:8000 * 1], 1000, "MusicOnHold")
    # A class that does not exist: logged, and the dialplan goes on at once.
    callib.wait_log(p, "MOH NOCLASS DONE", timeout=2)
    assert "no hold music of class 'nosuchclass'" in p.log()
    c.wait_bye()
    callib.wait_channels(p, 0)
