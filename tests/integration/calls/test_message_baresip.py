"""Instant messages (issue 14) between real baresip 1.0 softphones, on the
shipped config:

- 1001 messages 1002, online: 1002's baresip shows the text, from 1001;
- 1001 messages 1003, offline: 1001's baresip is answered 202, the message
  waits in the queue across a restart of the PBX, and 1003's baresip shows
  it once it registers;
- 1001 messages 1004, registered from two baresips: both show it;
- a dialplan rewrites the body (the receiver shows the new text) or refuses
  the message (the sender's baresip reports 403).

How baresip 1.0 is driven here (callib.Baresip, plus two modules):
- contact.so sends: its `message` command sends a MESSAGE with the
  command's text to the current contact (the contacts file holds one
  target, which is then current; `contact_next` moves between several).
  Only a final response of 300 or more is printed, in red, as status and
  reason: " 403 Refused by the dialplan". A 2xx prints nothing, so the
  sender's 200 and 202 are read from its SIP trace (baresip -s).
- stdio.so shows what arrives: the menu prints an incoming MESSAGE as
  `sip:1001@test.local: "text"` through the UI modules, and with none
  loaded (callib's phones have none) the text goes nowhere. stdio needs a
  pollable stdin: /dev/null cannot be added to epoll ("module stdio.so:
  Operation not permitted"), so these phones get a pipe that stays open.
  It cannot set up the terminal on a pipe and says so; output still works.
"""

import json
import re
import subprocess

import pytest

import callib
import siplib

USERS = ("1001", "1002", "1003", "1004")
WAIT = 10  # seconds for a message to show, a registration, a queue to empty

DIALPLAN = """
extensions = {
  default = {},
  messages = {
    -- The receiver sees that the PBX handled it.
    ["_10XX"] = function(ctx, ext)
      channel["MESSAGE(body)"] = "[via PBX] " .. channel["MESSAGE(body)"]:get()
      app.messagesend("SIP/" .. ext)
    end,
    -- Refused: the run sends nothing, so the sender gets 403.
    ["1099"] = function() app.verbose("refused a message to 1099") end,
  },
}
"""


