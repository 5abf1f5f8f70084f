"""Call transfer as phones do it: REFER in a call (RFC 3515), blind or with
Replaces in the Refer-To (attended, RFC 3891), the NOTIFYs that report its
progress (message/sipfrag), and INVITE with Replaces.

The phones are callib.Phone: A (1001) calls B (1002); B, the transferor,
sends the REFER in its dialog with A (where B is the callee) and, for an
attended transfer, names in Replaces its own dialog of the call B -> C
(1003). Media is checked by tones: A sends 1000 Hz, B 600 Hz, C 1400 Hz,
D (1004) 1800 Hz, so what a phone hears says who it is bridged to. Every
test ends with no channel and no bridge left.
"""

import re
import time
from urllib.parse import quote

import pytest

import callib  # (puts ../sip on sys.path before siplib is imported)
import siplib
from callib import WAIT, tone, tone_seconds

DIALPLAN = r'''
extensions = {
  default = {
    ["_10XX"] = function(ctx, ext) app.dial("SIP/" .. ext, 20) end,
    ["500"] = function() app.answer() app.wait(10) end,
    ["700"] = function() app.verbose("to the prompt") app.playtones("1800") app.wait(10) end,
  },
}
'''

FREQ = {"1001": 1000, "1002": 600, "1003": 1400, "1004": 1800}
SIPFRAG = "message/sipfrag;version=2.0"


def start(call_pbx, **kw):
    p = call_pbx(dialplan=DIALPLAN, **kw)
    p.ok("core set loglevel info")  # the transfer's steps in pbx-stderr.log
    return p


def connect(caller, callee, target):
    """caller calls @target, rung and answered at @callee: (caller's Call, callee's Call)."""
    co = caller.call(target, codecs=("PCMU",))
    ci = callee.incoming()
    ci.ring()
    ci.answer(codecs=("PCMU",))
    co.established()
    return co, ci


def next_in(call, methods, timeout=WAIT):
    """The next request of @methods in @call's dialog, in arrival order; NOTIFY and
    UPDATE answered 200 (a re-INVITE is the caller's to answer)."""
    req = call.p.expect(lambda m: m.method in methods and m.call_id == call.call_id, timeout,
                        f"{'/'.join(methods)} in {call.call_id}")
    call.check_in_dialog(req)
    if req.method in ("NOTIFY", "UPDATE"):
        call.p.reply(req, 200)
    return req


def refer(call, target, domain, replaces=None, headers=()):
    """REFER in @call to @target (a user), with @replaces (call-id;to-tag;from-tag) in the
    Refer-To when given: the final response."""
    uri = f"sip:{target}@{domain}"
    if replaces:
        uri += "?Replaces=" + quote(replaces, safe="")
    cseq = call.request("REFER", headers=[f"Refer-To: <{uri}>",
                                          f"Referred-By: <sip:{call.p.ext}@{domain}>",
                                          *headers])
    return call.p.response_of(call.call_id, cseq, "REFER")


def replaces_of(call, swapped=False):
    """The Replaces value naming @call's dialog: the PBX's tag as to-tag (RFC 3891, as the
    PBX sees the dialog) or, @swapped, as the phone sees it (some phones send that)."""
    ours, theirs = (call.local_tag, call.remote_tag) if swapped else \
        (call.remote_tag, call.local_tag)
    return f"{call.call_id};to-tag={ours};from-tag={theirs}"


def expect_notify(call, refer_cseq, frag, final):
    n = next_in(call, ("NOTIFY",))
    assert n["Event"].replace(" ", "") == f"refer;id={refer_cseq}", n.text()
    state = n["Subscription-State"].replace(" ", "")
    if final:
        assert state == "terminated;reason=noresource", n.text()
    else:
        assert state.startswith("active;expires="), n.text()
    assert n["Content-Type"].replace(" ", "").lower() == SIPFRAG, n.text()
    assert n.body.decode().strip() == frag, n.text()
    return n


def hears(src, dst, what, seconds=1.0):
    """@src's tone, sent for @seconds, reaches @dst for most of that time, and all of
    what @dst gets meanwhile comes from the PBX's address for @dst's leg."""
    freq = FREQ[src.p.ext]
    t0 = time.monotonic()
    src.rtp.start_stream("PCMU", tone(freq, 0.5))
    time.sleep(seconds + 0.3)
    src.rtp.stop_stream()
    heard = dst.rtp.audio("PCMU", since=t0)
    assert tone_seconds(heard, freq) >= 0.6 * seconds, \
        f"{what}: {freq} Hz not heard ({dst.rtp.count(since=t0)} packets): " \
        f"{callib.tone_windows(heard, freq)[:20]}"
    srcs = {pk[1] for pk in dst.rtp.received(since=t0)}
    assert srcs == {dst.rtp.peer}, \
        f"{what}: RTP came from {srcs}, not from the PBX's {dst.rtp.peer} for this leg"


