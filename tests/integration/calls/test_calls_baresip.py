"""Two real softphones (baresip 1.0, headless) call each other through the PBX.

Each phone's microphone is a WAV file of a tone of its own (aufile); the
sndfile filter dumps what each decodes from the network to
dump-*-dec.wav. 1001 dials 1002 over ctrl_tcp, 1002 answers by itself
(answermode=auto), and after a few seconds one of them hangs up (BYE
from the caller in one run, from the callee in the other). The audio each
phone decoded must be the other's tone, measured (callib.goertzel), and
none of its own: in one run both legs are u-law (relay), in the other the
callee's is A-law (the PBX transcodes every packet).

baresip 1.0 computes MD5 digests only: the PBX offers MD5 alone
(conftest.call_pbx).
"""

import time

import pytest

import callib
from callib import read_wav, tone_seconds, write_wav

F_CALLER, F_CALLEE = 1000, 1400
TALK = 3.0


@pytest.mark.parametrize("codec1,codec2,hangup_by",
                         [("PCMU", "PCMU", "caller"), ("PCMU", "PCMA", "callee")])
def test_two_baresips_hear_each_others_tone(call_pbx, baresips, tmp_path, codec1, codec2,
                                            hangup_by):
    p = call_pbx()
    write_wav(tmp_path / "caller.wav", callib.tone(F_CALLER, 15))
    write_wav(tmp_path / "callee.wav", callib.tone(F_CALLEE, 15))
    b1 = baresips(tmp_path, p, "1001", tmp_path / "caller.wav", codec1)
    b2 = baresips(tmp_path, p, "1002", tmp_path / "callee.wav", codec2, answermode="auto")
    callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == 2, 10,
                           "both baresips to register", interval=0.1)

    r = b1.command("dial", "1002")
    assert r.get("ok", True), r
    chans = None

    def up():
        nonlocal chans
        chans = callib.channels(p)
        return len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)

    callib.siplib.wait_for(up, 10, "the call to be answered and bridged", interval=0.1)
    by_dir = {c["direction"]: c for c in chans}
    assert by_dir["in"]["caller"] == "1001" and by_dir["in"]["callee"] == "1002", chans
    assert by_dir["in"]["media"].startswith(codec1), chans
    assert by_dir["out"]["media"].startswith(codec2), chans

    callib.siplib.wait_for(lambda: "Call established" in b1.log(), 5, "1001: call established",
                           interval=0.1)
    time.sleep(TALK)
    hanger, other = (b1, b2) if hangup_by == "caller" else (b2, b1)
    hanger.command("hangup")
    callib.wait_channels(p, 0, what=f"no channel left after {hanger.user} hung up")
    callib.siplib.wait_for(lambda: "terminated" in other.log(), 5,
                           f"{other.user} to see the BYE", interval=0.1)
    # Stopping closes the recordings (the WAV headers are written then).
    b1.stop()
    b2.stop()

    for b, codec, theirs, mine in ((b1, codec1, F_CALLEE, F_CALLER),
                                   (b2, codec2, F_CALLER, F_CALLEE)):
        assert f"Set audio decoder: {codec} 8000Hz" in b.log(), b.log()[-3000:]
        recs = b.recordings("dec")
        assert len(recs) == 1, f"{b.user}: recordings {recs}"
        rate, samples = read_wav(recs[0])
        assert rate == 8000
        heard = tone_seconds(samples, theirs, rate)
        assert heard >= TALK - 1.0, \
            (f"{b.user} ({codec}) heard {heard:.1f}s of the other phone's {theirs} Hz in a "
             f"{len(samples) / rate:.1f}s recording: {callib.tone_windows(samples, theirs)[:20]}")
        assert tone_seconds(samples, mine, rate, share=0.2) == 0, \
            f"{b.user} hears its own {mine} Hz tone"
