"""app.dial outcomes, each reaching the dialplan branch that tests DIALSTATUS.

The test dialplan (conftest.DIALPLAN) dials 1XXX for 2 s when 2XXX is
called and then logs "DIALSTATUS=..." and "BRANCH ..." and hangs up with a
cause of its own per branch, which the caller sees as the final response:
BUSY -> 486, NOANSWER -> 408, CHANUNAVAIL -> 404. A caller's CANCEL ends
the main function (as in Asterisk), so it is seen in the `h` extension,
which logs DIALSTATUS too.

Forking: a user with two registered contacts gets one INVITE on each;
when one answers, the other is CANCELled (with Reason: SIP;cause=200).
"""

import re
import time

import pytest

import callib


def dial_status_lines(p):
    return re.findall(r"DIALSTATUS=(\S+) ret=(\S+) target=(\d+)", p.log())


def test_busy_reaches_the_busy_branch(call_pbx, phone):
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("2002")
    cb = b.incoming()
    ack = cb.reject(486)
    assert ack.method == "ACK"
    r = ca.final()
    assert r.status == 486, f"caller got {r.status} {r.reason}, expected the busy branch's 486"
    ca.ack_failure(r)
    callib.wait_log(p, r"BRANCH busy")
    assert dial_status_lines(p) == [("BUSY", "BUSY", "1002")], p.log()[-2000:]
    assert "BRANCH noanswer" not in p.log() and "BRANCH chanunavail" not in p.log()
    callib.wait_channels(p, 0)


def test_no_answer_reaches_the_noanswer_branch(call_pbx, phone):
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("2002")
    cb = b.incoming()
    t0 = time.monotonic()
    cb.ring()
    ca.provisional(180)
    # The dial timeout (2 s) ends the ringing: the callee gets CANCEL.
    cancel = cb.wait_request("CANCEL", timeout=5)
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 4, f"CANCEL after {elapsed:.1f}s of ringing, dial timeout is 2 s"
    b.reply(cancel, 200)
    cb.reject(487)
    r = ca.final()
    assert r.status == 408, f"caller got {r.status} {r.reason}, expected the noanswer branch's 408"
    ca.ack_failure(r)
    callib.wait_log(p, r"BRANCH noanswer")
    assert dial_status_lines(p) == [("NOANSWER", "NOANSWER", "1002")], p.log()[-2000:]
    callib.wait_channels(p, 0)


@pytest.mark.parametrize("target", ["1003", "1999"])
def test_unregistered_target_reaches_the_chanunavail_branch(call_pbx, phone, target):
    """1003 is a user with no contact; 1999 is no user at all."""
    p = call_pbx()
    a = phone(p, "1001")
    assert not callib.siplib.contacts_of(p, target)
    ca = a.call("2" + target[1:])
    r = ca.final()
    assert r.status == 404, \
        f"caller got {r.status} {r.reason}, expected the chanunavail branch's 404"
    ca.ack_failure(r)
    callib.wait_log(p, r"BRANCH chanunavail")
    assert dial_status_lines(p) == [("CHANUNAVAIL", "CHANUNAVAIL", target)], p.log()[-2000:]
    callib.wait_channels(p, 0)