def both_hear(x, y, what):
    """@x's tone reaches @y and @y's reaches @x (see hears)."""
    hears(x, y, f"{what}: {x.p.ext} heard at {y.p.ext}")
    hears(y, x, f"{what}: {y.p.ext} heard at {x.p.ext}")


def answer_updates(*calls):
    """Answer (200) the connected-line UPDATEs the PBX sent in each call's dialog."""
    for call in calls:
        call.p.answer_all("UPDATE", call_id=call.call_id)


def no_bye(*calls, seconds=0.3):
    for c in calls:
        assert c.p.quiet(lambda m: m.method == "BYE" and m.call_id == c.call_id, seconds), \
            f"{c.p.name}: BYE in {c.call_id}"


def finish(p, caller, callee, left=0):
    """@caller hangs up; @callee gets the BYE; @left channels remain (none: no bridge either)."""
    assert caller.bye().status == 200
    callee.wait_bye()
    if left:
        callib.wait_channels(p, left)
    else:
        nothing_left(p)


def nothing_left(p):
    callib.wait_channels(p, 0, what="no channel after the test")
    siplib.wait_for(lambda: callib.bridges(p) == [], WAIT, "no bridge after the test")


def attended(p, a, b, c, swapped=False):
    """A -> B and B -> C answered, then B's REFER (Replaces = B -> C) in A's call:
    returns (A's call, C's call, B's calls with A and with C, REFER's CSeq)."""
    ab_a, ab_b = connect(a, b, "1002")
    bc_b, bc_c = connect(b, c, "1003")
    callib.wait_channels(p, 4)
    r = refer(ab_b, "1003", p.domain, replaces_of(bc_b, swapped))
    assert r.status == 202, r.text()
    return ab_a, bc_c, ab_b, bc_b, r.cseq[0]


@pytest.mark.parametrize("swapped", [False, True], ids=["pbx-tags", "phone-tags"])
def test_attended_transfer_joins_a_and_c(call_pbx, phone, swapped):
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, bc_c, ab_b, bc_b, cseq = attended(p, a, b, c, swapped)

    n100 = expect_notify(ab_b, cseq, "SIP/2.0 100 Trying", final=False)
    n200 = expect_notify(ab_b, cseq, "SIP/2.0 200 OK", final=True)
    bye = ab_b.wait_bye()
    bc_b.wait_bye()
    # The final NOTIFY was sent before the BYE that ends its dialog.
    assert n100.cseq[0] < n200.cseq[0] < bye.cseq[0], (n100.cseq, n200.cseq, bye.cseq)

    # Each remaining party is told who it now talks to.
    for call, who in ((bc_c, "1001"), (ab_a, "1003")):
        u = next_in(call, ("UPDATE",))
        assert not u.body, u.text()
        assert re.search(rf"<sip:{who}@{re.escape(p.domain)}>", u.get("P-Asserted-Identity", "")), \
            f"{call.p.name}: UPDATE does not name {who}:\n{u.text()}"

    both_hear(ab_a, bc_c, "after the transfer")
    assert len(callib.channels(p)) == 2 and len(callib.bridges(p)) == 1, \
        (callib.channels(p), callib.bridges(p))
    finish(p, ab_a, bc_c)


def test_attended_transfer_of_a_held_call_resumes_it(call_pbx, phone):
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    # B holds A: the PBX plays music to A and tells A it only sends now.
    r = ab_b.reinvite("sendonly")
    assert r.status == 200, r.text()
    hold = next_in(ab_a, ("INVITE",))
    assert callib.Sdp(hold.body).direction == "sendonly", hold.text()
    ab_a.answer_reinvite(hold, "recvonly")
    t_hold = time.monotonic()
    ab_a.rtp.wait_packets(25, since=t_hold, what="hold music at A")

    bc_b, bc_c = connect(b, c, "1003")
    r = refer(ab_b, "1003", p.domain, replaces_of(bc_b))
    assert r.status == 202, r.text()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 100 Trying", final=False)
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 200 OK", final=True)
    ab_b.wait_bye()
    bc_b.wait_bye()

    # A is taken off hold (re-INVITE sendrecv) and told it talks to 1003.
    seen = []
    while "INVITE" not in seen or "UPDATE" not in seen:
        req = next_in(ab_a, ("INVITE", "UPDATE"))
        seen.append(req.method)
        if req.method == "INVITE":
            assert callib.Sdp(req.body).direction == "sendrecv", req.text()
            ab_a.answer_reinvite(req, "sendrecv")
    next_in(bc_c, ("UPDATE",))
    # What A hears is C's tone now, not music.
    both_hear(bc_c, ab_a, "after transferring the held call")
    finish(p, bc_c, ab_a)


