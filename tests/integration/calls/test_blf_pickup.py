"""Pickup by a BLF key (issue 14): while a call rings at the watched
extension, the `dialog` package's NOTIFY names the ringing dialog
(call-id, local-tag, remote-tag, as RFC 4235 and Asterisk give them) and
the caller (<remote><identity>), and a phone takes the call with an INVITE
whose Replaces header is built from that NOTIFY alone: it is answered in
the ringing phone's place, the caller is connected to it, and the ringing
phone is cancelled. The XML is checked with the test's own parser.
"""

import xml.etree.ElementTree as ET

import callib
import siplib
from test_mwi import Subscriber
from test_transfer_refer import invite_with

NS = {"d": "urn:ietf:params:xml:ns:dialog-info"}
DIALPLAN = callib.DIALPLAN + '''
hints = { default = { ["1002"] = "SIP/1002" } }
'''


def dialog_of(n):
    """The <dialog> element of a dialog-info NOTIFY (None: no dialog)."""
    assert n["Event"] == "dialog" and n["Content-Type"] == "application/dialog-info+xml"
    root = ET.fromstring(n.body)
    assert root.tag == "{urn:ietf:params:xml:ns:dialog-info}dialog-info", root.tag
    assert root.get("state") == "full"
    return root.find("d:dialog", NS)


def next_dialog(s, state):
    """NOTIFYs until one whose dialog is in @state (None: no dialog); its <dialog>."""
    seen = []
    for _ in range(6):
        d = dialog_of(s.notify())
        st = d.find("d:state", NS).text if d is not None else None
        seen.append(st)
        if st == state:
            return d
    raise AssertionError(f"no NOTIFY with {state}: {seen}")


def test_blf_notify_names_the_ringing_dialog_and_a_phone_picks_it_up(call_pbx, phone):
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        s = Subscriber(c, "1004", mailbox="1002", domain=p.domain, event="dialog",
                       accept="application/dialog-info+xml")
        assert s.subscribe(expires=600, password=callib.PASSWORD).status == 200
        a, b, d = phone(p, "1001"), phone(p, "1002"), phone(p, "1004")
        next_dialog(s, None)

        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.ring()
        early = next_dialog(s, "early")
        assert early.get("direction") == "recipient"
        # The PBX's dialog with the ringing phone, as that phone sees it.
        assert early.get("call-id") == cb.call_id, ET.tostring(early)
        assert early.get("local-tag") == cb.local_tag
        assert early.get("remote-tag") == cb.remote_tag
        caller = early.find("d:remote/d:identity", NS)
        assert caller is not None and caller.text.startswith("sip:1001@"), ET.tostring(early)
        assert early.find("d:local/d:identity", NS).text.startswith("sip:1002@")

        # The BLF key: INVITE with Replaces from the NOTIFY's identifiers.
        replaces = (f"{early.get('call-id')};to-tag={early.get('remote-tag')};"
                    f"from-tag={early.get('local-tag')}")
        cd = invite_with(d, "1002", [f"Replaces: {replaces}"])
        cd.established()
        ca.established()
        cancel = cb.wait_request("CANCEL")
        b.reply(cancel, 200)
        cb.reject(487)
        assert len(callib.channels(p)) == 2
        assert ca.bye().status == 200
        cd.wait_bye()
        callib.wait_channels(p, 0, what="no channel after the picked-up call")
        # Confirmed never: the call left 1002's phone before it answered.
        next_dialog(s, None)
    finally:
        c.close()


def test_notify_without_a_ringing_dialog_has_no_identifiers(call_pbx, phone):
    """Talking (confirmed) shows no identifiers: only a ringing call can be picked up."""
    p = call_pbx(dialplan=DIALPLAN)
    c = siplib.SipClient(p.port, "udp")
    try:
        s = Subscriber(c, "1004", mailbox="1002", domain=p.domain, event="dialog",
                       accept="application/dialog-info+xml")
        assert s.subscribe(expires=600, password=callib.PASSWORD).status == 200
        a, b = phone(p, "1001"), phone(p, "1002")
        next_dialog(s, None)
        ca = a.call("1002", codecs=("PCMU",))
        cb = b.incoming()
        cb.answer(codecs=("PCMU",))
        ca.established()
        talking = next_dialog(s, "confirmed")
        assert talking.get("call-id") is None, ET.tostring(talking)
        assert ca.bye().status == 200
        cb.wait_bye()
        callib.wait_channels(p, 0)
    finally:
        c.close()
