"""Recording through the frame path, measured: app.record of a caller's tone
(stopped by its length limit, by '#' and by silence), app.mixmonitor of a
bridged call with both directions in one file and apart (r()/t()), and
app.stopmixmonitor. The WAV files are read back and the tones measured
(callib.goertzel), never just found to exist.

Raw SIP phones (callib.Phone) send G.711 tones; the PBX decodes them
through each leg's jitter buffer and decoder and writes 8 kHz WAV files.
"""

import re
import time

import callib
from callib import read_wav, tone, tone_seconds

DIALPLAN = r'''
local function var(name)
  local v = channel[name]:get()
  if v == nil then return "<nil>" end
  return v
end

extensions = {
  default = {
    ["_1XXX"] = function(context, exten)
      app.mixmonitor("call-%d.wav", "r(call-rx.wav)t(call-tx.wav)")
      app.verbose("MIXMONITOR_FILENAME=" .. var("MIXMONITOR_FILENAME"))
      app.dial("SIP/" .. exten, 20)
    end,
    ["_2XXX"] = function(context, exten)
      app.mixmonitor("short.wav")
      app.dial("SIP/1" .. exten:sub(2), 20)
    end,
    ["800"] = function()
      app.answer()
      local st = app.record("rec-%d.wav", 0, 3, "q")
      app.verbose("RECORDED ret=" .. tostring(st) .. " RECORD_STATUS=" .. var("RECORD_STATUS") ..
                  " RECORDED_FILE=" .. var("RECORDED_FILE"))
      app.hangup()
    end,
    ["801"] = function()
      app.answer()
      app.record("/ABS/keyed.wav", 2, 20)
      app.verbose("RECORDED RECORD_STATUS=" .. var("RECORD_STATUS"))
      app.hangup()
    end,
    ["802"] = function() app.record("x.gsm") end,
    ["803"] = function() app.mixmonitor("x.wav", "z") end,
    ["804"] = function()
      app.answer()
      app.mixmonitor("stopped.wav")
      app.wait(1.5)
      app.stopmixmonitor()
      app.wait(1.5)
      app.verbose("STOPPED")
      app.hangup()
    end,
  },
}
'''

RATE = 8000


def recorded(p, pattern, timeout=callib.WAIT, nth=1):
    """The @nth match of @pattern in the PBX's log, waiting for it."""
    found = []

    def seen():
        found[:] = list(re.finditer(pattern, p.log()))
        return len(found) >= nth

    callib.siplib.wait_for(seen, timeout, f"log line {nth} matching {pattern}", interval=0.1)
    return found[nth - 1]


