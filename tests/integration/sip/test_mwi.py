"""SUBSCRIBE/NOTIFY (RFC 6665) and the message-summary package (RFC 3842).

Raw SIP over UDP and TCP (siplib) drives the subscription's life: the
challenge, the 200 and the first NOTIFY with the mailbox's counts, a
NOTIFY on every change (`voicemail delete` from the console), refresh,
unsubscribe, expiry, 489/423/481/403, the end of a subscription whose
NOTIFY gets 481, NOTIFYs after a restart, and unsolicited MWI on
registration. A baresip with its mwi module subscribes on the shipped
config.

"1 new message" is a WAV placed in STATE_DIR/voicemail/<mailbox>/INBOX/
before the PBX starts: the store adopts it at start.
"""

import json
import re
import sys
import time
import wave
from pathlib import Path

import pytest

import siplib
from siplib import authorization, challenge_for, response_to, token

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "calls"))

PASSWORD = "s3cret"
WAIT = 10


def put_message(p, mailbox, folder="INBOX", n=1):
    """Leave @n WAV files in @mailbox's @folder (adopted at the next start)."""
    d = p.state_dir / "voicemail" / mailbox / folder
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        with wave.open(str(d / f"msg{900 + i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 8000)


def body_fields(msg):
    body = msg.body.decode() if isinstance(msg.body, bytes) else msg.body
    return dict(re.findall(r"^([A-Za-z-]+):\s*(.*?)\s*$", body, re.M))


def subscriptions(p):
    return json.loads(p.ok("sip show subscriptions --json"))


class Subscriber:
    """One subscription dialog from a raw SIP client."""

    def __init__(self, c, user, mailbox=None, domain="test.local", event="message-summary",
                 accept="application/simple-message-summary"):
        self.c = c
        self.accept = accept
        self.user = user
        self.domain = domain
        self.event = event
        self.call_id = token()
        self.tag = token(4)
        self.to_tag = None
        self.cseq = 0
        self.notify_cseq = 0
        self.ruri = f"sip:{mailbox or user}@{domain}"

    def send(self, expires=None, auth=None, headers=(), to_tag=None):
        self.cseq += 1
        hs = [f"Event: {self.event}", f"Accept: {self.accept}"]
        hs += list(headers)
        if auth:
            hs.append(f"Authorization: {auth}")
        self.c.request("SUBSCRIBE", self.ruri, from_uri=f"sip:{self.user}@{self.domain}",
                       from_tag=self.tag, to_uri=self.ruri, to_tag=to_tag or self.to_tag,
                       call_id=self.call_id, cseq=self.cseq,
                       contact=f"<{self.c.contact_uri(self.user)}>", expires=expires,
                       headers=hs)
        r = self.c.response(self.call_id, self.cseq, timeout=WAIT)
        assert r is not None, f"no answer to SUBSCRIBE {self.cseq}"
        return r

    def subscribe(self, expires=600, password=PASSWORD, **kw):
        """Challenge, then credentials: the final response to the second SUBSCRIBE."""
        r = self.send(expires=expires, **kw)
        assert r.status == 401, r.text()
        auth = authorization(challenge_for(r, "MD5"), self.user, password, "SUBSCRIBE",
                             self.ruri)
        r = self.send(expires=expires, auth=auth, **kw)
        if r.status == 200:
            self.to_tag = re.search(r"tag=([^;>\s]+)", r["To"]).group(1)
        return r

    def notify(self, timeout=WAIT, answer=200):
        """The next NOTIFY the PBX sends us, answered @answer."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.c.wait_request("NOTIFY", max(deadline - time.monotonic(), 0.01))
            assert n is not None, "no NOTIFY"
            if answer:
                self.c.send(response_to(n, answer))
            if n.cseq[0] > self.notify_cseq:  # else a retransmission, answered again
                self.notify_cseq = n.cseq[0]
                return n


def unsolicited(c, seen, timeout=WAIT):
    """The next out-of-dialog NOTIFY (each has its own Call-ID), answered 200;
    retransmissions of ones in @seen are answered and skipped. None if none."""
    deadline = time.monotonic() + timeout
    while True:
        n = c.wait_request("NOTIFY", max(deadline - time.monotonic(), 0.01))
        if n is None:
            return None
        c.send(response_to(n, 200))
        if n.call_id not in seen:
            seen.add(n.call_id)
            return n


@pytest.fixture
def mwi_pbx(sip_pbx):
    return sip_pbx


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_subscribe_gets_counts_and_a_notify_on_change(pbx_factory, sip_client, transport):
    p = pbx_factory()
    put_message(p, "1003")
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ["1003"], PASSWORD)
    s = Subscriber(sip_client(p, transport), "1003")

    r = s.subscribe(expires=600)
    assert r.status == 200, r.text()
    assert int(r["Expires"]) == 600
    assert "message-summary" in r["Allow-Events"]
    n = s.notify()
    assert n["Event"] == "message-summary"
    assert n["Subscription-State"].startswith("active;expires=")
    assert n["Content-Type"] == "application/simple-message-summary"
    assert n.call_id == s.call_id
    f = body_fields(n)
    assert f["Messages-Waiting"] == "yes"
    assert f["Message-Account"] == "sip:1003@test.local"
    assert f["Voice-Message"] == "1/0 (0/0)"

    subs = subscriptions(p)
    assert len(subs) == 1
    assert subs[0]["user"] == "1003" and subs[0]["event"] == "message-summary"
    assert subs[0]["state"] == "active" and subs[0]["call_id"] == s.call_id
    assert 500 < subs[0]["expires_in"] <= 600
    assert "1003" in p.ok("sip show subscriptions")

    # A change of the mailbox from the console: NOTIFY at once, CSeq up.
    p.ok("voicemail delete 1003 1")
    n2 = s.notify()
    assert n2.cseq[0] > n.cseq[0]
    f = body_fields(n2)
    assert f["Messages-Waiting"] == "no" and f["Voice-Message"] == "0/0 (0/0)"


def test_unauthenticated_subscribe_is_challenged(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"])
    s = Subscriber(sip_client(p), "1003")
    r = s.send(expires=600)
    assert r.status == 401
    assert r.all("WWW-Authenticate")
    assert subscriptions(p) == []
    # A wrong password is challenged again and counted as a failure.
    r = s.subscribe(password="wrong")
    assert r.status == 401
    assert "authentication failed for '1003'" in p.log()


def test_unknown_event_gets_489_with_allow_events(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"])
    c = sip_client(p)
    s = Subscriber(c, "1003", event="foo")
    r = s.send(expires=600)
    assert r.status == 489, r.text()
    assert "message-summary" in r["Allow-Events"]
    # Allow-Events is advertised in OPTIONS too.
    assert "message-summary" in c.options()["Allow-Events"]
    # No Event header at all is a bad request.
    c.request("SUBSCRIBE", "sip:1003@test.local", call_id="noev", expires=60,
              contact=f"<{c.contact_uri('1003')}>")
    assert c.response("noev").status == 400


def test_other_mailbox_is_forbidden(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003", "1004"])
    s = Subscriber(sip_client(p), "1003", mailbox="1004")
    r = s.subscribe()
    assert r.status == 403, r.text()
    assert subscriptions(p) == []


def test_expires_too_brief_gets_423_and_max_is_clamped(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"], subscribe_min_expires=60, subscribe_max_expires=900,
                subscribe_default_expires=600)
    s = Subscriber(sip_client(p), "1003")
    r = s.subscribe(expires=10)
    assert r.status == 423 and r["Min-Expires"] == "60"
    s = Subscriber(sip_client(p), "1003")
    r = s.subscribe(expires=100000)
    assert r.status == 200 and int(r["Expires"]) == 900
    assert s.notify()["Subscription-State"].startswith("active")


def test_refresh_and_unsubscribe(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"])
    s = Subscriber(sip_client(p, "tcp"), "1003")
    assert s.subscribe(expires=120).status == 200
    s.notify()
    # Refresh in the dialog: no challenge, a new Expires, a NOTIFY.
    r = s.send(expires=300)
    assert r.status == 200 and int(r["Expires"]) == 300
    assert s.notify()["Subscription-State"].startswith("active")
    assert 200 < subscriptions(p)[0]["expires_in"] <= 300
    # Unsubscribe: 200, a final NOTIFY, and it is gone.
    r = s.send(expires=0)
    assert r.status == 200
    n = s.notify()
    assert n["Subscription-State"].startswith("terminated")
    siplib.wait_for(lambda: subscriptions(p) == [], WAIT, "the subscription to go")
    # A refresh of what is gone: 481.
    assert s.send(expires=300).status == 481


def test_refresh_of_unknown_dialog_gets_481(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"])
    s = Subscriber(sip_client(p), "1003")
    r = s.send(expires=300, to_tag="nosuchtag")
    assert r.status == 481


def test_expiry_sends_terminated_timeout(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"], subscribe_min_expires=1)
    s = Subscriber(sip_client(p), "1003")
    assert s.subscribe(expires=2).status == 200
    assert s.notify()["Subscription-State"].startswith("active")
    n = s.notify(timeout=WAIT)
    assert n["Subscription-State"] == "terminated;reason=timeout"
    siplib.wait_for(lambda: subscriptions(p) == [], WAIT, "the subscription to go")


def test_notify_answered_481_ends_the_subscription(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"])
    s = Subscriber(sip_client(p), "1003")
    assert s.subscribe().status == 200
    s.notify(answer=481)
    siplib.wait_for(lambda: subscriptions(p) == [], WAIT, "the subscription to end")


def test_deleting_the_user_terminates_its_subscription(mwi_pbx, sip_client):
    p = mwi_pbx(users=["1003"])
    s = Subscriber(sip_client(p), "1003")
    assert s.subscribe().status == 200
    s.notify()
    p.ok("user del 1003")
    n = s.notify()
    assert n["Subscription-State"] == "terminated;reason=noresource"
    siplib.wait_for(lambda: subscriptions(p) == [], WAIT, "the subscription to go")


def test_restart_notifies_live_subscriptions(pbx_factory, sip_client):
    p = pbx_factory()
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ["1003"], PASSWORD)
    s = Subscriber(sip_client(p), "1003")
    assert s.subscribe(expires=600).status == 200
    first = s.notify()
    assert body_fields(first)["Messages-Waiting"] == "no"
    p.stop()
    put_message(p, "1003", n=2)
    p.start()
    # The restarted PBX NOTIFYs in the same dialog, CSeq still going up.
    n = s.notify()
    assert n.call_id == s.call_id and n.cseq[0] > first.cseq[0]
    assert n["Subscription-State"].startswith("active")
    f = body_fields(n)
    assert f["Messages-Waiting"] == "yes" and f["Voice-Message"] == "2/0 (0/0)"
    subs = subscriptions(p)
    assert len(subs) == 1 and subs[0]["call_id"] == s.call_id
    # The restored dialog takes refreshes.
    r = s.send(expires=600)
    assert r.status == 200
    s.notify()


def test_unsolicited_notify_on_registration_and_change(pbx_factory, sip_client):
    p = pbx_factory()
    put_message(p, "1003")
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ["1003"], PASSWORD)
    p.ok("user set 1003 mwi unsolicited")
    c = sip_client(p)
    ua = siplib.UA(c, "1003", PASSWORD)
    seen = set()
    assert ua.register(expires=600).status == 200
    n = unsolicited(c, seen)
    assert n is not None, "no unsolicited NOTIFY after REGISTER"
    assert n["Event"] == "message-summary"
    assert "tag=" not in n["To"]  # outside any dialog
    assert n.ruri == c.contact_uri("1003")
    f = body_fields(n)
    assert f["Messages-Waiting"] == "yes" and f["Voice-Message"] == "1/0 (0/0)"
    assert subscriptions(p) == []
    # A re-registration tells it again; a change too.
    assert ua.register(expires=600).status == 200
    assert unsolicited(c, seen) is not None
    p.ok("voicemail delete 1003 1")
    n = unsolicited(c, seen)
    assert n is not None
    assert body_fields(n)["Messages-Waiting"] == "no"
    # A user back on subscribe gets no more unsolicited NOTIFYs.
    p.ok("user set 1003 mwi subscribe")
    assert ua.register(expires=600).status == 200
    assert unsolicited(c, seen, timeout=1.5) is None


def test_baresip_mwi_on_shipped_defaults(pbx_factory, tmp_path):
    """A baresip with its mwi module, on the shipped config with only what a
    user must set: it subscribes after registering and gets the lamp lit."""
    import callib
    from test_shipped_defaults import shipped_config

    p = pbx_factory()
    p.write_config(shipped_config(p))
    put_message(p, "1003")
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ["1003"], callib.PASSWORD)
    src = tmp_path / "silence.wav"
    callib.write_wav(src, [0] * 8000)
    b = callib.Baresip(tmp_path, p, "1003", src, "PCMU", password=callib.PASSWORD,
                       modules=("mwi.so",))
    b.start()
    try:
        def live():
            subs = [x for x in subscriptions(p) if x["user"] == "1003"]
            return subs and subs[0]["notifies"] >= 1 and subs[0]
        sub = siplib.wait_for(live, 20, "baresip to subscribe to message-summary")
        assert sub["event"] == "message-summary" and sub["state"] == "active"
        # The NOTIFY was taken (a refused one would end the subscription).
        time.sleep(0.5)
        assert [x["call_id"] for x in subscriptions(p)] == [sub["call_id"]]
    finally:
        b.stop()