def test_caller_cancel_while_ringing(call_pbx, phone):
    """CANCEL from the caller: 200 + 487 to it, CANCEL to the callee, DIALSTATUS=CANCEL in h."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")          # `_1XXX`: dial for 20 s
    cb = b.incoming()
    cb.ring()
    ca.provisional(180)
    ok, fin = ca.cancel()
    assert ok.status == 200, ok.text()
    assert fin.status == 487, f"the INVITE ended with {fin.status}, expected 487"
    cancel = cb.wait_request("CANCEL")
    b.reply(cancel, 200)
    ack = cb.reject(487)
    assert ack.method == "ACK"
    callib.wait_log(p, r"HANGUP HANDLER DIALSTATUS=(\S+)")
    assert re.search(r"HANGUP HANDLER DIALSTATUS=(\S+)", p.log()).group(1) == "CANCEL"
    # The main function did not go on past the dial: it ended with the hangup.
    assert "DIAL 1002" not in p.log()
    callib.wait_channels(p, 0)


def test_fork_to_two_contacts_second_answers(call_pbx, phone):
    """Two contacts of 1003: both get the INVITE; the one that only rings is CANCELled."""
    p = call_pbx()
    a = phone(p, "1001")
    ringer = phone(p, "1003", name="1003-ringer")
    answerer = phone(p, "1003", name="1003-answerer")
    contacts = callib.siplib.contacts_of(p, 1003)
    assert len(contacts) == 2, contacts

    ca = a.call("1003")
    c1 = ringer.incoming()
    c2 = answerer.incoming()
    assert c1.call_id != c2.call_id, "both forks in one dialog"
    c1.ring()
    ca.provisional(180)
    c2.ring()
    c2.answer()
    ca.established()

    cancel = c1.wait_request("CANCEL")
    assert cancel["CSeq"].split()[1] == "CANCEL"
    assert cancel.cseq[0] == c1.invite.cseq[0], "CANCEL's CSeq number differs from the INVITE's"
    via_cancel = re.search(r"branch=([^;,\s]+)", cancel["Via"]).group(1)
    via_invite = re.search(r"branch=([^;,\s]+)", c1.invite["Via"]).group(1)
    assert via_cancel == via_invite, "CANCEL is not in the INVITE's transaction"
    reason = cancel.get("Reason", "")
    assert "cause=200" in reason, f"CANCEL of the losing fork has Reason {reason!r}"
    ringer.reply(cancel, 200)
    assert c1.reject(487).method == "ACK"
    # The answerer's leg is the one bridged; the ringer gets nothing more.
    chans = callib.wait_channels(p, 2)
    out = [c for c in chans if c["direction"] == "out"]
    assert len(out) == 1 and out[0]["state"] == "Up", chans

    t0 = time.monotonic()
    ca.rtp.start_stream(ca.remote_sdp.codec, callib.tone(1000, 0.4))
    c2.rtp.wait_packets(10, since=t0, what="caller's audio at the answering contact")
    ca.rtp.stop_stream()

    assert ca.bye().status == 200
    c2.wait_bye()
    assert ringer.quiet(lambda m: m.method in ("BYE", "INVITE"), 0.5)
    callib.wait_channels(p, 0)


def test_fork_both_answer_the_later_gets_ack_and_bye(call_pbx, phone):
    """Both contacts answer at once: one wins, the other's 2xx is ACKed, then BYE'd."""
    p = call_pbx()
    a = phone(p, "1001")
    f1 = phone(p, "1003", name="1003-a")
    f2 = phone(p, "1003", name="1003-b")
    ca = a.call("1003")
    c1, c2 = f1.incoming(), f2.incoming()
    c1.ring()
    c2.ring()
    c1.answer(wait_ack=False)
    c2.answer(wait_ack=False)
    ca.established()
    assert c1.wait_request("ACK").method == "ACK"
    assert c2.wait_request("ACK").method == "ACK"
    byes = [(f, c) for f, c in ((f1, c1), (f2, c2))
            if not f.quiet(lambda m: m.method == "BYE", 1.0)]
    assert len(byes) == 1, "expected exactly one of the two answered forks to get BYE"
    loser_phone, loser = byes[0]
    bye = loser.wait_bye()
    assert "cause=200" in bye.get("Reason", ""), bye.text()
    winner = c2 if loser is c1 else c1
    chans = callib.wait_channels(p, 2)
    assert all(ch["bridged_to"] for ch in chans), chans
    assert ca.bye().status == 200
    winner.wait_bye()
    callib.wait_channels(p, 0)


def test_caller_cancel_before_the_callee_sent_anything(call_pbx, phone):
    """RFC 3261 9.1: the PBX CANCELs the callee only after a provisional response from it."""
    p = call_pbx()
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    inv = b.expect(lambda m: m.method == "INVITE", callib.WAIT, "INVITE")  # no 100 sent back
    ok, fin = ca.cancel()
    assert (ok.status, fin.status) == (200, 487)
    assert b.quiet(lambda m: m.method == "CANCEL", 0.6), "CANCEL before any provisional"
    b.reply(inv, 180, to_tag="late", contact=True)
    cancel = b.request_of("CANCEL", inv.call_id)
    b.reply(cancel, 200)
    b.reply(inv, 487, to_tag="late")
    b.request_of("ACK", inv.call_id)
    callib.wait_log(p, r"HANGUP HANDLER DIALSTATUS=CANCEL")
    callib.wait_channels(p, 0)
