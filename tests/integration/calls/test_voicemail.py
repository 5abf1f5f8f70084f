"""Leaving voicemail (app.voicemail) and the store behind it, measured.

Raw SIP phones (callib.Phone) call into app.voicemail and stream a tone;
the stored WAV is read back and the tone measured, the rows are read with
`voicemail show --json`, and the folders are compared with them. Covered:

- the shipped defaults: 1001 calls 1003, which is not registered, the
  shipped `_1XXX` extension's dial fails and voicemail answers; 1001 hears
  the greeting (audio above silence), leaves a 600 Hz tone and hangs up;
- '#' ends a message (VMSTATUS SUCCESS), too short a message is dropped,
  a full mailbox and an unknown mailbox say so (FAILED), '0' leaves for o;
- urgent messages (option U) go to Urgent;
- console: voicemail show|play|move|delete and their errors;
- kill -9 while a message is being recorded, then a restart: the database
  and the folders agree, and no half message is left.
"""

import json
import os
import re
import signal
import time

import pytest

import callib
from callib import read_wav, tone, tone_seconds, write_wav
from test_shipped_defaults import shipped_config

F_MSG = 600

DIALPLAN = r'''
local function var(name)
  local v = channel[name]:get()
  if v == nil then return "<nil>" end
  return v
end

extensions = {
  default = {
    ["_2XXX"] = function(context, exten)
      local st = app.voicemail("1" .. exten:sub(2), "u")
      app.verbose("VM ret=" .. tostring(st) .. " VMSTATUS=" .. var("VMSTATUS"))
      if st == "USEREXIT" then return end  -- on to o or a, as the caller asked
      app.hangup()
    end,
    ["_3XXX"] = function(context, exten)
      app.voicemail("1" .. exten:sub(2), "sU")
      app.verbose("VM VMSTATUS=" .. var("VMSTATUS"))
      app.hangup()
    end,
    ["_4XXX"] = function(context, exten)
      local st = app.voicemail("1" .. exten:sub(2), "s")
      app.verbose("VM4 ret=" .. tostring(st))
      app.hangup()
    end,
    o = function() app.verbose("OPERATOR reached") app.hangup() end,
    h = function() app.verbose("HANGUP VMSTATUS=" .. var("VMSTATUS")) end,
  },
}
'''


def vm_show(p, ext):
    return json.loads(p.ok(f"voicemail show {ext} --json"))


def wait_messages(p, ext, n, timeout=callib.WAIT):
    got = []

    def have():
        got[:] = vm_show(p, ext)
        return len(got) == n

    callib.siplib.wait_for(have, timeout, f"{n} message(s) in mailbox {ext}", interval=0.1)
    return got


def folders_agree(p):
    """Every row names an existing file, every file has a row, tmp/ is empty."""
    root = p.state_dir / "voicemail"
    rows = {}
    for mb in (root.iterdir() if root.exists() else ()):
        for m in vm_show(p, mb.name):
            rows[m["file"]] = m
            assert os.path.exists(m["file"]), f"row without its file: {m}"
    files = set()
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            assert os.path.basename(dirpath) != "tmp", f"left in tmp/: {path}"
            files.add(path)
    assert files == set(rows), f"files {sorted(files)} rows {sorted(rows)}"
    return list(rows.values())


def wait_recording(p, timeout=30):
    """Wait for the next "recording a message" line (counted from the previous call)."""
    want = getattr(p, "vm_recordings", 0) + 1
    pattern = re.compile(r"VoiceMail\(\d+\): recording a message")
    callib.siplib.wait_for(lambda: len(pattern.findall(p.log())) >= want, timeout,
                           f"recording {want} to start", interval=0.05)
    p.vm_recordings = want


def leave_message(c, seconds, log_pbx, end="bye"):
    """Stream the tone through the greeting, then @seconds of message; end with BYE or '#'."""
    c.rtp.start_stream("PCMU", tone(F_MSG, 1.0))
    wait_recording(log_pbx)
    time.sleep(seconds)
    if end == "#":
        c.rtp.stop_stream()
        c.rtp.send_dtmf("#", 101)
    else:
        c.rtp.stop_stream()
        c.bye()


def check_tone(path, seconds):
    rate, samples = read_wav(path)
    heard = tone_seconds(samples, F_MSG, rate)
    assert heard >= seconds, f"{heard:.1f} s of {F_MSG} Hz in {len(samples) / rate:.1f} s: " \
                             f"{callib.tone_windows(samples, F_MSG, rate)[:30]}"


@pytest.fixture
def shipped_pbx(pbx_factory):
    p = pbx_factory()
    p.write_config(shipped_config(p))
    p.start()
    callib.siplib.wait_answering(p)
    callib.siplib.add_users(p, ("1001", "1003"), callib.PASSWORD)
    return p


