"""In-call transfers by feature codes (Dial options t and T, the features
config section): raw SIP phones (callib.Phone) send RFC 4733 keys, as
Asterisk users do with features.conf.

- `##1003#` from the callee: the caller ends up bridged to 1003 and the
  transferor is hung up (blind transfer).
- `*2 1003#` from the callee, 1003 answers, the transferor talks to it,
  then hangs up: caller and 1003 are bridged (attended transfer).
- `*2 1003#` then `*3`: the target is hung up, the callee is back with
  the caller (abort).
- In every case no key of a code, nor of the target number, reaches the
  other party; keys that are no code still do.

Media is checked as packet flow both ways between the joined phones.
Every test ends with no channel and no bridge left.
"""

import time

import callib

DIALPLAN = r'''
extensions = {
  default = {
    ["_1XXX"] = function(context, exten)
      app.dial("SIP/" .. exten, 20, "tT")
    end,
  },
}
'''


def keys(call, digits, pt):
    for d in digits:
        call.rtp.send_dtmf(d, pt)
        time.sleep(0.05)


def flows(x, y):
    """Audio streamed by each of two calls' phones arrives at the other."""
    t0 = time.monotonic()
    x.rtp.start_stream("PCMU", callib.tone(1000, 1.0))
    y.rtp.start_stream("PCMU", callib.tone(1400, 1.0))
    try:
        y.rtp.wait_packets(25, callib.CODEC_PT["PCMU"], t0, what="audio x -> y")
        x.rtp.wait_packets(25, callib.CODEC_PT["PCMU"], t0, what="audio y -> x")
    finally:
        x.rtp.stop_stream()
        y.rtp.stop_stream()


def call_answered(p, phone):
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002", codecs=("PCMU",), dtmf_pt=101)
    cb = b.incoming()
    cb.ring()
    cb.answer(codecs=("PCMU",))
    ca.established()
    callib.wait_channels(p, 2, what="both legs of the call")
    return a, b, ca, cb


def answer_updates(*phones):
    """Answer the connected-line UPDATEs the PBX sends after a transfer."""
    for phone in phones:
        phone.answer_all("UPDATE")


def transfer_keys(p, call, pt, code, number, kind):
    """@call keys @code; once the PBX says it starts a @kind transfer, the @number."""
    keys(call, code, pt)
    callib.wait_log(p, rf"{kind} transfer of")
    keys(call, number, pt)


def target_answers(phone):
    """The transfer target's phone rings and answers: its Call."""
    call = phone.incoming()
    call.ring()
    call.answer(codecs=("PCMU",))
    return call


def hang_up(p, hanger, other):
    """@hanger hangs up, @other gets the BYE, and nothing is left over."""
    assert hanger.bye().status == 200
    other.wait_bye()
    ends_clean(p)


def ends_clean(p):
    callib.wait_channels(p, 0)
    deadline = time.monotonic() + 5
    while callib.bridges(p) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert callib.bridges(p) == []


def test_plain_keys_still_pass(call_pbx, phone):
    """Keys that begin no code pass at once; '#' alone passes after digit_timeout."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    keys(cb, "5#", pt)
    keys(ca, "7", 101)
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and len(ca.rtp.dtmf_events(101, t0)) < 2:
        time.sleep(0.05)
    assert [e[0] for e in ca.rtp.dtmf_events(101, t0)] == ["5", "#"]
    assert [e[0] for e in cb.rtp.dtmf_events(pt, t0)] == ["7"]
    hang_up(p, ca, cb)


def test_blind_transfer_by_callee(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    transfer_keys(p, cb, pt, "##", "1003#", "blind")
    cc = target_answers(c)
    cb.wait_bye()  # the transferor is released once the target answers
    answer_updates(a, c)
    flows(ca, cc)
    assert ca.rtp.dtmf_events(101, t0) == []
    chans = callib.channels(p)
    assert len(chans) == 2, chans
    hang_up(p, ca, cc)


def test_attended_transfer_by_callee(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    transfer_keys(p, cb, pt, "*2", "1003#", "attended")
    cc = target_answers(c)
    callib.wait_log(p, r"talks to")
    flows(cb, cc)  # the transferor consults the target
    assert cb.bye().status == 200
    callib.wait_log(p, r"attended transfer: .* joins ")
    answer_updates(a, c)
    flows(ca, cc)
    assert ca.rtp.dtmf_events(101, t0) == []
    assert len(callib.channels(p)) == 2
    hang_up(p, cc, ca)


def test_attended_transfer_aborted(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    transfer_keys(p, cb, pt, "*2", "1003#", "attended")
    cc = target_answers(c)
    callib.wait_log(p, r"talks to")
    keys(cb, "*3", pt)
    cc.wait_bye()
    callib.wait_log(p, r"back to")
    flows(ca, cb)
    assert ca.rtp.dtmf_events(101, t0) == []
    assert cc.rtp.dtmf_events(cc.offer.dtmf_pt, t0) == []
    hang_up(p, ca, cb)


def test_blind_transfer_unknown_number_back_to_call(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    keys(ca, "##", 101)  # the caller transfers (option T)
    callib.wait_log(p, r"blind transfer of")
    keys(ca, "999#", 101)
    callib.wait_log(p, r"no such extension")
    flows(ca, cb)
    assert cb.rtp.dtmf_events(pt, t0) == []
    hang_up(p, ca, cb)


def test_blind_transfer_by_caller(call_pbx, phone):
    """Option T: the caller sends the callee to 1003 and is released."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    transfer_keys(p, ca, 101, "##", "1003#", "blind")
    cc = target_answers(c)
    ca.wait_bye()
    answer_updates(b, c)
    flows(cb, cc)
    assert cb.rtp.dtmf_events(pt, t0) == []
    hang_up(p, cb, cc)


