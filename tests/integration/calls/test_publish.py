"""Presence published by phones (RFC 3903 PUBLISH), combined with device
state in what presence watchers get (PIDF), and the hint watchers count.

A raw SIP watcher (test_mwi's Subscriber) subscribes to `presence` of a
hinted extension and reads every NOTIFY's PIDF with xml.etree; a raw
publisher (below) PUBLISHes for its own user: the entity-tag's life
(SIP-ETag, SIP-If-Match for refresh, modify and remove; 412 for a tag
that is gone), Expires (423 below sip.publish_min_expires; expiry on
the PBX's timer), 489 for another event, 415 for another body, 403 for
another user's presence and 401 without credentials. The published
note wins over the device's, and a device in a call still shows: RPID
on-the-phone and the person's note. baresip's presence module publishes
on the shipped config (baresip 1.0 publishes basic open or closed only,
with an empty <rpid:activities/>: its commands are presence_online and
presence_offline, there is no "away" in it; the raw publisher sends
<rpid:away/>).
"""

import json
import re
import xml.etree.ElementTree as ET

import pytest

import callib
import siplib
from siplib import authorization, challenge_for, token
from test_mwi import Subscriber
from test_shipped_defaults import SHIPPED_DIALPLAN

HINTS = '''
hints = { default = { ["1002"] = "SIP/1002" } }
'''
DIALPLAN = callib.DIALPLAN + HINTS
PIDF_TYPE = "application/pidf+xml"
NS = {"p": "urn:ietf:params:xml:ns:pidf",
      "dm": "urn:ietf:params:xml:ns:pidf:data-model",
      "rpid": "urn:ietf:params:xml:ns:pidf:rpid"}


def pidf_doc(user, basic="open", note=None, activities=(), domain="test.local"):
    """A PIDF document as phones publish it: RPID activities in a person element."""
    acts = "".join(f"<rpid:{a}/>" for a in activities)
    return ('<?xml version="1.0" encoding="UTF-8"?>\r\n'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
            f'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:{user}@{domain}">\r\n'
            f'<dm:person id="p1"><rpid:activities>{acts}</rpid:activities></dm:person>\r\n'
            f'<tuple id="t1"><status><basic>{basic}</basic></status>'
            + (f"<note>{note}</note>" if note is not None else "")
            + "</tuple>\r\n</presence>\r\n")


class Publisher:
    """PUBLISHes of one raw client for @user, each challenged then sent with credentials."""

    def __init__(self, c, user, presentity=None, domain="test.local", password=callib.PASSWORD):
        self.c = c
        self.user = user
        self.domain = domain
        self.password = password
        self.ruri = f"sip:{presentity or user}@{domain}"
        self.call_id = token()
        self.cseq = 0

    def send(self, body=None, etag=None, expires=None, event="presence", ctype=PIDF_TYPE,
             auth=None):
        self.cseq += 1
        hs = [f"Event: {event}"]
        if etag:
            hs.append(f"SIP-If-Match: {etag}")
        if body is not None:
            hs.append(f"Content-Type: {ctype}")
        if auth:
            hs.append(f"Authorization: {auth}")
        self.c.request("PUBLISH", self.ruri, from_uri=f"sip:{self.user}@{self.domain}",
                       to_uri=self.ruri, call_id=self.call_id, cseq=self.cseq,
                       expires=expires, headers=hs, body=body or b"")
        r = self.c.response(self.call_id, self.cseq, timeout=callib.WAIT)
        assert r is not None, f"no answer to PUBLISH {self.cseq}"
        return r

    def publish(self, body=None, etag=None, expires=None, **kw):
        """Without credentials (401 expected), then with them: the final response."""
        r = self.send(body, etag, expires, **kw)
        if r.status != 401:
            return r
        auth = authorization(challenge_for(r, "MD5"), self.user, self.password, "PUBLISH",
                             self.ruri)
        return self.send(body, etag, expires, auth=auth, **kw)


def presence(n):
    """What a presence NOTIFY says: basic, note, activities, the person's note."""
    assert n["Event"] == "presence" and n["Content-Type"] == PIDF_TYPE
    body = n.body.decode() if isinstance(n.body, bytes) else n.body
    root = ET.fromstring(body)
    assert root.tag == "{urn:ietf:params:xml:ns:pidf}presence", body
    person_note = root.find("dm:person/dm:note", NS)
    return {
        "basic": root.find("p:tuple/p:status/p:basic", NS).text,
        "note": root.find("p:tuple/p:note", NS).text,
        "activities": {a.tag.split("}")[1]
                       for a in root.findall("dm:person/rpid:activities/*", NS)},
        "person_note": person_note.text if person_note is not None else None,
    }


