"""Phones work out of the box: the shipped etc/pbx.lua and etc/extensions.lua,
with only what a user must set (state folder, listen addresses, domain,
dialplan file) changed, as README tells a newcomer to do.

The config is the shipped file itself with a few assignments appended, so
every default that a user gets (digest algorithms, qualify, bans, SRTP
policy, RTP ports) is the one in force here. Real peers only:

- SIPp 3.6 registers with digest and places a call with digest to a
  second SIPp that registered and answers, through the shipped `_1XXX`
  extension. SIPp answers the PBX's qualify OPTIONS itself (-aa, SIPp's own
  switch for that), as a SIPp user against any PBX would.
- Two baresip 1.0 softphones register, one calls the other, and each hears
  the other's tone.
- A call is transferred by the callee's transfer key (REFER) and by `##`
  on its keypad: the caller ends up hearing the third phone.
"""

import time

import pytest

import callib
import test_calls_sipp as sippcalls
from callib import Baresip, free_port_pair, read_wav, tone_seconds, write_wav
from pbxlib import REPO, lua_value

SHIPPED_CONFIG = REPO / "etc" / "pbx.lua"
SHIPPED_DIALPLAN = REPO / "etc" / "extensions.lua"
F_CALLER, F_CALLEE = 1000, 1400
TALK = 3.0


def shipped_config(p):
    """The shipped config, plus only the keys a user must set."""
    return SHIPPED_CONFIG.read_text() + (
        "\n-- What a user sets: where state lives, addresses, domain, dialplan.\n"
        f"pbx.state_dir = {lua_value(str(p.state_dir))}\n"
        f"sip.listen = {{ \"udp:127.0.0.1:{p.port}\", \"tcp:127.0.0.1:{p.port}\" }}\n"
        f"sip.domain = {lua_value(p.domain)}\n"
        f"dialplan.file = {lua_value(str(SHIPPED_DIALPLAN))}\n")


def start_shipped(pbx_factory, users=("1001", "1002"), dialplan=None, extra=""):
    """A started PBX on the shipped config (and dialplan, unless @dialplan: its text,
    written beside the config), with users @users; @extra is Lua appended to the config."""
    p = pbx_factory()
    text = shipped_config(p)
    if dialplan is not None:
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(dialplan)
        text += f"dialplan.file = {lua_value(str(p.dialplan))}\n"
    p.write_config(text + extra)
    p.start()
    callib.siplib.wait_answering(p)
    if users:
        callib.siplib.add_users(p, users, callib.PASSWORD)
    return p


def test_shipped_config_is_what_runs(shipped_pbx):
    """The settings a phone meets are the shipped ones: MD5 alone, qualify
    on, bans on with loopback ignored, SRTP optional."""
    p = shipped_pbx(users=())
    out = p.ok("core show settings")
    for key, value in (("sip.auth_algorithms", '{ "MD5" }'), ("sip.qualify_interval", "60"),
                       ("rtp.srtp", '"optional"'), ("sip.ban_threshold", "10"),
                       ("dialplan.file", lua_value(str(SHIPPED_DIALPLAN)))):
        lines = [line for line in out.splitlines() if line.strip().startswith(key + " ")]
        assert lines and f"= {value}" in lines[0], f"{key}: {lines}\n{out}"


def test_sipp_registers_and_calls_with_digest(shipped_pbx, tmp_path):
    p = shipped_pbx()
    uas_port, uas_mport = free_port_pair(), free_port_pair()
    uac_port, uac_mport = free_port_pair(), free_port_pair()
    sippcalls.sipp_register(p, tmp_path, "1002", uas_port, uas_mport)
    regs = callib.siplib.contacts_of(p, 1002)
    assert [r["source"] for r in regs] == [f"udp:127.0.0.1:{uas_port}"], regs

    rx = callib.Rtp()
    try:
        (tmp_path / "uas.xml").write_text(sippcalls.uas_xml(False, "PCMU", rx.port))
        (tmp_path / "uac.xml").write_text(sippcalls.uac_xml(True))
        sippcalls.sipp_call(p, tmp_path, tmp_path / "uas.xml", tmp_path / "uac.xml",
                            (uas_port, uas_mport), (uac_port, uac_mport), extra=("-aa",))
        uac_msgs = sippcalls.sipp_messages(tmp_path, "uac")
        # Digest on the INVITE: challenged with MD5 alone, then answered.
        assert "SIP/2.0 401" in uac_msgs and "SIP/2.0 200 OK" in uac_msgs, uac_msgs[:3000]
        chal = [line for line in uac_msgs.splitlines()
                if line.lower().startswith("www-authenticate")]
        assert chal and all("algorithm=MD5" in line for line in chal), chal
        # Media flowed from the caller's pcap to the callee's socket.
        assert rx.count() >= 40, f"only {rx.count()} RTP packets reached the callee"
    finally:
        rx.close()
    callib.wait_channels(p, 0, what="no channel left after the BYE")


