"""Instant messages (RFC 3428) by the PBX's default routing, with raw SIP
phones (callib.Phone) on the shipped config:

- an authenticated MESSAGE to an online user reaches every device it is
  registered on, attributed to the sender, body and type unchanged and
  without Contact; the sender gets 200;
- to an offline user: 202, the message waits in the directory (`message
  show queue`), survives a restart, and is delivered when the user
  registers, then leaves the queue;
- `message send` from the console; an unknown user gets 404, and a
  MESSAGE without credentials the challenge.
"""

import json


import callib
from callib import authorization, challenge_for
from siplib import build_request, token


USERS = ("1001", "1002", "1003")


def send_message(ph, target, text, auth=True, ctype="text/plain", then=None):
    """@ph sends a MESSAGE to @target (answering the challenge); the final response.
    @then runs after the authenticated MESSAGE is out, before its answer is read (the
    PBX answers once a device has: the test's devices answer in @then)."""
    ruri = f"sip:{target}@{ph.domain}"
    cid, tag = token(), token(4)

    def once(cseq, hdr=None):
        hs = [f"Content-Type: {ctype}"] + ([f"Authorization: {hdr}"] if hdr else [])
        ph.send(build_request("MESSAGE", ruri, via_port=ph.port,
                              from_uri=f"sip:{ph.ext}@{ph.domain}", from_tag=tag, to_uri=ruri,
                              call_id=cid, cseq=cseq, headers=hs, body=text))
        if hdr and then:
            then()
        return ph.response_of(cid, cseq)

    r = once(1)
    if r.status != 401 or not auth:
        return r
    return once(2, authorization(challenge_for(r, "MD5"), ph.ext, ph.password, "MESSAGE", ruri))


def received(ph, status=200):
    """The MESSAGE the PBX sends @ph, answered @status."""
    m = ph.request_of("MESSAGE")
    ph.reply(m, status)
    return m


def body_of(m):
    return m.body.decode() if isinstance(m.body, bytes) else m.body


def queue(p, ext=None):
    return json.loads(p.ok("message show queue" + (f" {ext}" if ext else "") + " --json"))


def test_message_reaches_every_device(shipped_pbx):
    p = shipped_pbx(users=USERS)
    sender = callib.Phone(p, "1001", callib.PASSWORD)
    desk = callib.Phone(p, "1002", callib.PASSWORD)
    soft = callib.Phone(p, "1002", callib.PASSWORD, name="soft1002")
    try:
        for ph in (sender, desk, soft):
            ph.register()
        got = []
        r = send_message(sender, "1002", "Lunch at noon?",
                         then=lambda: got.extend(received(ph) for ph in (desk, soft)))
        assert r.status == 200, r.text()
        assert len(got) == 2, "both devices of 1002 get it"
        for m in got:
            assert body_of(m) == "Lunch at noon?"
            assert "sip:1001@" in m["From"], m["From"]
            assert m["Content-Type"] == "text/plain"
            assert m.get("Contact") is None, "an out-of-dialog MESSAGE carries no Contact"
        assert queue(p, "1002") == []
    finally:
        for ph in (sender, desk, soft):
            ph.close()


def test_offline_message_waits_and_survives_a_restart(shipped_pbx):
    p = shipped_pbx(users=USERS)
    sender = callib.Phone(p, "1001", callib.PASSWORD)
    try:
        sender.register()
        r = send_message(sender, "1003", "Call me back", ctype="text/plain;charset=UTF-8")
        assert r.status == 202, r.text()
        q = queue(p, "1003")
        assert len(q) == 1 and q[0]["sender"] == "1001", q
    finally:
        sender.close()
    p.stop()
    p.start()
    callib.siplib.wait_answering(p)
    assert len(queue(p, "1003")) == 1, "the restart lost the message"
    late = callib.Phone(p, "1003", callib.PASSWORD)
    try:
        late.register()
        m = received(late)
        assert body_of(m) == "Call me back"
        assert "sip:1001@" in m["From"]
        assert m["Content-Type"] == "text/plain;charset=UTF-8"
        callib.siplib.wait_for(lambda: queue(p, "1003") == [], 5, "the queue to empty",
                               interval=0.1)
    finally:
        late.close()


def test_console_send_unknown_user_and_challenge(shipped_pbx):
    p = shipped_pbx(users=USERS)
    ph = callib.Phone(p, "1002", callib.PASSWORD)
    try:
        ph.register()
        out = p.ok("message send 1002 --from 1001 Meeting moved to 3")
        assert "Sending to 1 device of 1002" in out, out
        m = received(ph)
        assert body_of(m) == "Meeting moved to 3" and "sip:1001@" in m["From"]
        p.ok("message send 1002 Lunch is served --from 1003")  # the order
        m = received(ph)
        assert body_of(m) == "Lunch is served" and "sip:1003@" in m["From"]
        assert "no such user '9999'" in p.fail("message send 9999 hello")
        assert send_message(ph, "9999", "anyone?").status == 404
        assert send_message(ph, "1001", "hi", auth=False).status == 401
    finally:
        ph.close()


def test_refused_message_is_retried_while_registered(shipped_pbx):
    """A device that refuses a stored message gets it again after the back-off
    (messaging.retry_interval, 1 s here), without registering again."""
    p = shipped_pbx(users=USERS, extra="messaging.retry_interval = 1\n")
    sender = callib.Phone(p, "1001", callib.PASSWORD)
    late = callib.Phone(p, "1003", callib.PASSWORD)
    try:
        sender.register()
        assert send_message(sender, "1003", "Try again").status == 202
        late.register()
        first = received(late, status=486)
        assert body_of(first) == "Try again"
        q = queue(p, "1003")
        callib.siplib.wait_for(lambda: queue(p, "1003")[0]["attempts"] == 1, 5,
                               "the failure to count", interval=0.1)
        m = late.request_of("MESSAGE", timeout=10)  # the timer, not a registration
        assert m.call_id != first.call_id and body_of(m) == "Try again"
        late.reply(m, 200)
        callib.siplib.wait_for(lambda: queue(p, "1003") == [], 5, "the queue to empty",
                               interval=0.1)
        assert q and q[0]["sender"] == "1001"
    finally:
        sender.close()
        late.close()