def test_blind_transfer_to_a_busy_phone_brings_a_back_to_b(call_pbx, phone):
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    r = refer(ab_b, "1003", p.domain)
    assert r.status == 202, r.text()
    cseq = r.cseq[0]
    assert "Refer-Sub" not in {h for h, _ in r.headers}, r.text()
    expect_notify(ab_b, cseq, "SIP/2.0 100 Trying", final=False)

    ci = c.incoming()
    assert "sip:1001@" in ci.invite["From"], ci.invite.text()
    ci.ring()
    expect_notify(ab_b, cseq, "SIP/2.0 180 Ringing", final=False)
    ci.reject(486)
    expect_notify(ab_b, cseq, "SIP/2.0 486 Busy Here", final=True)

    # A is back with B: both hear each other, nobody got a BYE.
    no_bye(ab_a, ab_b)
    callib.wait_channels(p, 2, what="A and B again after the failed transfer")
    siplib.wait_for(lambda: len(callib.bridges(p)) == 1, WAIT, "A and B bridged again")
    both_hear(ab_a, ab_b, "after the failed transfer")
    finish(p, ab_b, ab_a)


def test_blind_transfer_to_no_extension_is_refused_and_the_call_stays(call_pbx, phone):
    p = start(call_pbx)
    a, b = phone(p, "1001"), phone(p, "1002")
    ab_a, ab_b = connect(a, b, "1002")
    r = refer(ab_b, "2000", p.domain)
    assert r.status == 404, r.text()
    assert "No extension 2000 in context default" in r.reason, r.text()
    # A Refer-To without a user part names nothing.
    cseq = ab_b.request("REFER", headers=[f"Refer-To: <sip:{p.domain}>"])
    r = b.response_of(ab_b.call_id, cseq, "REFER")
    assert r.status == 404, r.text()
    assert b.quiet(lambda m: m.method == "NOTIFY", 0.5), "NOTIFY after a refused REFER"
    no_bye(ab_a, ab_b)
    assert len(callib.channels(p)) == 2
    hears(ab_a, ab_b, "A's audio at B after the refused REFER")
    finish(p, ab_a, ab_b)

    # A call that is answered by the dialplan, bridged to no one: nothing to transfer.
    co = a.call("500", codecs=("PCMU",))
    co.established()
    cseq = co.request("REFER", headers=[f"Refer-To: <sip:1003@{p.domain}>"])
    r = a.response_of(co.call_id, cseq, "REFER")
    assert r.status == 403, r.text()
    assert co.bye().status == 200
    nothing_left(p)


def test_refer_sub_false_gets_no_notify(call_pbx, phone):
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    r = refer(ab_b, "1003", p.domain, headers=["Refer-Sub: false"])
    assert r.status == 202, r.text()
    assert r.get("Refer-Sub", "").strip().lower() == "false", r.text()

    ci = c.incoming()
    ci.ring()
    ci.answer(codecs=("PCMU",))
    ab_b.wait_bye()
    assert b.quiet(lambda m: m.method == "NOTIFY", 2.0), \
        f"NOTIFY despite Refer-Sub: false: {b.log[-10:]}"
    both_hear(ab_a, ci, "after the blind transfer")
    answer_updates(ab_a, ci)
    finish(p, ci, ab_a)


def test_refer_outside_a_dialog(call_pbx, phone):
    p = start(call_pbx)
    a = phone(p, "1001")
    for to_tag, status in ((None, 403), ("nosuchtag", 481)):
        cid = siplib.token()
        a.send(siplib.build_request(
            "REFER", f"sip:1002@127.0.0.1:{p.port}", via_port=a.port,
            from_uri=f"sip:1001@{p.domain}", to_uri=f"sip:1002@{p.domain}", to_tag=to_tag,
            call_id=cid, cseq=1, contact=a.contact(),
            headers=[f"Refer-To: <sip:1003@{p.domain}>"]))
        r = a.response_of(cid, 1, "REFER")
        assert r.status == status, r.text()
        if status == 403:
            assert r.reason == "REFER only inside a call", r.text()
    nothing_left(p)