def test_unanswered_call_leaves_a_message_with_shipped_defaults(shipped_pbx, phone):
    p = shipped_pbx
    a = phone(p, "1001")
    c = a.call("1003", codecs=("PCMU",))  # 1003 is a user, but no phone is registered
    c.established(timeout=30)
    leave_message(c, 4.0, p)
    # The greeting was heard: "the person at extension 1 0 0 3 is unavailable..."
    greeting = c.rtp.audio("PCMU")
    assert callib.rms(greeting) > 300, f"greeting RMS {callib.rms(greeting):.0f}"
    msgs = wait_messages(p, "1003", 1)
    m = msgs[0]
    assert m["folder"] == "INBOX" and m["caller_num"] == "1001" and not m["read"], m
    assert 3000 <= m["duration_ms"] <= 6000, m
    check_tone(m["file"], 2.5)
    assert "Messages  : 1 new, 0 old" in p.ok("user show 1003")
    assert json.loads(p.ok("user show 1003 --json"))["messages_new"] == 1
    folders_agree(p)


def test_hash_ends_the_message_and_vmstatus_says_success(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    a = phone(p, "1001")
    c = a.call("2003", codecs=("PCMU",))
    c.established()
    leave_message(c, 2.5, p, end="#")
    m = callib.wait_log(p, r"VM ret=(\S+) VMSTATUS=(\S+)", timeout=15)
    assert m.group(1) == "SUCCESS" and m.group(2) == "SUCCESS", m.group(0)
    c.wait_bye(timeout=15)
    (msg,) = wait_messages(p, "1003", 1)
    check_tone(msg["file"], 1.8)
    assert 2000 <= msg["duration_ms"] <= 4000, msg


def test_short_message_is_dropped_and_full_and_unknown_mailboxes_fail(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    a = phone(p, "1001")
    # Hung up 0.3 s into the recording: shorter than min_seconds (1), nothing kept.
    c = a.call("3003", codecs=("PCMU",))
    c.established()
    leave_message(c, 0.3, p)
    callib.wait_log(p, r"shorter than 1000 ms: discarded", timeout=15)
    assert vm_show(p, "1003") == []

    # A mailbox of one message, full after the first.
    p.ok("user set 1003 max_messages 1")
    c = a.call("3003", codecs=("PCMU",))
    c.established()
    leave_message(c, 1.5, p, end="#")
    wait_messages(p, "1003", 1)
    c.wait_bye(timeout=15)
    c = a.call("2003", codecs=("PCMU",))
    c.established()
    m = callib.wait_log(p, r"VM ret=(\S+) VMSTATUS=(\S+)", timeout=20)
    assert m.group(2) == "FAILED", m.group(0)
    assert "mailbox full" in p.log()
    c.wait_bye(timeout=15)
    assert len(vm_show(p, "1003")) == 1

    # No such mailbox: a prompt, FAILED, nothing stored anywhere.
    c = a.call("2999", codecs=("PCMU",))
    c.established()
    callib.wait_log(p, r"VoiceMail: no mailbox '1999'", timeout=10)
    c.wait_bye(timeout=15)
    assert len(re.findall(r"VMSTATUS=FAILED", p.log())) >= 2
    assert not (p.state_dir / "voicemail" / "1999").exists()
    folders_agree(p)


def test_urgent_message_and_zero_for_the_operator(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    a = phone(p, "1001")
    c = a.call("3003", codecs=("PCMU",))
    c.established()
    leave_message(c, 1.5, p, end="#")
    (msg,) = wait_messages(p, "1003", 1)
    assert msg["folder"] == "Urgent" and msg["urgent"], msg
    c.wait_bye(timeout=15)

    c = a.call("2003", codecs=("PCMU",))
    c.established()
    time.sleep(1.0)  # in the greeting
    c.rtp.send_dtmf("0", 101)
    callib.wait_log(p, r"OPERATOR reached", timeout=10)
    assert "VMSTATUS=USEREXIT" in p.log()
    c.wait_bye(timeout=15)
    assert len(vm_show(p, "1003")) == 1


def test_console_show_play_move_delete(call_pbx, tmp_path):
    p = call_pbx(dialplan=DIALPLAN, users=("1003",))
    assert vm_show(p, "1003") == []
    assert "no such user '1999'" in p.fail("voicemail show 1999")
    assert "no message 1" in p.fail("voicemail play 1003 1")
    p.stop()
    # Two messages adopted at start from files an operator (or a crash) left.
    inbox = p.state_dir / "voicemail" / "1003" / "INBOX"
    inbox.mkdir(parents=True)
    write_wav(inbox / "a.wav", tone(F_MSG, 2.0))
    write_wav(inbox / "b.wav", tone(F_MSG, 1.0))
    p.start()
    msgs = wait_messages(p, "1003", 2)
    assert sorted(m["duration_ms"] for m in msgs) == [1000, 2000], msgs
    assert "adopted" in p.log()
    path = p.ok("voicemail play 1003 1").strip()
    assert path == msgs[0]["file"] and os.path.isabs(path), path
    assert "unknown folder 'Attic'" in p.fail("voicemail move 1003 1 Attic")
    assert "not a number" in p.fail("voicemail delete 1003 x")
    p.ok("voicemail move 1003 1 Work")
    moved = [m for m in vm_show(p, "1003") if m["folder"] == "Work"]
    assert len(moved) == 1 and "/Work/" in moved[0]["file"]
    assert "1 new, 0 old" in p.ok("voicemail show 1003")
    p.ok("voicemail delete 1003 2")
    assert len(vm_show(p, "1003")) == 1
    # A row whose file is gone (a delete cut short after its rename): dropped at start.
    p.stop()
    os.unlink(moved[0]["file"])
    p.start()
    assert vm_show(p, "1003") == []
    assert "has no file" in p.log()
    assert folders_agree(p) == []


def test_kill_during_recording_leaves_whole_message_or_none(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    a = phone(p, "1001")
    # One message stored whole first, so a restart has something to keep.
    c = a.call("2003", codecs=("PCMU",))
    c.established()
    leave_message(c, 1.5, p, end="#")
    wait_messages(p, "1003", 1)
    c.wait_bye(timeout=15)
    # Then kill -9 in the middle of the next one.
    c = a.call("4003", codecs=("PCMU",))
    c.established()
    c.rtp.start_stream("PCMU", tone(F_MSG, 1.0))
    wait_recording(p)
    tmp = p.state_dir / "voicemail" / "1003" / "tmp"
    callib.siplib.wait_for(lambda: any(tmp.iterdir()), 10,
                           "the recording in progress to be written in tmp/", interval=0.05)
    os.kill(p.proc.pid, signal.SIGKILL)
    p.proc.wait(10)
    c.rtp.stop_stream()
    p.checked = True
    p.sock_path.unlink(missing_ok=True)
    p.start()
    rows = folders_agree(p)
    assert len(rows) == 1, rows
    check_tone(rows[0]["file"], 1.0)
    assert "voicemail: removed" in p.log()


def test_hangup_in_the_greeting_leaves_nothing(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    a = phone(p, "1001")
    c = a.call("2003", codecs=("PCMU",))
    c.established()
    time.sleep(1.0)
    c.bye()
    callib.wait_channels(p, 0)
    time.sleep(0.5)
    assert vm_show(p, "1003") == []
    folders_agree(p)


def test_smtp_password_is_not_shown(pbx_factory):
    p = pbx_factory(sections={"voicemail": {"email": {"server": "127.0.0.1",
                                                      "password": "hunter22"}}})
    p.start()
    out = p.ok("core show settings")
    assert "hunter22" not in out
    assert 'voicemail.email.password = "********"' in out


def test_silence_ends_the_message_and_is_cut_off(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    p.stop()
    p.sections["voicemail"] = {"silence_seconds": 2}
    p.write_config()
    p.start()
    a = phone(p, "1001")
    c = a.call("4003", codecs=("PCMU",))  # no greeting: the beep, then the message
    c.established()
    c.rtp.start_stream("PCMU", tone(F_MSG, 1.0))
    wait_recording(p)
    time.sleep(2.0)
    c.rtp.stop_stream()  # then silence: nothing is sent
    (msg,) = wait_messages(p, "1003", 1, timeout=15)
    # 2 s of tone (and the jitter buffer's start), 0.2 s of the silence kept, not 2 s.
    assert 1800 <= msg["duration_ms"] <= 2800, msg
    rate, samples = read_wav(msg["file"])
    assert abs(len(samples) / rate * 1000 - msg["duration_ms"]) < 25
    check_tone(msg["file"], 1.5)
    c.wait_bye(timeout=15)


def test_full_disk_while_recording_says_so_and_keeps_nothing_half(call_pbx, phone):
    """The mailbox's folder on a 64 KiB tmpfs (four seconds of 8 kHz audio): the
    recording fails when it fills, the caller hears the error prompt, VMSTATUS is
    FAILED, one log line says why, and neither a row nor a part file is left."""
    import subprocess
    p = call_pbx(dialplan=DIALPLAN, users=("1001", "1003"))
    box = p.state_dir / "voicemail" / "1003"
    box.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(box)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        a = phone(p, "1001")
        c = a.call("4003", codecs=("PCMU",))
        c.established()
        c.rtp.start_stream("PCMU", tone(F_MSG, 1.0))
        m = callib.wait_log(p, r"VM4 ret=(\S+)", timeout=30)
        c.rtp.stop_stream()
        assert m.group(1) == "FAILED", m.group(0)
        assert re.search(r"VoiceMail\(1003\): recording failed: No space left on device",
                         p.log()), p.log()[-2000:]
        assert len(re.findall(r"warning: .*No space left", p.log())) == 1, "one clear line"
        c.wait_bye(timeout=15)
        assert vm_show(p, "1003") == []
        assert not [f for f in box.rglob("*") if f.is_file()], list(box.rglob("*"))
    finally:
        subprocess.run(["umount", str(box)], check=False)
    # The PBX goes on: with room again, the next message is stored.
    c = a.call("4003", codecs=("PCMU",))
    c.established()
    leave_message(c, 1.5, p, end="#")
    assert len(wait_messages(p, "1003", 1)) == 1
    folders_agree(p)