def test_record_stops_at_maxduration_and_keeps_the_tone(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    c = a.call("800", codecs=("PCMU",))
    c.established()
    c.rtp.start_stream("PCMU", tone(1000, 1.0))
    m = recorded(p, r"RECORDED ret=(\S+) RECORD_STATUS=(\S+) RECORDED_FILE=(\S+)")
    c.rtp.stop_stream()
    assert m.group(1) == "TIMEOUT" and m.group(2) == "TIMEOUT", m.group(0)
    base = m.group(3)
    assert base == str(p.state_dir / "recordings" / "rec-0"), base
    rate, samples = read_wav(base + ".wav")
    assert rate == RATE
    secs = len(samples) / rate
    assert 2.8 <= secs <= 3.2, f"{secs:.2f} s recorded, 3 s asked"
    heard = tone_seconds(samples, 1000, rate)
    assert heard >= 2.3, f"the caller's 1 kHz tone: {heard:.1f} s of {secs:.1f} s: " \
                         f"{callib.tone_windows(samples, 1000)[:30]}"
    assert not (p.state_dir / "recordings" / "rec-0.wav.part").exists()
    c.wait_bye()
    callib.wait_channels(p, 0)


def test_record_ends_at_hash_and_at_silence(call_pbx, phone, tmp_path):
    p = call_pbx(dialplan=DIALPLAN.replace("/ABS", str(tmp_path)))
    a = phone(p, "1001")
    # '#' ends it: the status says DTMF and the file holds what came before.
    c = a.call("801", codecs=("PCMU",))
    c.established()
    time.sleep(0.5)  # the beep
    c.rtp.start_stream("PCMU", tone(1400, 1.0))
    time.sleep(1.5)
    c.rtp.stop_stream()
    c.rtp.send_dtmf("#", 101)
    m = recorded(p, r"RECORDED RECORD_STATUS=(\S+)")
    assert m.group(1) == "DTMF", m.group(0)
    c.wait_bye()
    rate, samples = read_wav(tmp_path / "keyed.wav")
    assert tone_seconds(samples, 1400, rate) >= 1.0, callib.tone_windows(samples, 1400)[:30]
    callib.wait_channels(p, 0)

    # Two seconds of silence end it too (nothing sent: silence is what is recorded).
    (tmp_path / "keyed.wav").unlink()
    c = a.call("801", codecs=("PCMU",))
    c.established()
    t0 = time.monotonic()
    m = recorded(p, r"RECORDED RECORD_STATUS=(\S+)", timeout=10, nth=2)
    assert m.group(1) == "SILENCE", m.group(0)
    assert time.monotonic() - t0 < 6
    c.wait_bye()
    callib.wait_channels(p, 0)


def test_bad_record_and_mixmonitor_arguments_are_lua_errors(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    for ext, text in (("802", "format 'gsm' is not supported"),
                      ("803", "option 'z' is not supported")):
        c = a.call(ext, codecs=("PCMU",))
        callib.wait_log(p, text)
        c.final()
        callib.wait_channels(p, 0)


def test_mixmonitor_records_both_sides_mixed_and_apart(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002", codecs=("PCMU",))
    cb = b.incoming()
    cb.ring()
    cb.answer(codecs=("PCMA",))
    ca.established()
    callib.wait_channels(p, 2)
    mon = callib.wait_log(p, r"MIXMONITOR_FILENAME=(\S+)").group(1)
    assert mon == str(p.state_dir / "monitor" / "call-0.wav"), mon
    # A recorder attached: the bridge takes frames.
    bridges = callib.bridges(p)
    assert [x["mode"] for x in bridges] == ["frames"], bridges
    ca.rtp.start_stream("PCMU", tone(1000, 1.0))
    cb.rtp.start_stream("PCMA", tone(1400, 1.0))
    time.sleep(3.0)
    ca.rtp.stop_stream()
    cb.rtp.stop_stream()
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0)
    callib.siplib.wait_for(lambda: (p.state_dir / "monitor" / "call-0.wav").exists(), 5,
                           "the call recording to be complete", interval=0.1)
    callib.siplib.wait_for(lambda: (p.state_dir / "monitor" / "call-tx.wav").exists(), 5,
                           "the t() recording to be complete", interval=0.1)

    rate, mixed = read_wav(p.state_dir / "monitor" / "call-0.wav")
    assert rate == RATE
    for f in (1000, 1400):
        heard = tone_seconds(mixed, f, rate, share=0.3)
        assert heard >= 2.0, f"{f} Hz in the mixed file: {heard:.1f} s: " \
                             f"{callib.tone_windows(mixed, f)[:30]}"
    _, rx = read_wav(p.state_dir / "monitor" / "call-rx.wav")
    _, tx = read_wav(p.state_dir / "monitor" / "call-tx.wav")
    assert tone_seconds(rx, 1000, rate) >= 2.0, "r(): the caller's tone"
    assert tone_seconds(rx, 1400, rate, share=0.2) == 0, "r() holds the callee's tone"
    assert tone_seconds(tx, 1400, rate) >= 2.0, "t(): the callee's tone"
    assert tone_seconds(tx, 1000, rate, share=0.2) == 0, "t() holds the caller's tone"


def test_mixmonitor_ends_when_the_callee_hangs_up(call_pbx, phone):
    """A call recording is complete under its name once the call is over."""
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("2002", codecs=("PCMU",))
    cb = b.incoming()
    cb.ring()
    cb.answer(codecs=("PCMU",))
    ca.established()
    callib.wait_channels(p, 2)
    callib.siplib.wait_for(lambda: [x["mode"] for x in callib.bridges(p)] == ["frames"], 5,
                           "a monitored bridge", interval=0.1)
    ca.rtp.start_stream("PCMU", tone(1000, 1.0))
    time.sleep(1.0)
    ca.rtp.stop_stream()
    assert cb.bye().status == 200
    ca.wait_bye()
    callib.wait_channels(p, 0)
    f = p.state_dir / "monitor" / "short.wav"
    callib.siplib.wait_for(f.exists, 5, "the call recording to be complete", interval=0.1)
    rate, samples = read_wav(f)
    assert tone_seconds(samples, 1000, rate, share=0.3) >= 0.6


def test_stopmixmonitor_ends_the_recording_early(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a = phone(p, "1001")
    c = a.call("804", codecs=("PCMU",))
    c.established()
    c.rtp.start_stream("PCMU", tone(1000, 1.0))
    callib.wait_log(p, "STOPPED", timeout=10)
    c.rtp.stop_stream()
    c.wait_bye()
    callib.wait_channels(p, 0)
    f = p.state_dir / "monitor" / "stopped.wav"
    callib.siplib.wait_for(f.exists, 5, "the call recording to be complete", interval=0.1)
    rate, samples = read_wav(f)
    secs = len(samples) / rate
    assert 1.2 <= secs <= 1.9, f"{secs:.2f} s recorded; StopMixMonitor came after 1.5 s"
    assert tone_seconds(samples, 1000, rate) >= 1.0