def test_refer_with_unknown_replaces_reports_481_and_keeps_the_call(call_pbx, phone):
    p = start(call_pbx)
    a, b = phone(p, "1001"), phone(p, "1002")
    ab_a, ab_b = connect(a, b, "1002")
    r = refer(ab_b, "1003", p.domain, "nosuchcall;to-tag=aaaa;from-tag=bbbb")
    assert r.status == 202, r.text()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 100 Trying", final=False)
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 481 Call/Transaction Does Not Exist", final=True)
    no_bye(ab_a, ab_b)
    assert len(callib.channels(p)) == 2
    both_hear(ab_a, ab_b, "after the refused Replaces")
    finish(p, ab_b, ab_a)


def test_refer_replacing_a_call_of_another_user_is_forbidden(call_pbx, phone):
    p = start(call_pbx)
    a, b, c, d = (phone(p, u) for u in ("1001", "1002", "1003", "1004"))
    ab_a, ab_b = connect(a, b, "1002")
    cd_c, cd_d = connect(c, d, "1004")
    r = refer(ab_b, "1004", p.domain, replaces_of(cd_c))
    assert r.status == 403, r.text()
    no_bye(ab_a, ab_b, cd_c, cd_d)
    assert len(callib.channels(p)) == 4
    finish(p, ab_a, ab_b, left=2)
    finish(p, cd_d, cd_c)


def invite_with(phone, target, headers):
    """@phone calls @target with extra INVITE @headers (credentials after the 401)."""
    c = callib.Call(phone, uac=True)
    c.rtp = phone.new_rtp()
    c.remote_uri = f"sip:{target}@{phone.domain}"
    c.local_uri = f"sip:{phone.ext}@{phone.domain}"
    c.ruri = f"sip:{target}@127.0.0.1:{phone.pbx.port}"
    c.codecs = ("PCMU",)
    c.local_sdp = callib.sdp_offer(c.rtp.port, c.codecs, c.dtmf_pt, "sendrecv", c.sdp_version)

    def send(auth=None):
        c.invite_branch = siplib.branch()
        c.invite_cseq = c.cseq
        hs = ["Content-Type: application/sdp", *headers]
        if auth:
            hs.append(f"Authorization: {auth}")
        phone.send(siplib.build_request(
            "INVITE", c.ruri, via_port=phone.port, branch_id=c.invite_branch,
            from_uri=c.local_uri, from_tag=c.local_tag, to_uri=c.remote_uri,
            call_id=c.call_id, cseq=c.cseq, contact=phone.contact(), headers=hs,
            body=c.local_sdp))

    send()
    r = c.final()
    assert r.status == 401, r.text()
    c.ack_failure(r)
    c.cseq += 1
    send(siplib.authorization(siplib.challenge_for(r, "MD5"), phone.ext, phone.password,
                              "INVITE", c.ruri))
    return c


def test_invite_with_replaces(call_pbx, phone):
    p = start(call_pbx)
    a, b, d = phone(p, "1001"), phone(p, "1002"), phone(p, "1004")

    # Nothing to replace.
    cd = invite_with(d, "1002", ["Replaces: nosuchcall;to-tag=aaaa;from-tag=bbbb"])
    r = cd.final()
    cd.ack_failure(r)
    assert r.status == 481, r.text()

    # A's own call still rings: that dialog (the PBX answers it) is not the PBX's to end.
    ab_a = a.call("1002", codecs=("PCMU",))
    ab_b = b.incoming()
    ab_b.ring()
    ringing = ab_a.provisional(180)
    pbx_tag = re.search(r";\s*tag=([^;\s]+)", ringing["To"]).group(1)
    cd = invite_with(d, "1002", [f"Replaces: {ab_a.call_id};to-tag={pbx_tag};"
                                 f"from-tag={ab_a.local_tag}"])
    r = cd.final()
    cd.ack_failure(r)
    assert r.status == 486, r.text()

    # The PBX's call to B still rings: D picks it up. D answers in B's place, A is
    # answered and bridged to D, and B's ringing is cancelled.
    cd = invite_with(d, "1002", [f"Replaces: {replaces_of(ab_b)}"])
    cd.established()
    ab_a.established()
    cancel = ab_b.wait_request("CANCEL")
    b.reply(cancel, 200)
    ab_b.reject(487)
    both_hear(ab_a, cd, "after the pickup")
    finish(p, ab_a, cd)

    ab_a = a.call("1002", codecs=("PCMU",))
    ab_b = b.incoming()
    # B answers: D takes B's place, next to A; B gets the BYE.
    ab_b.answer(codecs=("PCMU",))
    ab_a.established()
    cd = invite_with(d, "1002", [f"Replaces: {replaces_of(ab_b)}"])
    cd.established()
    ab_b.wait_bye()
    for call, who in ((ab_a, "1004"), (cd, "1001")):
        u = next_in(call, ("UPDATE",))
        assert f"<sip:{who}@" in u.get("P-Asserted-Identity", ""), u.text()
    both_hear(ab_a, cd, "after the Replaces")
    finish(p, ab_a, cd)


