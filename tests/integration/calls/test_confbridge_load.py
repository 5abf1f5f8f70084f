"""Conferences in bulk, with raw SIP phones (callib.Phone, no baresip):

- a hundred calls join one room at once, within a bound; the console lists
  a hundred members, every phone keeps getting the mix, one phone's tone is
  heard by the others and not by itself, and nobody is dropped by the RTP
  timeout (5 s here: every phone sends RTP, silence or its tone, from one
  sender thread); `confbridge kick ROOM all` sends each a BYE, and nothing is
  left afterwards: no channel, no bridge, no room;
- conference.max_members limits the members of every room together: the
  eleventh of ten is refused (BYE with Q.850 cause 34), and a place freed
  is taken again.

Each phone has its own SIP socket; the INVITEs go out together, then the
answers to the digest challenges, so the PBX sees a burst and not a queue.
"""

import json
import threading
import time

import pytest

import callib
from callib import Phone, encode, tone, tone_seconds

ROOM = "8000"
N = 100
# The whole burst: INVITE, 401, INVITE with credentials, 200, joined. About one
# second on a quiet machine with the ASan build (0.1 to 0.2 s measured); the bound
# leaves room for a loaded one.
JOIN_BOUND = 1.5
TONE = 1000

LOAD_DIALPLAN = r'''
extensions = {
  default = {
    -- Quiet: no "there are 99 other participants" to each and 99 join tones for
    -- the room, so that what a member hears is what the phones send.
    ["_80XX"] = function(context, exten) app.confbridge(exten, { quiet = true }) end,
    -- As the shipped dialplan's rooms: announcements on.
    ["_81XX"] = function(context, exten) app.confbridge(exten) end,
    h = function()
      app.verbose("HANGUP " .. channel.CHANNEL:get() .. " CONFBRIDGE_RESULT=" ..
                  (channel.CONFBRIDGE_RESULT:get() or "<nil>"))
    end,
  },
}
'''


@pytest.fixture
def load_pbx(pbx_factory):
    """load_pbx(n_users, conference={}): a started PBX with users 2000.. and a wide RTP
    range, the RTP timeout at 5 s."""
    def start(n_users=N + 1, conference=None):
        sections = {"sip": {"qualify_interval": 0},
                    "rtp": {"port_min": 20000, "port_max": 24999, "timeout": 5}}
        if conference:
            sections["conference"] = conference
        p = pbx_factory(sections=sections)
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(LOAD_DIALPLAN)
        p.sections["dialplan"] = {"file": str(p.dialplan)}
        p.write_config()
        p.start()
        callib.siplib.wait_answering(p)
        callib.siplib.add_users(p, [str(2000 + i) for i in range(n_users)], callib.PASSWORD)
        return p

    return start


@pytest.fixture
def many_phones():
    """many_phones(p, n): @n unregistered Phones 2000.., closed at teardown (their
    receivers told to stop first, so the joins do not add up)."""
    made = []

    def make(p, n, first=0):
        out = [Phone(p, str(2000 + first + i), callib.PASSWORD) for i in range(n)]
        made.extend(out)
        return out

    yield make
    for ph in made:
        for r in ph.rtps:
            r.stop.set()
    for ph in made:
        ph.close()


class Sender:
    """One thread that sends a 20 ms PCMU frame on every call each 20 ms: silence,
    or for calls in @tones the tone's frames in turn."""

    def __init__(self, calls, tones=None):
        self.calls = list(calls)
        silence = bytes([0xFF]) * 160
        self.frames = {id(c): [silence] for c in self.calls}
        for c, freq in (tones or {}).items():
            pcm = tone(freq, 1.0)
            self.frames[id(c)] = [encode("PCMU", pcm[i:i + 160]) for i in range(0, 8000, 160)]
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        start = time.monotonic()
        deadline = start + 90  # bounded, whatever happens
        i = 0
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            for c in self.calls:
                fr = self.frames[id(c)]
                r = c.rtp
                try:
                    r.send_raw(r._packet(callib.PT_PCMU, fr[i % len(fr)], marker=(i == 0)))
                except OSError:
                    pass
                r.ts = (r.ts + 160) & 0xFFFFFFFF
            i += 1
            delay = start + i * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(5)


def place_calls(phones, target):
    """INVITE @target from every phone at once, then answer every challenge: the Calls
    (their credentials sent, nothing awaited yet)."""
    calls = []
    for ph in phones:
        c = callib.Call(ph, uac=True)
        c.rtp = ph.new_rtp()
        c.remote_uri = f"sip:{target}@{ph.domain}"
        c.local_uri = f"sip:{ph.ext}@{ph.domain}"
        c.ruri = f"sip:{target}@127.0.0.1:{ph.pbx.port}"
        c.codecs = ("PCMU",)
        c.local_sdp = callib.sdp_offer(c.rtp.port, c.codecs, 101)
        c.send_invite()
        calls.append(c)
        ph.calls.append(c)
    for c in calls:
        r = c.final(timeout=10)
        assert r.status == 401, f"{c.p.name}: INVITE without credentials got {r.status}"
        c.ack_failure(r)
        c.cseq += 1
        c.send_invite(callib.authorization(callib.challenge_for(r, "MD5"), c.p.ext,
                                           c.p.password, "INVITE", c.ruri))
    return calls