class ChatBaresip(callib.Baresip):
    """A baresip that sends MESSAGE to @peers (extensions, its contacts) and shows
    what it receives in its log. No audio: it makes no call, so its aufile source
    (a WAV that does not exist) is never opened."""

    def __init__(self, workdir, pbx, user, peers=(), sip_trace=False):
        super().__init__(workdir, pbx, user, workdir / "unused.wav", "PCMU",
                         modules=("contact.so", "stdio.so"), sip_trace=sip_trace)
        (self.dir / "contacts").write_text(
            "".join(f'"{e}" <sip:{e}@127.0.0.1:{pbx.port}>\n' for e in peers))
        self.stdin = None

    def start(self, quit_after=60):
        """As callib.Baresip.start, with stdin a pipe (stdio.so needs one it can poll)."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [siplib.tool("baresip"), "-f", str(self.dir), "-t", str(quit_after)]
                + (["-s"] if self.sip_trace else []),
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.stdin = self.proc.stdin
        return self

    def stop(self, timeout=8):
        super().stop(timeout)
        if self.stdin:
            self.stdin.close()
            self.stdin = None

    def send(self, text):
        r = self.command("message", text)
        assert r.get("ok"), f"{self.user}: message -> {r}\n{self.log()[-2000:]}"

    def select(self, ext):
        """Make the contact for @ext current (contact.so's `>` marks it)."""
        for _ in range(len(self.contacts()) + 1):
            if f"sip:{ext}@" in self.current_contact():
                return
            self.command("contact_next")
        raise AssertionError(f"{self.user}: cannot select {ext}: {self.contacts()}")

    def contacts(self):
        return [ln for ln in self.command("contacts")["data"].splitlines() if "<sip:" in ln]

    def current_contact(self):
        return next((ln for ln in self.contacts() if ln.lstrip().startswith(">")), "")

    def shown(self):
        """[(sender, text)] of every incoming MESSAGE the phone showed, in order."""
        return re.findall(r'^\r?(sip:\S+): "(.*)"\r?$', self.log(), re.M)

    def wait_shown(self, text, timeout=WAIT):
        """The sender of the first shown message with @text, waiting for it."""
        def find():
            return next((s for s, t in self.shown() if t == text), None)
        return siplib.wait_for(find, timeout, f"{self.user} to show {text!r}: {self.shown()}",
                               interval=0.1)

    def message_responses(self):
        """Status codes of the responses to MESSAGE in this phone's SIP trace
        (baresip -s): each traced packet starts with a cyan '#', then "UDP a -> b"."""
        codes = []
        for pkt in self.log().split("\x1b[36;1m#\n")[1:]:
            lines = pkt.splitlines()
            if (len(lines) > 1 and lines[0].endswith(f"-> 127.0.0.1:{self.port}")
                    and lines[1].startswith("SIP/2.0 ")
                    and re.search(r"^CSeq: \d+ MESSAGE\s*$", pkt, re.M)):
                codes.append(int(lines[1].split()[1]))
        return codes

    def wait_response(self, status, timeout=WAIT):
        siplib.wait_for(lambda: status in self.message_responses(), timeout,
                        f"{self.user}: {status} to its MESSAGE (got {self.message_responses()})",
                        interval=0.1)

    def failures(self):
        """What contact.so printed for final responses of 300 or more, in red: "403 <reason>"."""
        return re.findall(r"\x1b\[31m(\d{3} [^\x1b\n]*)", self.log())


@pytest.fixture
def chat(tmp_path):
    """chat(pbx, user, peers=(), sip_trace=False): a started ChatBaresip, stopped at
    teardown; it is registered (one more contact of @user) when this returns."""
    made = []

    def make(p, user, peers=(), sip_trace=False):
        before = len(siplib.contacts_of(p, user))
        workdir = tmp_path / f"phone{len(made)}"  # callib names its folder by user alone
        workdir.mkdir()
        b = ChatBaresip(workdir, p, user, peers, sip_trace)
        made.append(b)
        b.start()
        siplib.wait_for(lambda: len(siplib.contacts_of(p, user)) > before, WAIT,
                        f"baresip {user} ({b.dir}) to register", interval=0.1)
        return b

    yield make
    for b in made:
        b.stop()


def queue(p, ext):
    return json.loads(p.ok(f"message show queue {ext} --json"))


def test_online_message_shows_at_the_receiver_from_the_sender(shipped_pbx, chat):
    p = shipped_pbx(users=USERS)
    b2 = chat(p, "1002")
    b1 = chat(p, "1001", peers=("1002",), sip_trace=True)
    b1.send("Lunch at noon?")
    sender = b2.wait_shown("Lunch at noon?")
    assert sender.startswith("sip:1001@"), sender
    b1.wait_response(200)
    assert b1.message_responses() == [401, 200], "one challenge, then one answer"
    assert b1.failures() == []
    assert queue(p, "1002") == [], "delivered, so not kept"


def test_offline_message_is_kept_across_a_restart_and_shown_at_registration(shipped_pbx,
                                                                            chat, tmp_path):
    p = shipped_pbx(users=USERS)
    b1 = chat(p, "1001", peers=("1003",), sip_trace=True)
    b1.send("Call me back")
    b1.wait_response(202)
    assert b1.message_responses() == [401, 202], "one challenge, then one answer"
    assert b1.failures() == []
    q = queue(p, "1003")
    assert len(q) == 1 and q[0]["sender"] == "1001", q
    b1.stop()

    p.stop()
    p.start()
    siplib.wait_answering(p)
    assert len(queue(p, "1003")) == 1, "the restart lost the message"

    b3 = chat(p, "1003")
    sender = b3.wait_shown("Call me back")
    assert sender.startswith("sip:1001@"), sender
    siplib.wait_for(lambda: queue(p, "1003") == [], WAIT, "1003's queue to empty",
                    interval=0.1)
    assert [t for _, t in b3.shown()] == ["Call me back"], "delivered once"


def test_message_shows_on_both_devices_of_the_user(shipped_pbx, chat):
    p = shipped_pbx(users=USERS)
    desk = chat(p, "1004")
    soft = chat(p, "1004")
    assert len(siplib.contacts_of(p, "1004")) == 2
    b1 = chat(p, "1001", peers=("1004",), sip_trace=True)
    b1.send("Meeting moved to 3")
    for b in (desk, soft):
        sender = b.wait_shown("Meeting moved to 3")
        assert sender.startswith("sip:1001@"), f"{b.dir}: {sender}"
    b1.wait_response(200)
    assert b1.message_responses() == [401, 200], "one challenge, then one answer"


def test_dialplan_rewrites_the_body_and_refuses(shipped_pbx, chat):
    p = shipped_pbx(users=USERS, dialplan=DIALPLAN)
    b2 = chat(p, "1002")
    b1 = chat(p, "1001", peers=("1002", "1099"), sip_trace=True)

    b1.select("1002")
    b1.send("Lunch?")
    sender = b2.wait_shown("[via PBX] Lunch?")
    assert sender.startswith("sip:1001@"), sender
    assert [t for _, t in b2.shown()] == ["[via PBX] Lunch?"], "only the rewritten text"
    b1.wait_response(200)

    b1.select("1099")
    b1.send("spam")
    b1.wait_response(403)
    siplib.wait_for(lambda: b1.failures(), WAIT, "1001's baresip to report the failure",
                    interval=0.1)
    fails = b1.failures()
    assert len(fails) == 1 and fails[0].startswith("403 "), fails
    assert "refused a message to 1099" in p.log()
    assert len(b2.shown()) == 1, "the refused message reached nobody"
    assert b1.message_responses() == [401, 200, 401, 403]