def test_semi_attended_transfer_while_c_rings(call_pbx, phone):
    """B transfers A to its call to C before C answers: A takes over that call (C is
    rung again, for A), hears ringing meanwhile, and is bridged to C on answer."""
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    bc_b = b.call("1003", codecs=("PCMU",))
    bc_c = c.incoming()
    bc_c.ring()
    ringing = bc_b.provisional(180)
    pbx_tag = re.search(r";\s*tag=([^;\s]+)", ringing["To"]).group(1)
    r = refer(ab_b, "1003", p.domain, f"{bc_b.call_id};to-tag={pbx_tag};from-tag={bc_b.local_tag}")
    assert r.status == 202, r.text()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 100 Trying", final=False)
    # B's own call to C ends; C's first ringing is cancelled and C rings again, for A.
    fin = bc_b.final()
    assert fin.status >= 400, fin.text()
    bc_b.ack_failure(fin)
    cancel = bc_c.wait_request("CANCEL")
    c.reply(cancel, 200)
    bc_c.reject(487)
    ac_c = c.incoming()
    ac_c.ring()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 180 Ringing", final=False)
    t0 = time.monotonic()
    time.sleep(1.0)
    rb = ab_a.rtp.audio("PCMU", since=t0)
    assert tone_seconds(rb, 440, share=0.3) > 0.5, "A hears no ringback while C rings"
    ac_c.answer(codecs=("PCMU",))
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 200 OK", final=True)
    ab_b.wait_bye()
    both_hear(ab_a, ac_c, "after the transfer")
    finish(p, ab_a, ac_c)


def test_blind_transfer_goes_on_when_the_transferor_hangs_up_at_once(call_pbx, phone):
    """Most phones hang up right after the 202: the transfer still completes, and the
    transferee reaches C with the new call showing who referred it."""
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    r = refer(ab_b, "1003", p.domain)
    assert r.status == 202, r.text()
    assert ab_b.bye().status == 200
    ci = c.incoming()
    assert "<sip:1002@" in ci.invite.get("Referred-By", ""), ci.invite.text()
    assert "1001" in ci.invite["From"], ci.invite.text()
    ci.ring()
    ci.answer(codecs=("PCMU",))
    both_hear(ab_a, ci, "after the blind transfer")
    answer_updates(ab_a, ci)
    finish(p, ab_a, ci)


def test_connected_line_by_reinvite_when_update_is_refused(call_pbx, phone):
    """A phone that answers the connected-line UPDATE with 405 gets a re-INVITE that
    names the new party instead."""
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, bc_c, ab_b, bc_b, cseq = attended(p, a, b, c)
    u = c.expect(lambda m: m.method == "UPDATE" and m.call_id == bc_c.call_id, WAIT,
                 "the connected-line UPDATE at C")
    c.reply(u, 405)
    inv = c.expect(lambda m: m.method == "INVITE" and m.call_id == bc_c.call_id, WAIT,
                   "a re-INVITE at C after the 405")
    assert "<sip:1001@" in inv.get("P-Asserted-Identity", ""), inv.text()
    bc_c.answer_reinvite(inv, "sendrecv")
    answer_updates(ab_a)
    hears(ab_a, bc_c, "A's audio at C after the transfer")
    finish(p, ab_a, bc_c)