def rooms(con):
    st, out = con.cmd("confbridge list --json")
    assert st == 0, out
    return json.loads(out)


def room_members(con, room=ROOM):
    return sum(r["members"] for r in rooms(con) if r["room"] == room)


@pytest.mark.parametrize("room", [ROOM, "8150"], ids=["quiet", "announced"])
def test_hundred_join_at_once_then_kick_all(load_pbx, many_phones, room):
    """In 8150 (announcements on) each joiner is told how many are in, and the room
    hears 99 join tones in turn: the tone is not checked there, the rest is."""
    p = load_pbx()
    phones = many_phones(p, N)
    with p.console() as con:
        t0 = time.monotonic()
        calls = place_calls(phones, room)
        for c in calls:
            c.established(timeout=15)
        sender = Sender(calls, {calls[0]: TONE})
        try:
            callib.siplib.wait_for(lambda: room_members(con, room) == N, 20,
                                   f"{N} members in {room}", interval=0.02)
            joined = time.monotonic() - t0
            print(f"\n{N} calls joined {room} in {joined:.2f} s")
            assert joined < JOIN_BOUND, f"{N} calls took {joined:.2f} s to join"
            [r] = rooms(con)
            assert (r["room"], r["members"], len(r["participants"])) == (room, N, N)
            assert {m["caller"] for m in r["participants"]} == {ph.ext for ph in phones}
            st, out = con.cmd("confbridge list")
            assert f"1 conference, {N} members" in out, out

            # Past the RTP timeout (5 s): nobody was dropped, everybody hears the mix.
            time.sleep(6.0)
            t1 = time.monotonic()
            time.sleep(1.0)
            assert room_members(con, room) == N, rooms(con)
            assert len(callib.channels(p)) == N
            starved = [c.p.ext for c in calls if c.rtp.count(callib.PT_PCMU, since=t1) < 35]
            assert not starved, f"no mix for {len(starved)} members: {starved[:10]}"
            own = tone_seconds(calls[0].rtp.audio("PCMU", since=t1), TONE, share=0.2)
            assert own == 0, f"the talker hears itself for {own:.1f} s"
            for c in calls[1::11] if room == ROOM else ():
                got = tone_seconds(c.rtp.audio("PCMU", since=t1), TONE)
                assert got >= 0.7, f"{c.p.ext} hears the talker for {got:.1f} s of 1"

            t_kick = time.monotonic()
            st, out = con.cmd(f"confbridge kick {room} all")
            assert (st, out) == (0, f"Kicked {N} members of {room}.\n"), out
            for c in calls:
                c.wait_bye(timeout=10)
            print(f"{N} BYEs in {time.monotonic() - t_kick:.2f} s")
        finally:
            sender.stop()
        callib.wait_channels(p, 0, timeout=10, what="no channel after the kick")
        assert callib.bridges(p) == [], callib.bridges(p)
        assert rooms(con) == []
        st, out = con.cmd("core show channels")
        assert st == 0 and "0 active channels" in out, out
    log = p.log()
    assert log.count("CONFBRIDGE_RESULT=KICKED") == N, log[-3000:]


def test_max_members_counts_every_room(load_pbx, many_phones):
    p = load_pbx(n_users=12, conference={"max_members": 10})
    phones = many_phones(p, 12)
    with p.console() as con:
        # Six in one room, four in another: ten in all.
        calls = place_calls(phones[:6], "8100") + place_calls(phones[6:10], "8101")
        for c in calls:
            c.established(timeout=15)
        sender = Sender(calls)
        try:
            callib.siplib.wait_for(
                lambda: sorted((r["room"], r["members"]) for r in rooms(con)) ==
                [("8100", 6), ("8101", 4)], 15, "ten members in 8100 and 8101", interval=0.05)

            # The eleventh is answered, told the conference is full, and hung up.
            [c11] = place_calls(phones[10:11], "8102")
            c11.established()
            t = time.monotonic()
            bye = c11.wait_bye(timeout=10)
            assert bye.get("Reason") == "Q.850;cause=34", bye.text()
            heard = c11.rtp.audio("PCMU")
            said = len(heard) / callib.RATE
            assert said >= 1.3 and time.monotonic() - t < 4.0, \
                f"the eleventh was hung up after {said:.2f} s of sound (conf-full: 1.65 s)"
            assert callib.rms(heard) > 300, "the eleventh did not hear conf-full"
            callib.wait_log(p, r"HANGUP SIP/2010-\S+ CONFBRIDGE_RESULT=FULL")
            assert sorted((r["room"], r["members"]) for r in rooms(con)) == \
                [("8100", 6), ("8101", 4)]

            # One leaves: the next caller takes its place.
            assert calls[0].bye().status == 200
            callib.siplib.wait_for(lambda: room_members(con, "8100") == 5, 5,
                                   "8100 down to five", interval=0.05)
            [c12] = place_calls(phones[11:12], "8102")
            c12.established()
            callib.siplib.wait_for(lambda: room_members(con, "8102") == 1, 5,
                                   "the twelfth in 8102", interval=0.05)
            st, out = con.cmd("confbridge list")
            assert "3 conferences, 10 members" in out, out
            for c in calls[1:] + [c12]:
                assert c.bye().status == 200
        finally:
            sender.stop()
        callib.wait_channels(p, 0, timeout=10)
        assert rooms(con) == []
