"""Recording and hold music with real softphones (baresip 1.0, headless).

Each baresip's microphone is a WAV of a tone of its own (aufile), and the
sndfile module dumps what it decodes to a WAV; the PBX's files are read
back too. Everything is measured (callib.goertzel), nothing is only found:

- app.record of a caller's tone: the WAV holds that tone;
- app.mixmonitor of a call between two baresips: both tones in the mixed
  file, each alone in r() and t();
- hold from one phone (baresip's `hold` re-INVITEs with sendonly): the
  other phone is sent the default hold music (low chords: not silence, not
  the holding phone's tone), and `resume` brings the tone back; measured
  on the wire (dumpcap), as baresip 1.0 stops its decoder dump at a
  re-INVITE.
"""

import re
import time


import callib
from callib import read_wav, tone_seconds, write_wav
from srtplib import Capture

F_CALLER, F_CALLEE = 1000, 1400

DIALPLAN = callib.DIALPLAN.replace('''    ["600"] = function()''', '''    ["_3XXX"] = function(context, exten)
      app.mixmonitor("bs-mixed.wav", "r(bs-rx.wav)t(bs-tx.wav)")
      app.dial("SIP/1" .. exten:sub(2), 20)
    end,
    ["800"] = function()
      app.answer()
      app.record("bs-rec.wav", 0, 3, "q")
      app.verbose("RECORDED RECORD_STATUS=" .. var("RECORD_STATUS"))
      app.hangup()
    end,
    ["600"] = function()''')


def registered(p, n):
    callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == n, 10,
                           f"{n} baresip(s) to register", interval=0.1)


def test_record_a_baresip_caller(call_pbx, baresips, tmp_path):
    p = call_pbx(dialplan=DIALPLAN)
    write_wav(tmp_path / "caller.wav", callib.tone(F_CALLER, 15))
    b = baresips(tmp_path, p, "1001", tmp_path / "caller.wav", "PCMU")
    registered(p, 1)
    assert b.command("dial", "800").get("ok", True)
    m = callib.wait_log(p, r"RECORDED RECORD_STATUS=(\S+)", timeout=10)
    assert m.group(1) == "TIMEOUT", m.group(0)
    rate, samples = read_wav(p.state_dir / "recordings" / "bs-rec.wav")
    heard = tone_seconds(samples, F_CALLER, rate)
    assert heard >= 2.0, f"{heard:.1f} s of the caller's tone in {len(samples) / rate:.1f} s: " \
                         f"{callib.tone_windows(samples, F_CALLER)[:30]}"


def call_up(p, b1, ext):
    assert b1.command("dial", ext).get("ok", True)

    def up():
        chans = callib.channels(p)
        return len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)

    callib.siplib.wait_for(up, 10, "the call to be answered and bridged", interval=0.1)
    callib.siplib.wait_for(lambda: "Call established" in b1.log(), 5, "call established",
                           interval=0.1)


def test_mixmonitor_of_two_baresips(call_pbx, baresips, tmp_path):
    p = call_pbx(dialplan=DIALPLAN)
    write_wav(tmp_path / "caller.wav", callib.tone(F_CALLER, 15))
    write_wav(tmp_path / "callee.wav", callib.tone(F_CALLEE, 15))
    b1 = baresips(tmp_path, p, "1001", tmp_path / "caller.wav", "PCMU")
    baresips(tmp_path, p, "1002", tmp_path / "callee.wav", "PCMA", answermode="auto")
    registered(p, 2)
    call_up(p, b1, "3002")
    time.sleep(3.0)
    b1.command("hangup")
    callib.wait_channels(p, 0)
    mon = p.state_dir / "monitor"
    for name in ("bs-mixed.wav", "bs-rx.wav", "bs-tx.wav"):
        callib.siplib.wait_for((mon / name).exists, 5, f"{name} complete", interval=0.1)
    rate, mixed = read_wav(mon / "bs-mixed.wav")
    for f in (F_CALLER, F_CALLEE):
        heard = tone_seconds(mixed, f, rate, share=0.3)
        assert heard >= 2.0, f"{f} Hz in the mixed file: {heard:.1f} s: " \
                             f"{callib.tone_windows(mixed, f)[:30]}"
    _, rx = read_wav(mon / "bs-rx.wav")
    _, tx = read_wav(mon / "bs-tx.wav")
    assert tone_seconds(rx, F_CALLER, rate) >= 2.0 and tone_seconds(rx, F_CALLEE, rate, 0.2) == 0
    assert tone_seconds(tx, F_CALLEE, rate) >= 2.0 and tone_seconds(tx, F_CALLER, rate, 0.2) == 0


def test_hold_from_a_baresip_plays_music_to_the_other(call_pbx, baresips, tmp_path):
    """baresip 1.0's decoder dump stops at a re-INVITE, so what the held
    phone hears is taken off the wire: a capture of the PBX's packets to its
    RTP port, decoded and cut by the time of hold and resume."""
    import test_hold_music as hm
    p = call_pbx()
    write_wav(tmp_path / "caller.wav", callib.tone(F_CALLER, 30))
    write_wav(tmp_path / "callee.wav", callib.tone(F_CALLEE, 30))
    b1 = baresips(tmp_path, p, "1001", tmp_path / "caller.wav", "PCMU")
    baresips(tmp_path, p, "1002", tmp_path / "callee.wav", "PCMU", answermode="auto")
    registered(p, 2)
    call_up(p, b1, "1002")
    out_leg = next(c for c in callib.channels(p) if c["direction"] == "out")
    port = int(re.search(r"127\.0\.0\.1:(\d+)", out_leg["media"]).group(1))
    cap = Capture(tmp_path, f"udp dst port {port}", name="held")
    t_up = time.time()
    time.sleep(1.5)
    t_hold = time.time()
    assert b1.command("hold").get("ok", True)
    # We answer the holding phone's sendonly with recvonly.
    callib.siplib.wait_for(
        lambda: any("recvonly" in c["media"] for c in callib.channels(p)), 5,
        "the hold re-INVITE to be answered", interval=0.1)
    time.sleep(3.0)
    t_resume = time.time()
    assert b1.command("resume").get("ok", True)
    time.sleep(2.0)
    t_end = time.time()
    cap.stop()
    b1.command("hangup")
    callib.wait_channels(p, 0)

    pkts = callib.read_pcap_rtp(cap.path, dst_port=port, timed=True)
    assert pkts, "no RTP to the held phone captured"

    def heard(t0, t1):
        return callib.decode("PCMU", b"".join(pl for t, pt, pl in pkts
                                               if t0 <= t < t1 and pt == 0))

    before = heard(t_up, t_hold)
    held = heard(t_hold + 0.8, t_resume)
    after = heard(t_resume + 0.8, t_end)
    assert tone_seconds(before, F_CALLER) >= 0.8, "the caller's tone before hold"
    hm.assert_music(held, F_CALLER, "the held baresip")
    assert tone_seconds(after, F_CALLER) >= 0.6, \
        f"after resume: {callib.tone_windows(after, F_CALLER)[:20]}"
