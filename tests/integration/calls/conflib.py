"""Helpers shared by the conference tests (test_confbridge*.py): the PBX on
the shipped config, baresip phones with a tone each, what the console says
of the rooms, and what a phone heard, measured per tone (Goertzel).

A baresip's decoded dump is only readable after it hung up; its samples
have no time stamps, but the decoder runs without a gap while packets
come, so a moment of the call is found by counting back from the hangup
(window()).
"""

import json
import math
import time

import callib
from test_hold_music import music_windows
from callib import goertzel, read_wav, rms, tone_seconds, write_wav
from test_shipped_defaults import start_shipped

TONES = {"1001": 440, "1002": 1000, "1003": 1500}
ROOM = "8000"


def tone_db(samples, freq, rate):
    """The level of @freq in @samples, dB relative to full scale."""
    if not samples:
        return -120.0
    p = goertzel(samples, freq, rate) * rms(samples) ** 2
    return 10 * math.log10(p / 32768.0 ** 2 + 1e-12)


def level_db(samples):
    """The RMS level of @samples, dB relative to full scale."""
    return 20 * math.log10(rms(samples) / 32768.0 + 1e-9)


def start_conf_pbx(pbx_factory, users=tuple(TONES), dialplan=None, extra=""):
    """The shipped config (and dialplan, unless @dialplan), users @users."""
    return start_shipped(pbx_factory, users=users, dialplan=dialplan, extra=extra)


def conf_list(p, room=None):
    out = p.ok("confbridge list" + (f" {room}" if room else "") + " --json")
    return json.loads(out)


def members(p, room=ROOM):
    rooms = [r for r in conf_list(p) if r["room"] == room]
    return rooms[0]["participants"] if rooms else []


def wait_members(p, n, room=ROOM, timeout=15):
    callib.siplib.wait_for(lambda: len(members(p, room)) == n, timeout,
                           f"{n} members in {room}", interval=0.2)


def phones(tmp_path, p, baresips, codecs=None, exts=tuple(TONES), tones=TONES, **kw):
    """A started baresip per extension of @exts, each with its tone of @tones as its
    microphone (a silent one for a tone of 0), registered."""
    out = {}
    for ext in exts:
        wav = tmp_path / f"tone-{ext}.wav"
        f = tones[ext]
        write_wav(wav, callib.tone(f, 60) if f else [0] * (60 * callib.RATE))
        out[ext] = baresips(tmp_path, p, ext, wav, (codecs or {}).get(ext, "PCMU"), **kw)
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


def assert_hears_others_not_itself(bs, seconds=3.0, tones=TONES):
    for ext, b in bs.items():
        rate, samples = heard(b)
        tail = samples[-int(seconds * rate):]
        own = tone_db(tail, tones[ext], rate)
        for other, f in tones.items():
            if other == ext or other not in bs:
                continue
            level = tone_db(tail, f, rate)
            assert level > -40, f"{ext} does not hear {other} ({f} Hz): {level:.1f} dB"
            assert own < level - 20, \
                f"{ext} hears itself at {own:.1f} dB, {other} at {level:.1f} dB"


def window(b, t_end, t0, t1):
    """What @b heard between monotonic times @t0 and @t1, its dump ending at @t_end
    (when it hung up): the decoder runs without a gap, so a sample's time is
    counted back from the end."""
    rate, samples = heard(b)
    n = len(samples)
    lo = max(0, n - int((t_end - t0) * rate))
    hi = max(lo, n - int((t_end - t1) * rate))
    return rate, samples[lo:hi]


def music_check(samples, rate, not_tones, what):
    """Hold music: rarely silent, low notes (the chords, 87-200 Hz) and none of @not_tones.
    The first chord of sounds/moh/default has only half of its energy below 500 Hz, so
    the share asked for is lower than test_hold_music's."""
    if rate != 8000:
        samples, rate = samples[::rate // 8000], 8000
    wins = music_windows(samples, rate)
    assert wins, f"{what}: nothing heard"
    loud = [w for w in wins if w[0] >= 200]
    assert len(loud) >= 0.7 * len(wins), f"{what}: mostly silence: {wins[:30]}"
    low = sum(w[1] for w in loud) / len(loud)
    assert low >= 0.35, f"{what}: not the low chords (share {low:.2f}): {wins[:30]}"
    for f in not_tones:
        assert tone_seconds(samples, f, rate, share=0.2) == 0, f"{what}: {f} Hz is heard"
