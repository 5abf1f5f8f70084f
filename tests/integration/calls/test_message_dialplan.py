"""Instant messages routed by the Lua dialplan (issue 14), with raw SIP phones:

- a MESSAGE enters the sender's message context ("messages", or the user's
  message_context) at the Request-URI user; the run has no channel and
  reads and rewrites MESSAGE(body|from|to|content_type);
- app.messagesend(to[, from]) sends it on and returns MESSAGE_SEND_STATUS
  (SUCCESS, QUEUED, FAILURE, INVALID_URI); the sender's answer follows the
  best outcome: 200, 202, 480, 404; a run that sends nothing refuses (403);
- any other application is a Lua error with file:line (500 to the sender);
- no extension in the context: the default routing delivers to the user.
"""

import json

import callib
from test_message import body_of, received, send_message


USERS = ("1001", "1002", "1003")

DIALPLAN = """
extensions = {
  default = {},
  messages = {
    -- Rewrite and deliver: the recipient sees where it went.
    ["_10XX"] = function(ctx, ext)
      local body = channel["MESSAGE(body)"]:get()
      channel["MESSAGE(body)"] = "[to " .. ext .. " from " ..
        channel["MESSAGE(from)"]:get() .. "] " .. body
      channel.WHERE = ctx
      app.set("SEEN=yes")
      local st = app.messagesend("SIP/" .. ext)
      app.verbose("sent to " .. ext .. ": " .. st .. " " .. channel.MESSAGE_SEND_STATUS:get())
      if st == "QUEUED" and ext == "1003" then
        -- MESSAGE(to) is the Request-URI: its host is the PBX's domain.
        local domain = channel["MESSAGE(to)"]:get():match("@([^;>]+)")
        app.messagesend("sip:1002@" .. domain, "1003")
      end
    end,
    -- Refused: the run sends nothing.
    ["1099"] = function() app.verbose("dropped a message to 1099") end,
    -- To nobody.
    ["1098"] = function() app.messagesend("sip:4711@elsewhere.example") end,
    -- A call's application where there is no call.
    ["1097"] = function()
      app.answer()
    end,
    -- The type and body pass unchanged when the script does not touch them.
    ["1096"] = function()
      if channel["MESSAGE(content_type)"]:get() ~= "application/json" then return end
      app.messagesend("1002")
    end,
  },
  bots = {
    ["_X."] = function(ctx, ext)
      channel["MESSAGE(body)"] = "bot: " .. channel["MESSAGE(body)"]:get()
      app.messagesend(ext)
    end,
  },
}
"""


def dialplan_pbx(shipped_pbx):
    """The shipped config with this file's dialplan: a user sets only dialplan.file."""
    return shipped_pbx(users=USERS, dialplan=DIALPLAN)


def phones(p, *exts):
    made = [callib.Phone(p, e, callib.PASSWORD) for e in exts]
    for ph in made:
        ph.register()
    return made


def test_dialplan_rewrites_and_sends(shipped_pbx):
    p = dialplan_pbx(shipped_pbx)
    domain = p.domain
    a, b = phones(p, "1001", "1002")
    try:
        got = []
        r = send_message(a, "1002", "Lunch?", then=lambda: got.append(received(b)))
        assert r.status == 200, r.text()
        m = got[0]
        assert body_of(m) == f"[to 1002 from sip:1001@{domain}] Lunch?"
        assert "sip:1001@" in m["From"], m["From"]
        assert m.get("Contact") is None
        assert "sent to 1002: SUCCESS SUCCESS" in p.log()

        # Offline 1003: kept (QUEUED), then the script also tells 1002, from 1003.
        got = []
        r = send_message(a, "1003", "See you", then=lambda: got.append(received(b)))
        assert r.status == 200, "the best outcome (1002 took its copy) answers: " + r.text()
        assert "sip:1003@" in got[0]["From"], got[0]["From"]
        assert body_of(got[0]) == f"[to 1003 from sip:1001@{domain}] See you"
        q = json.loads(p.ok("message show queue 1003 --json"))
        assert len(q) == 1 and q[0]["sender"] == "1001", q
        assert "sent to 1003: QUEUED QUEUED" in p.log()

        # The type and body unchanged.
        got = []
        r = send_message(a, "1096", '{"a": 1}', ctype="application/json",
                         then=lambda: got.append(received(b)))
        assert r.status == 200, r.text()
        assert body_of(got[0]) == '{"a": 1}' and got[0]["Content-Type"] == "application/json"
    finally:
        a.close()
        b.close()


def test_refused_unknown_and_wrong_application(shipped_pbx):
    p = dialplan_pbx(shipped_pbx)
    (a,) = phones(p, "1001")
    try:
        r = send_message(a, "1099", "spam")
        assert r.status == 403, r.text()
        assert "dropped a message to 1099" in p.log()
        r = send_message(a, "1098", "to nobody")
        assert r.status == 404, r.text()
        r = send_message(a, "1097", "answer me")
        assert r.status == 500, r.text()
        log = p.log()
        assert "a message's dialplan has no channel" in log, log[-2000:]
        line = next(ln for ln in log.splitlines() if "a message's dialplan has no channel" in ln)
        assert "extensions.lua:" in line and "answer" in line, line
        # Nothing left behind: no channel was made.
        assert json.loads(p.ok("core show channels --json")) == []
    finally:
        a.close()


def test_no_extension_takes_the_default_routing_and_user_context(shipped_pbx):
    p = dialplan_pbx(shipped_pbx)
    # 2000 is nobody's extension and not in "messages": 404 from the default routing.
    a, b, c = phones(p, "1001", "1002", "1003")
    try:
        r = send_message(a, "2000", "anyone?")
        assert r.status == 404, r.text()
        # 1001's messages now enter "bots"; 1003's still "messages".
        p.ok("user set 1001 message_context bots")
        assert json.loads(p.ok("user show 1001 --json"))["message_context"] == "bots"
        got = []
        r = send_message(a, "1002", "hello", then=lambda: got.append(received(b)))
        assert r.status == 200, r.text()
        assert body_of(got[0]) == "bot: hello"
        out = p.fail("user set 1001 message_context 'bad ctx'")
        assert "message_context" in out, out
        p.ok('user set 1001 message_context ""')
        assert json.loads(p.ok("user show 1001 --json"))["message_context"] == "messages"
    finally:
        for ph in (a, b, c):
            ph.close()