def wait_presence(s, want, what):
    """NOTIFYs until one's PIDF has every key of @want as given; that PIDF."""
    seen = []
    for _ in range(8):
        got = presence(s.notify())
        seen.append(got)
        if all(got[k] == v for k, v in want.items()):
            return got
    raise AssertionError(f"{what}: no NOTIFY with {want}: {seen}")


def watch(p, c, watcher="1001", ext="1002"):
    s = Subscriber(c, watcher, mailbox=ext, domain=p.domain, event="presence",
                   accept=PIDF_TYPE)
    r = s.subscribe(expires=600, password=callib.PASSWORD)
    assert r.status == 200, r.text()
    return s


def hint_watchers(p, ext="1002"):
    return {h["exten"]: h["watchers"] for h in json.loads(p.ok("core show hints --json"))}[ext]


def test_publish_etag_refresh_modify_remove(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        phone(p, "1002")
        assert hint_watchers(p) == 0
        s = watch(p, c)
        wait_presence(s, {"basic": "open", "note": "Available"}, "registered, nothing published")
        assert hint_watchers(p) == 1
        assert re.search(r"^1002@default\s+SIP/1002\s+NOT_INUSE\s+1$",
                         p.ok("core show hints"), re.M), p.ok("core show hints")

        pub = Publisher(c, "1002", domain=p.domain)
        r = pub.send(pidf_doc("1002", note="Out to lunch", activities=("away",)), expires=600)
        assert r.status == 401, "a PUBLISH without credentials is challenged"
        r = pub.publish(pidf_doc("1002", note="Out to lunch", activities=("away",)),
                        expires=600)
        assert r.status == 200, r.text()
        e1 = r["SIP-ETag"]
        assert e1 and r["Expires"] == "600"
        got = wait_presence(s, {"note": "Out to lunch"}, "published")
        assert got["basic"] == "open" and got["activities"] == {"away"}, got
        assert got["person_note"] == "Available", got

        # Refresh: no body, the tag; a new tag comes back, the old one is gone.
        r = pub.publish(etag=e1, expires=300)
        assert r.status == 200 and r["Expires"] == "300", r.text()
        e2 = r["SIP-ETag"]
        assert e2 and e2 != e1
        assert pub.publish(etag=e1, expires=300).status == 412
        assert pub.publish(etag="no-such-tag", expires=300).status == 412

        # Modify: a new document under the tag.
        r = pub.publish(pidf_doc("1002", basic="closed", note="Gone home &amp; offline"),
                        etag=e2, expires=600)
        assert r.status == 200, r.text()
        e3 = r["SIP-ETag"]
        assert e3 not in (e1, e2)
        got = wait_presence(s, {"note": "Gone home & offline"}, "modified")
        assert got["basic"] == "closed" and got["activities"] == set(), got

        # Refusals, none of which touches the publication.
        r = pub.publish(pidf_doc("1002", note="x"), expires=10)
        assert r.status == 423 and r["Min-Expires"] == "60", r.text()
        r = pub.publish(pidf_doc("1002", note="x"), expires=600, event="dialog")
        assert r.status == 489 and "presence" in r["Allow-Events"], r.text()
        r = pub.publish("away", expires=600, ctype="text/plain")
        assert r.status == 415 and r["Accept"] == PIDF_TYPE, r.text()
        r = pub.publish("<presence><tuple>", expires=600)
        assert r.status == 400, r.text()
        r = pub.publish(expires=600)
        assert r.status == 400, "an initial PUBLISH needs a body"
        other = Publisher(c, "1001", presentity="1002", domain=p.domain)
        r = other.publish(pidf_doc("1002", note="Not me"), expires=600)
        assert r.status == 403, r.text()

        # Remove: back to what the device says.
        r = pub.publish(etag=e3, expires=0)
        assert r.status == 200 and r["Expires"] == "0", r.text()
        wait_presence(s, {"basic": "open", "note": "Available"}, "removed")
        assert pub.publish(etag=e3, expires=600).status == 412

        # The watcher goes: the hint has none.
        r = s.send(expires=0)
        assert r.status == 200
        siplib.wait_for(lambda: hint_watchers(p) == 0, 5, "the watcher to leave")
    finally:
        c.close()


def test_publication_expires(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN, publish_min_expires=1)
    c = siplib.SipClient(p.port, "udp")
    try:
        phone(p, "1002")
        s = watch(p, c)
        wait_presence(s, {"note": "Available"}, "registered")
        pub = Publisher(c, "1002", domain=p.domain)
        r = pub.publish(pidf_doc("1002", note="In a meeting", activities=("meeting",)),
                        expires=2)
        assert r.status == 200 and r["Expires"] == "2", r.text()
        wait_presence(s, {"note": "In a meeting", "activities": {"meeting"}}, "published")
        # Nobody refreshes it: the PBX drops it and tells the watcher.
        wait_presence(s, {"note": "Available", "activities": set()}, "expired")
        assert pub.publish(etag=r["SIP-ETag"], expires=60).status == 412
    finally:
        c.close()


def test_device_in_a_call_shows_beside_the_published_note(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        b = phone(p, "1002")
        a = phone(p, "1003")
        s = watch(p, c)
        wait_presence(s, {"note": "Available"}, "registered")
        pub = Publisher(c, "1002", domain=p.domain)
        r = pub.publish(pidf_doc("1002", note="Out to lunch", activities=("away",)),
                        expires=600)
        assert r.status == 200, r.text()
        wait_presence(s, {"note": "Out to lunch"}, "published")

        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.ring()
        cb.answer(codecs=("PCMU",))
        ca.established()
        got = wait_presence(s, {"person_note": "On the phone"}, "in a call")
        assert got["note"] == "Out to lunch" and got["basic"] == "open", got
        assert got["activities"] == {"away", "on-the-phone"}, got

        ca.bye()
        callib.wait_channels(p, 0)
        got = wait_presence(s, {"person_note": "Available"}, "hung up")
        assert got["note"] == "Out to lunch" and got["activities"] == {"away"}, got
    finally:
        c.close()


@pytest.fixture
def presence_baresip():
    """presence_baresip(workdir, pbx, user, source_wav): a started callib.Baresip with
    the presence module publishing (an application module with its account's pubint:
    otherwise baresip 1.0 never PUBLISHes), stopped at teardown."""
    made = []

    def make(workdir, pbx, user, src):
        b = callib.Baresip(workdir, pbx, user, src, "PCMU", answermode="auto",
                           modules=("presence.so",))
        # An application module: loaded after the accounts, so it finds the UA
        # to publish for (as a plain module it loads first and finds none).
        config = b.dir / "config"
        config.write_text(config.read_text().replace("module\t\t\tpresence.so\n",
                                                      "module_app\t\tpresence.so\n"))
        accounts = b.dir / "accounts"
        accounts.write_text(accounts.read_text().rstrip("\n") + ";pubint=600\n")
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


def test_baresip_publishes_on_the_shipped_config(shipped_pbx, presence_baresip, tmp_path):
    p = shipped_pbx(users=("1001", "1002", "1003"),
                    dialplan=SHIPPED_DIALPLAN.read_text() + HINTS)
    src = tmp_path / "tone.wav"
    callib.write_wav(src, callib.tone(440, 3))
    c = siplib.SipClient(p.port, "udp")
    try:
        s = watch(p, c)
        wait_presence(s, {"basic": "closed", "note": "Offline"}, "not registered")
        b = presence_baresip(tmp_path, p, "1002", src)
        siplib.wait_for(lambda: siplib.contacts_of(p, 1002), 15, "baresip to register",
                        interval=0.2)
        wait_presence(s, {"basic": "open", "note": "Available"}, "registered")
        assert hint_watchers(p) == 1

        # Its user says "offline": the watcher sees closed though it is registered.
        b.command("presence_offline")
        got = wait_presence(s, {"basic": "closed"}, "baresip published closed")
        assert got["note"] == "Offline" and got["person_note"] == "Available", got

        # In a call, the watcher still sees it.
        a = callib.Phone(p, "1003", callib.PASSWORD)
        try:
            a.register()
            ca = a.call("1002", codecs=("PCMU",))
            ca.established()
            got = wait_presence(s, {"person_note": "On the phone"}, "baresip in a call")
            assert got["basic"] == "closed" and "on-the-phone" in got["activities"], got
            ca.bye()
        finally:
            a.close()
        callib.wait_channels(p, 0)

        b.command("presence_online")
        got = wait_presence(s, {"basic": "open", "person_note": "Available"},
                            "baresip published open")
        assert got["activities"] == set(), got
    finally:
        c.close()