def test_attended_transfer_by_caller(call_pbx, phone):
    """Option T, attended: the caller hangs up after consulting; callee and 1003 are joined."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    t0 = time.monotonic()
    transfer_keys(p, ca, 101, "*2", "1003", "attended")  # no '#': digit_timeout ends the number
    cc = target_answers(c)
    callib.wait_log(p, r"talks to")
    flows(ca, cc)
    assert ca.bye().status == 200
    callib.wait_log(p, r"attended transfer: .* joins ")
    answer_updates(b, c)
    flows(cb, cc)
    assert cb.rtp.dtmf_events(pt, t0) == []
    assert len(callib.channels(p)) == 2
    hang_up(p, cb, cc)


def test_attended_target_busy_back_to_call(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    transfer_keys(p, cb, pt, "*2", "1003#", "attended")
    cc = c.incoming()
    cc.reject(486)
    callib.wait_log(p, r"back to")
    flows(ca, cb)
    assert len(callib.channels(p)) == 2
    hang_up(p, cb, ca)


def test_transferor_hangs_up_while_target_rings(call_pbx, phone):
    """The transferor hangs up before the target answers: the held caller hears
    ringing instead of music, and is joined to the target when it answers."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    transfer_keys(p, cb, pt, "*2", "1003#", "attended")
    cc = c.incoming()
    cc.ring()
    assert cb.bye().status == 200
    callib.wait_log(p, r"waits for .* to answer")
    t0 = time.monotonic()
    time.sleep(1.0)
    heard = ca.rtp.audio("PCMU", since=t0)
    assert callib.tone_seconds(heard, 440, share=0.3) > 0.5, "the caller hears no ringing"
    cc.answer(codecs=("PCMU",))
    callib.wait_log(p, r"answered: joins")
    answer_updates(a, c)
    flows(ca, cc)
    hang_up(p, cc, ca)


def test_transferor_hangs_up_and_target_never_answers(call_pbx, phone):
    """The transferor left and the target refuses: nobody is left to go back to, so
    the held caller is hung up, and nothing is left over."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    transfer_keys(p, cb, pt, "*2", "1003#", "attended")
    cc = c.incoming()
    cc.ring()
    assert cb.bye().status == 200
    callib.wait_log(p, r"waits for .* to answer")
    cc.reject(486)
    ca.wait_bye()
    ends_clean(p)


def test_held_party_hangs_up_while_consulting(call_pbx, phone):
    """The held caller hangs up while the callee talks to the target: the transferor
    and the target talk on; then nothing is left over."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    pt = cb.offer.dtmf_pt
    transfer_keys(p, cb, pt, "*2", "1003#", "attended")
    cc = target_answers(c)
    callib.wait_log(p, r"talks to")
    assert ca.bye().status == 200
    callib.wait_log(p, r"the held party left")
    answer_updates(b, c)
    flows(cb, cc)
    assert len(callib.channels(p)) == 2
    hang_up(p, cc, cb)


def test_caller_consulting_when_callee_hangs_up(call_pbx, phone):
    """Option T: the held callee hangs up while the caller consults: the caller and
    the target talk on; then nothing is left over."""
    p = call_pbx(dialplan=DIALPLAN)
    a, b, ca, cb = call_answered(p, phone)
    c = phone(p, "1003")
    transfer_keys(p, ca, 101, "*2", "1003#", "attended")
    cc = target_answers(c)
    callib.wait_log(p, r"talks to")
    assert cb.bye().status == 200
    callib.wait_log(p, r"the held party left")
    answer_updates(a, c)
    flows(ca, cc)
    assert len(callib.channels(p)) == 2
    hang_up(p, cc, ca)
