"""app.playtones / app.stopplaytones, measured: the busy tone (480 + 620 Hz,
500 ms on, 500 ms off) reaches the phone with its cadence, stops when
asked, and a tone that is no tone is a Lua error naming it."""

import time

import callib
from callib import goertzel, rms

DIALPLAN = callib.DIALPLAN.replace('''    ["600"] = function()''', '''    ["660"] = function()
      app.answer()
      app.playtones("busy")
      app.wait(2.5)
      app.stopplaytones()
      app.verbose("TONES STOPPED")
      app.wait(1)
      app.hangup()
    end,
    ["661"] = function() app.playtones("6000+440") end,
    ["600"] = function()''')


def test_busy_tone_with_its_cadence_until_stopped(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    c = a.call("660", codecs=("PCMA",))
    c.established()
    t0 = time.monotonic()
    callib.wait_log(p, "TONES STOPPED", timeout=5)
    t_stop = time.monotonic()
    time.sleep(0.8)
    tone = c.rtp.audio("PCMA", since=t0)
    after = c.rtp.audio("PCMA", since=t_stop + 0.2)
    c.wait_bye()
    # 100 ms blocks: "on" blocks hold both frequencies, "off" blocks are quiet.
    blocks = [tone[i:i + 800] for i in range(0, len(tone) - 800, 800)]
    on = [b for b in blocks if rms(b) > 1000]
    off = [b for b in blocks if rms(b) < 100]
    assert len(on) >= 8 and len(off) >= 6, [round(rms(b)) for b in blocks]
    for b in on:
        assert goertzel(b, 480) > 0.3 and goertzel(b, 620) > 0.3, \
            (goertzel(b, 480), goertzel(b, 620))
    # The cadence: runs of about five "on" blocks, then five "off".
    states = "".join("1" if rms(b) > 1000 else "0" for b in blocks)
    assert "11111" in states[:12] or "1111" in states[:12], states
    assert "0000" in states, states
    # Stopped: what follows carries no tone.
    assert all(rms(after[i:i + 800]) < 100 for i in range(0, len(after) - 800, 800)), \
        [round(rms(after[i:i + 800])) for i in range(0, len(after) - 800, 800)]
    callib.wait_channels(p, 0)


def test_a_bad_tone_is_a_lua_error(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    c = a.call("661", codecs=("PCMU",))
    callib.wait_log(p, "PlayTones: '6000\\+440' is no tone")
    c.final()
    callib.wait_channels(p, 0)