def test_attended_transfer_across_media_workers(call_pbx, phone):
    """With two media workers the two calls sit on different ones (the second call is
    placed on the least loaded); the transfer moves C's media to A's worker, and A and
    C hear each other."""
    p = start(call_pbx, pbx={"media_workers": 2})
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    bc_b, bc_c = connect(b, c, "1003")
    callib.wait_channels(p, 4)
    worker = {ch["name"].split("-")[0]: ch["worker"] for ch in callib.channels(p)
              if ch["direction"] == "in" and ch["caller"] == "1001"
              or ch["direction"] == "out" and ch["callee"] == "1003"}
    assert worker["SIP/1001"] != worker["SIP/1003"], callib.channels(p)
    r = refer(ab_b, "1003", p.domain, replaces_of(bc_b))
    assert r.status == 202, r.text()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 100 Trying", final=False)
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 200 OK", final=True)
    ab_b.wait_bye()
    bc_b.wait_bye()
    answer_updates(ab_a, bc_c)
    both_hear(ab_a, bc_c, "across workers")
    chans = callib.channels(p)
    assert len(chans) == 2 and len({ch["worker"] for ch in chans}) == 1, chans
    finish(p, ab_a, bc_c)


@pytest.mark.parametrize("refer_to", ["1003", "<tel:1003>"])
def test_blind_transfer_to_a_bare_number_or_tel_uri(call_pbx, phone, refer_to):
    """Refer-To as a number (some phones send no URI) or a tel: URI names the extension."""
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    cseq = ab_b.request("REFER", headers=[f"Refer-To: {refer_to}", "Refer-Sub: false"])
    r = ab_b.p.response_of(ab_b.call_id, cseq, "REFER")
    assert r.status == 202, r.text()
    assert ab_b.bye().status == 200
    ci = c.incoming()
    ci.ring()
    ci.answer(codecs=("PCMU",))
    hears(ab_a, ci, "A's audio at C")
    answer_updates(ab_a, ci)
    finish(p, ab_a, ci)


def test_blind_transfer_to_an_extension_that_is_no_phone(call_pbx, phone):
    """A target that takes the call itself (a prompt, voicemail) completes the transfer
    when its first such application starts: NOTIFY 200 at once, the transferor is
    released, and the transferee hears the target (here a 1800 Hz tone)."""
    p = start(call_pbx)
    a, b = phone(p, "1001"), phone(p, "1002")
    ab_a, ab_b = connect(a, b, "1002")
    r = refer(ab_b, "700", p.domain)
    assert r.status == 202, r.text()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 100 Trying", final=False)
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 200 OK", final=True)
    ab_b.wait_bye()
    t0 = time.monotonic()
    time.sleep(1.0)
    heard = ab_a.rtp.audio("PCMU", since=t0)
    assert tone_seconds(heard, 1800, share=0.3) > 0.6, "A does not hear the target's tone"
    assert ab_a.bye().status == 200
    nothing_left(p)


def test_attended_transfer_with_both_calls_on_hold(call_pbx, phone):
    """Phones often hold the consultation call too before they transfer: both A and C
    hear music, and after the REFER both are taken off hold and hear each other."""
    p = start(call_pbx)
    a, b, c = phone(p, "1001"), phone(p, "1002"), phone(p, "1003")
    ab_a, ab_b = connect(a, b, "1002")
    bc_b, bc_c = connect(b, c, "1003")
    for mine, theirs in ((ab_b, ab_a), (bc_b, bc_c)):
        r = mine.reinvite("sendonly")
        assert r.status == 200, r.text()
        hold = next_in(theirs, ("INVITE",))
        assert callib.Sdp(hold.body).direction == "sendonly", hold.text()
        theirs.answer_reinvite(hold, "recvonly")
    t_hold = time.monotonic()
    ab_a.rtp.wait_packets(25, since=t_hold, what="hold music at A")
    bc_c.rtp.wait_packets(25, since=t_hold, what="hold music at C")

    r = refer(ab_b, "1003", p.domain, replaces_of(bc_b))
    assert r.status == 202, r.text()
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 100 Trying", final=False)
    expect_notify(ab_b, r.cseq[0], "SIP/2.0 200 OK", final=True)
    ab_b.wait_bye()
    bc_b.wait_bye()
    # Both are re-INVITEd sendrecv and told who they talk to.
    for call in (ab_a, bc_c):
        seen = []
        while "INVITE" not in seen or "UPDATE" not in seen:
            req = next_in(call, ("INVITE", "UPDATE"))
            seen.append(req.method)
            if req.method == "INVITE":
                assert callib.Sdp(req.body).direction == "sendrecv", req.text()
                call.answer_reinvite(req, "sendrecv")
    both_hear(bc_c, ab_a, "after transferring two held calls")
    finish(p, ab_a, bc_c)
