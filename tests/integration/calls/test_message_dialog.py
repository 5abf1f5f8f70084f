"""MESSAGE inside a call's dialog (issue 14): relayed to the other leg of
the bridged call, through the core, with raw SIP phones (callib.Phone):

- in an answered call, a MESSAGE in one phone's dialog reaches the other
  phone in *its* dialog (Call-ID and tags of the other leg, CSeq above the
  last), body and Content-Type unchanged; the sender gets 200; both ways;
  on the shipped config and dialplan;
- the other phone refuses (486): the sender hears it; a 481 of the other
  phone is not passed on (it would end the sender's call): 480, and the
  call goes on;
- a call answered by the PBX and bridged to nobody (an application), and
  a call still ringing (early dialog): 488 with a reason;
- a MESSAGE with a To tag of no dialog, and one in a dialog that ended:
  481;
- nothing is left behind: no channel after the calls.
"""

import re

import callib
from callib import _uri_of
from siplib import build_request, token


USERS = ("1001", "1002")


def body_of(m):
    return m.body.decode() if isinstance(m.body, bytes) else m.body


def connect(p, a, b, target="1002"):
    """@a calls @target, @b answers: (caller's Call, callee's Call), both confirmed."""
    ca = a.call(target)
    cb = b.incoming()
    cb.ring()
    cb.answer()
    ca.established()
    return ca, cb


def send_in(call, text, ctype="text/plain"):
    """MESSAGE in @call's dialog; its CSeq."""
    return call.request("MESSAGE", body=text.encode() if isinstance(text, str) else text,
                        content_type=ctype)


def answer_of(call, cseq):
    return call.p.response_of(call.call_id, cseq, "MESSAGE")


def relayed(call, status=200):
    """The MESSAGE the PBX sends in @call's dialog, checked to belong to it, answered @status."""
    m = call.wait_request("MESSAGE")  # same Call-ID; our tag in To, the PBX's in From; CSeq up
    assert m.call_id == call.call_id
    call.p.reply(m, status)
    return m


def hang_up(p, ca, cb):
    assert ca.bye().status == 200
    cb.wait_bye()
    callib.wait_channels(p, 0, what="no channel after the call")


def test_message_in_a_call_reaches_the_other_leg_on_shipped_defaults(shipped_pbx):
    p = shipped_pbx(users=USERS)
    a = callib.Phone(p, "1001", callib.PASSWORD)
    b = callib.Phone(p, "1002", callib.PASSWORD)
    try:
        a.register()
        b.register()
        ca, cb = connect(p, a, b)
        assert ca.call_id != cb.call_id, "a B2BUA: two dialogs"

        text = "Can you hear me? Grüße ☕"
        cseq = send_in(ca, text, "text/plain;charset=UTF-8")
        m = relayed(cb)
        assert body_of(m) == text
        assert m["Content-Type"] == "text/plain;charset=UTF-8"
        assert int(m["Content-Length"]) == len(text.encode())
        r = answer_of(ca, cseq)
        assert r.status == 200, r.text()

        # The other way, another type: the caller's phone gets it in its own dialog.
        html = "<p>yes, <b>loud</b></p>"
        cseq = send_in(cb, html, "text/html")
        m = relayed(ca)
        assert body_of(m) == html and m["Content-Type"] == "text/html"
        # The caller's dialog: From carries the PBX's tag (ca's remote), To ours.
        assert re.search(r";tag=([^;>\s]+)", m["To"]).group(1) == ca.local_tag
        assert answer_of(cb, cseq).status == 200

        hang_up(p, ca, cb)
    finally:
        a.close()
        b.close()


def test_the_other_party_refusing(call_pbx, phone):
    p = call_pbx(users=USERS)
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca, cb = connect(p, a, b)

    cseq = send_in(ca, "busy?")
    relayed(cb, 486)
    r = answer_of(ca, cseq)
    assert r.status == 486, r.text()

    # A 481 from the other phone is about its hop: the sender's call is not ended by it.
    cseq = send_in(ca, "still there?")
    relayed(cb, 481)
    r = answer_of(ca, cseq)
    assert r.status == 480, r.text()
    assert r.reason == "The other party did not take the message", r.reason

    cseq = send_in(ca, "and now?")
    relayed(cb, 200)
    assert answer_of(ca, cseq).status == 200
    assert len(callib.channels(p)) == 2, "the call goes on"
    hang_up(p, ca, cb)


def test_no_other_party_and_a_ringing_call(call_pbx, phone):
    p = call_pbx(users=USERS)
    a = phone(p, "1001")
    b = phone(p, "1002")

    # Answered by an application (600 reads digits), bridged to nobody.
    ca = a.call("600")
    ca.established()
    cseq = send_in(ca, "anyone?")
    r = answer_of(ca, cseq)
    assert r.status == 488, r.text()
    assert r.reason == "No other party in the call to relay to", r.reason
    assert ca.bye().status == 200
    callib.wait_channels(p, 0)

    # Still ringing: the caller's early dialog (the 180's tag and Contact).
    ca = a.call("1002")
    cb = b.incoming()
    cb.ring()
    ringing = ca.provisional(180)
    ca.remote_tag = re.search(r";tag=([^;>\s]+)", ringing["To"]).group(1)
    ca.remote_target = _uri_of(ringing["Contact"])
    cseq = send_in(ca, "pick up!")
    r = answer_of(ca, cseq)
    assert r.status == 488, r.text()
    assert r.reason == "The call is not answered", r.reason
    assert b.quiet(lambda m: m.method == "MESSAGE", 0.5), "nothing reaches the ringing phone"
    ok, fin = ca.cancel()
    assert ok.status == 200 and fin.status == 487
    cancel = cb.wait_request("CANCEL")
    b.reply(cancel, 200)
    cb.reject(487)
    callib.wait_channels(p, 0, what="no channel after the cancelled call")


def test_unknown_and_ended_dialogs_get_481(call_pbx, phone):
    p = call_pbx(users=USERS)
    a = phone(p, "1001")
    b = phone(p, "1002")

    # A To tag that names no dialog (the out-of-dialog handler answers it).
    cid = token()
    ruri = f"sip:1002@{a.domain}"
    a.send(build_request("MESSAGE", ruri, via_port=a.port, from_uri=f"sip:1001@{a.domain}",
                         from_tag=token(4), to_uri=ruri, to_tag=token(4), call_id=cid, cseq=1,
                         headers=["Content-Type: text/plain"], body="lost"))
    assert a.response_of(cid, 1).status == 481

    # A dialog that ended.
    ca, cb = connect(p, a, b)
    hang_up(p, ca, cb)
    cseq = send_in(ca, "too late")
    assert answer_of(ca, cseq).status == 481
    assert b.quiet(lambda m: m.method == "MESSAGE", 0.5)
    callib.wait_channels(p, 0)