def test_baresips_register_and_call(shipped_pbx, tmp_path):
    p = shipped_pbx()
    write_wav(tmp_path / "caller.wav", callib.tone(F_CALLER, 15))
    write_wav(tmp_path / "callee.wav", callib.tone(F_CALLEE, 15))
    b1 = Baresip(tmp_path, p, "1001", tmp_path / "caller.wav", "PCMU").start()
    b2 = None
    try:
        b2 = Baresip(tmp_path, p, "1002", tmp_path / "callee.wav", "PCMU",
                     answermode="auto").start()
        callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == 2, 10,
                               "both baresips to register", interval=0.1)
        assert b1.command("dial", "1002").get("ok", True)

        def up():
            chans = callib.channels(p)
            return len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"]
                                           for c in chans)

        callib.siplib.wait_for(up, 10, "the call to be answered and bridged", interval=0.1)
        callib.siplib.wait_for(lambda: "Call established" in b1.log(), 5,
                               "1001: call established", interval=0.1)
        time.sleep(TALK)
        b1.command("hangup")
        callib.wait_channels(p, 0, what="no channel left after the caller hung up")
    finally:
        b1.stop()
        if b2:
            b2.stop()
    for b, theirs in ((b1, F_CALLEE), (b2, F_CALLER)):
        recs = b.recordings("dec")
        assert len(recs) == 1, f"{b.user}: recordings {recs}"
        rate, samples = read_wav(recs[0])
        heard = tone_seconds(samples, theirs, rate)
        assert heard >= TALK - 1.0, f"{b.user} heard {heard:.1f}s of the other's {theirs} Hz"


def test_record_and_hear_it_back(shipped_pbx):
    """Extension 603 of the shipped dialplan: a beep, record until '#', then
    the recording is played back; the caller hears its own tone again."""
    p = shipped_pbx()
    ph = callib.Phone(p, "1001", callib.PASSWORD)
    try:
        ph.register()
        c = ph.call("603", codecs=("PCMU",))
        c.established()
        time.sleep(0.6)  # the beep
        c.rtp.start_stream("PCMU", callib.tone(F_CALLER, 1.0))
        time.sleep(2.0)
        c.rtp.stop_stream()
        c.rtp.send_dtmf("#", 101)
        t0 = time.monotonic()
        time.sleep(2.5)
        back = c.rtp.audio("PCMU", since=t0)
        heard = tone_seconds(back, F_CALLER)
        assert heard >= 1.5, f"the recording played back: {heard:.1f} s of {F_CALLER} Hz: " \
                             f"{callib.tone_windows(back, F_CALLER)[:30]}"
        c.wait_bye()
        recs = sorted((p.state_dir / "recordings").glob("demo-*.wav"))
        assert [r.name for r in recs] == ["demo-0.wav"], recs
    finally:
        ph.close()


def test_hold_music_between_two_phones(shipped_pbx):
    """One phone holds: the other hears the shipped default class, not silence
    and not the holding phone's tone; resume brings the tone back."""
    import test_hold_music as hm
    p = shipped_pbx()
    a = callib.Phone(p, "1001", callib.PASSWORD)
    b = callib.Phone(p, "1002", callib.PASSWORD)
    try:
        a.register()
        b.register()
        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.ring()
        cb.answer(codecs=("PCMU",))
        ca.established()
        ca.rtp.start_stream("PCMU", callib.tone(F_CALLER, 1.0))
        assert ca.reinvite("sendonly").status == 200
        re_inv = cb.wait_request("INVITE")
        cb.answer_reinvite(re_inv, "recvonly")
        t0 = time.monotonic()
        time.sleep(2.0)
        hm.assert_music(cb.rtp.audio("PCMU", since=t0 + 0.3), F_CALLER, "the held phone")
        assert ca.reinvite("sendrecv").status == 200
        cb.answer_reinvite(cb.wait_request("INVITE"), "sendrecv")
        t1 = time.monotonic()
        time.sleep(1.2)
        assert tone_seconds(cb.rtp.audio("PCMU", since=t1 + 0.2), F_CALLER) >= 0.6
        ca.rtp.stop_stream()
        assert ca.bye().status == 200
        cb.wait_bye()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("how", ["refer", "keys"])
def test_baresip_transfers_on_the_shipped_dialplan(shipped_pbx, tmp_path, how):
    p = shipped_pbx(users=("1001", "1002", "1003"))
    freqs = {"1001": 1000, "1002": 1400, "1003": 1800}
    phones = {}
    try:
        for user, f in freqs.items():
            write_wav(tmp_path / f"{user}.wav", callib.tone(f, 30))
            phones[user] = Baresip(tmp_path, p, user, tmp_path / f"{user}.wav", "PCMU",
                                   answermode="manual" if user == "1001" else "auto").start()
        callib.siplib.wait_for(lambda: len(callib.siplib.registrations(p)) == 3, 10,
                               "three baresips to register", interval=0.1)
        assert phones["1001"].command("dial", "1002").get("ok", True)

        def talking(without=None):
            chans = callib.channels(p)
            return (len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)
                    and not any(without and c["name"].startswith(without) for c in chans))

        callib.siplib.wait_for(talking, 10, "1001 and 1002 to talk", interval=0.1)
        time.sleep(1.0)
        if how == "refer":
            assert phones["1002"].command("transfer", "1003").get("ok", True)
        else:
            for key in "##1003#":
                assert phones["1002"].command("sndcode", key).get("ok", True)
                time.sleep(0.3)
        callib.siplib.wait_for(lambda: talking("SIP/1002-"), 15,
                               "1001 bridged to 1003, 1002 gone", interval=0.1)
        time.sleep(TALK)
        phones["1001"].command("hangup")
        callib.wait_channels(p, 0, what="no channel left after 1001 hung up")
        assert callib.bridges(p) == []
    finally:
        for b in phones.values():
            b.stop()
    for user, theirs in (("1001", 1800), ("1003", 1000)):
        phones[user].assert_hears_at_end(theirs, TALK)
