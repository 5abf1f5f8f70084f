"""Wideband codecs and transcoding between real softphones (baresip 1.0).

As test_calls_baresip.py: each phone's microphone is a WAV of a tone of
its own, 1001 dials 1002 through the PBX as the other call tests start it
(conftest.call_pbx: rtp.codecs left at its default, opus, g722, pcmu,
pcma), 1002 answers by itself, and each phone's decoded audio must carry
the other's tone for most of the talk time and none of its own. Each
phone is pinned to one codec, so the PBX must answer the caller with
that codec and offer the callee's:

- G.722 on both legs: the bridge relays the packets untouched (mode
  "relay"). Both tones are above 4 kHz, which no narrowband leg can
  carry: hearing them proves the audio never went through G.711 or an
  8 kHz resampler on the way.
- Opus caller, PCMU callee, and G.722 caller, PCMA callee: the bridge
  decodes, resamples and re-encodes (mode "transcode"); the tones are
  below 3.4 kHz so that the narrowband leg carries them.

Each leg's codec is checked three times: in the phone's log ("Set audio
decoder: ..."), in `core show channels --json` (the media field) and, for
the pair, in the bridge's mode from `core show bridges --json`.
"""

import json
import time

import pytest

import callib
from callib import read_wav, tone_seconds, write_wav

TALK = 3.0

# The codec names of the PBX's descriptors (pbx/codec_*.c) and of baresip's
# "Set audio decoder" lines are the same, and so is the rate baresip decodes at.
DECODE_RATE = {"PCMU": 8000, "PCMA": 8000, "G722": 16000, "opus": 48000}

# (caller codec, caller tone Hz, callee codec, callee tone Hz, bridge mode). A tone above
# 4 kHz needs a 16 kHz source WAV (aufile plays it at its own rate); the others are 8 kHz.
CASES = {
    "g722-relay": ("G722", 5000, "G722", 6000, "relay"),
    "opus-pcmu": ("opus", 1000, "PCMU", 1400, "transcode"),
    "g722-pcma": ("G722", 1000, "PCMA", 1400, "transcode"),
}


def bridges(p):
    return json.loads(p.ok("core show bridges --json"))


def wait(cond, timeout, what, p, *phones):
    """siplib.wait_for, with the tails of the PBX's and the phones' logs in its failure."""
    try:
        return callib.siplib.wait_for(cond, timeout, what, interval=0.1)
    except AssertionError as e:
        logs = "".join(f"\n--- {b.user} ---\n{b.log()[-2500:]}" for b in phones)
        raise AssertionError(f"{e}\n--- PBX ---\n{p.log()[-2500:]}{logs}") from None


def tone_wav(path, freq):
    rate = 16000 if freq > 3400 else 8000
    write_wav(path, callib.tone(freq, 15, rate=rate), rate=rate)
    return path


@pytest.mark.parametrize("case", CASES)
def test_codecs_between_baresips(call_pbx, baresips, tmp_path, case):
    codec1, f1, codec2, f2, mode = CASES[case]
    p = call_pbx()
    b1 = baresips(tmp_path, p, "1001", tone_wav(tmp_path / "caller.wav", f1), codec1)
    b2 = baresips(tmp_path, p, "1002", tone_wav(tmp_path / "callee.wav", f2), codec2,
                  answermode="auto")
    wait(lambda: len(callib.siplib.registrations(p)) == 2, 10, "both baresips to register",
         p, b1, b2)

    r = b1.command("dial", "1002")
    assert r.get("ok", True), r
    chans = None

    def up():
        nonlocal chans
        chans = callib.channels(p)
        return len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)

    wait(up, 10, "the call to be answered and bridged", p, b1, b2)
    by_dir = {c["direction"]: c for c in chans}
    assert by_dir["in"]["caller"] == "1001" and by_dir["in"]["callee"] == "1002", chans
    assert by_dir["in"]["media"].startswith(codec1 + " "), chans
    assert by_dir["out"]["media"].startswith(codec2 + " "), chans

    # Both legs have negotiated (their media says so). A bridge reads as a relay
    # until both sessions have their codec, so the mode is waited for, and read
    # once more at the end of the call.
    deadline = time.monotonic() + 5
    brs = bridges(p)
    while not (len(brs) == 1 and brs[0]["mode"] == mode) and time.monotonic() < deadline:
        time.sleep(0.1)
        brs = bridges(p)
    assert len(brs) == 1 and brs[0]["mode"] == mode, (brs, chans)
    assert sorted(brs[0]["members"]) == sorted(c["name"] for c in chans), (brs, chans)

    wait(lambda: "Call established" in b1.log(), 5, "1001: call established", p, b1)
    time.sleep(TALK)
    (br,) = bridges(p)
    assert br["mode"] == mode, br
    b1.command("hangup")
    callib.wait_channels(p, 0, what="no channel left after 1001 hung up")
    wait(lambda: "terminated" in b2.log(), 5, "1002 to see the BYE", p, b2)
    # Stopping closes the recordings (the WAV headers are written then).
    b1.stop()
    b2.stop()

    for b, codec, theirs, mine in ((b1, codec1, f2, f1), (b2, codec2, f1, f2)):
        decoders = b.codecs_set("decoder")
        assert decoders and {d[0] for d in decoders} == {codec}, \
            f"{b.user}: decoders {decoders}, expected {codec}\n{b.log()[-3000:]}"
        recs = b.recordings("dec")
        assert len(recs) == 1, f"{b.user}: recordings {recs}"
        rate, samples = read_wav(recs[0])
        assert rate == DECODE_RATE[codec], (b.user, rate)
        heard = tone_seconds(samples, theirs, rate)
        assert heard >= TALK - 1.0, \
            (f"{b.user} ({codec}) heard {heard:.1f}s of the other phone's {theirs} Hz in a "
             f"{len(samples) / rate:.1f}s recording: "
             f"{callib.tone_windows(samples, theirs, rate)[:20]}")
        assert tone_seconds(samples, mine, rate, share=0.2) == 0, \
            f"{b.user} hears its own {mine} Hz tone"
