"""`message show queue` and `message purge` on the shipped config, and the
`messaging` config section. Nothing puts a message in the queue from
outside yet (SIP MESSAGE is not routed), so the tests seed rows into
STATE_DIR/pbx.db with sqlite3 while the PBX is stopped, as the store
would write them, and check what the console makes of them, across
restarts."""

import json
import re
import sqlite3
import time

import pytest

from pbxlib import REPO, lua_value

SHIPPED_CONFIG = REPO / "etc" / "pbx.lua"
SHIPPED_DIALPLAN = REPO / "etc" / "extensions.lua"
JSON_KEYS = {"id", "target", "sender", "created", "type", "size", "attempts", "next_try",
             "preview"}
HEADER = ["ID", "To", "From", "Time", "Type", "Size", "Tries", "Next", "try", "Message"]


def shipped_config(p, extra=""):
    """The shipped config, plus only the keys a user must set."""
    return SHIPPED_CONFIG.read_text() + (
        f"\npbx.state_dir = {lua_value(str(p.state_dir))}\n"
        f"sip.listen = {{ \"udp:127.0.0.1:{p.port}\", \"tcp:127.0.0.1:{p.port}\" }}\n"
        f"sip.domain = {lua_value(p.domain)}\n"
        f"dialplan.file = {lua_value(str(SHIPPED_DIALPLAN))}\n" + extra)


@pytest.fixture
def msg_pbx(pbx_factory):
    p = pbx_factory()
    p.write_config(shipped_config(p))
    p.start()
    p.ok("user add 1001")
    p.ok("user add 1002")
    return p


def seed(p, rows):
    """Insert @rows (target, sender, created, type, body[, attempts, next_try]) while
    the PBX is stopped; their ids in order."""
    assert not p.running()
    with sqlite3.connect(p.db_path) as db:
        ids = []
        for r in rows:
            target, sender, created, ctype, body, *rest = r
            attempts, next_try = rest if rest else (0, 0)
            cur = db.execute("INSERT INTO messages(target, sender, created, content_type, body, "
                             "attempts, next_try) VALUES(?,?,?,?,?,?,?)",
                             (target, sender, created, ctype, body, attempts, next_try))
            ids.append(cur.lastrowid)
    return ids


def db_rows(p):
    with sqlite3.connect(f"file:{p.db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT id, target FROM messages ORDER BY id").fetchall()


def queue_json(p, ext=""):
    out = p.ok(f"message show queue {ext} --json" if ext else "message show queue --json")
    assert out.endswith("]\n"), out
    return json.loads(out)


def test_empty_queue(msg_pbx):
    p = msg_pbx
    out = p.ok("message show queue")
    lines = out.splitlines()
    assert lines[0].split() == HEADER
    assert lines[1:] == ["0 messages waiting"], out
    assert p.ok("message show queue --json") == "[]\n"
    assert p.ok("message show queue 1001").endswith("\n0 messages waiting for 1001\n")
    assert p.ok("message show queue 1001 --json") == "[]\n"
    assert p.ok("message purge 1001") == "0 messages of 1001 removed.\n"


@pytest.mark.parametrize("cmd", ["message show queue", "message purge"])
def test_bad_extension_is_named(msg_pbx, cmd):
    p = msg_pbx
    out = p.fail(f"{cmd} '10 01'")
    assert out == (f"Error: {cmd}: invalid extension '10 01': may contain only letters, "
                   "digits and + - . _\n"), out
    out = p.fail(f"{cmd} _1001")
    assert out.startswith(f"Error: {cmd}: invalid extension '_1001': must not start"), out
    # A well-formed extension that is nobody's, with nothing waiting: a typo.
    assert p.fail(f"{cmd} 1009") == f"Error: {cmd}: no such user '1009'\n"
    assert p.fail(f"{cmd}" + (" 1009 --json" if "show" in cmd else " 1009")) == \
        f"Error: {cmd}: no such user '1009'\n"


def test_settings_show_the_messaging_keys(msg_pbx):
    out = msg_pbx.ok("core show settings")
    assert re.search(r"^messaging\.store_days\s+= 7  -- ", out, re.M), out
    assert re.search(r"^messaging\.max_stored\s+= 100  -- ", out, re.M), out


@pytest.mark.parametrize("key, value, why", [
    ("store_days", "-1", "out of range 0..3650"),
    ("store_days", "3651", "out of range 0..3650"),
    ("max_stored", "0", "out of range 1..100000"),
])
def test_bad_value_stops_start_up(pbx_factory, key, value, why):
    p = pbx_factory()
    p.write_config(shipped_config(p, f"messaging.{key} = {value}\n"))
    cp = p.run("-f", "-c", str(p.cfg_path))
    assert cp.returncode != 0
    assert cp.stderr == f"{p.cfg_path}: messaging.{key}: '{value}': {why}\n", cp.stderr
    assert not p.sock_path.exists()


def test_seeded_messages_listed_purged_and_kept_purged(msg_pbx):
    p = msg_pbx
    p.stop()
    now = int(time.time())
    long_text = "x" * 59 + "é" + "tail"  # 64 characters: cut after 60
    ids = seed(p, [
        ("1001", "1002", now - 60, "text/plain", "Hello\nthere".encode()),
        ("1002", "sip:alice@example.com", now - 50, "application/octet-stream",
         b"\x00\x01\x00\xff"),
        ("1001", "sip:bob@example.com", now - 40, "text/plain;charset=UTF-8",
         long_text.encode(), 2, now + 3600),
        ("1001", "1002", now - 30, "text/plain", b"x'); DROP TABLE messages; --"),
    ])
    p.start()

    everyone = queue_json(p)
    assert [m["id"] for m in everyone] == ids
    assert all(set(m) == JSON_KEYS for m in everyone)
    assert everyone[0] == {"id": ids[0], "target": "1001", "sender": "1002",
                           "created": now - 60, "type": "text/plain", "size": 11,
                           "attempts": 0, "next_try": 0, "preview": "Hello there"}
    assert everyone[1]["preview"] == "(4 bytes application/octet-stream)"
    assert everyone[1]["sender"] == "sip:alice@example.com"
    assert everyone[2]["preview"] == "x" * 59 + "é..."
    assert (everyone[2]["attempts"], everyone[2]["next_try"]) == (2, now + 3600)
    assert everyone[3]["preview"] == "x'); DROP TABLE messages; --"
    assert [m["id"] for m in queue_json(p, "1001")] == [ids[0], ids[2], ids[3]]
    assert [m["id"] for m in queue_json(p, "1002")] == [ids[1]]

    text = p.ok("message show queue")
    lines = text.splitlines()
    assert lines[0].split() == HEADER
    first = lines[1].split()
    assert first[:3] == [str(ids[0]), "1001", "1002"]
    assert first[5:] == ["text/plain", "11", "0", "now", "Hello", "there"], lines[1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", " ".join(first[3:5]))
    assert lines[2].endswith("(4 bytes application/octet-stream)"), lines[2]
    assert lines[-1] == "4 messages waiting"
    assert p.ok("message show queue 1002").splitlines()[-1] == "1 message waiting for 1002"

    assert p.ok("message purge 1001") == "3 messages of 1001 removed.\n"
    assert [m["id"] for m in queue_json(p)] == [ids[1]]
    assert p.ok("message purge 1001") == "0 messages of 1001 removed.\n"
    p.stop()
    assert db_rows(p) == [(ids[1], "1002")]
    p.start()
    assert [m["id"] for m in queue_json(p)] == [ids[1]]
    assert queue_json(p, "1001") == []
    assert p.ok("message purge 1002") == "1 message of 1002 removed.\n"
    assert queue_json(p) == []


def test_deleted_users_messages_can_be_purged(msg_pbx):
    """A user deleted with messages waiting: they are listed and purged by the
    extension; once gone, the extension is nobody's."""
    p = msg_pbx
    p.stop()
    seed(p, [("1003", "1001", int(time.time()), "text/plain", b"hi")])
    p.start()
    assert [m["target"] for m in queue_json(p, "1003")] == ["1003"]
    assert p.ok("message purge 1003") == "1 message of 1003 removed.\n"
    assert p.fail("message purge 1003") == "Error: message purge: no such user '1003'\n"


def test_expired_at_start(pbx_factory):
    """Messages older than messaging.store_days are removed at start, with a
    notice; store_days = 0 keeps them."""
    p = pbx_factory()
    p.write_config(shipped_config(p, "messaging.store_days = 0\n"))
    p.start()
    p.ok("user add 1001")
    p.stop()
    day = 86400
    now = int(time.time())
    ids = seed(p, [
        ("1001", "1002", now - 30 * day, "text/plain", b"a month"),
        ("1001", "1002", now - 8 * day, "text/plain", b"eight days"),
        ("1001", "1002", now - 6 * day, "text/plain", b"six days"),
    ])
    p.start()
    assert [m["id"] for m in queue_json(p)] == ids
    assert "expired" not in p.log()
    p.stop()
    p.write_config(shipped_config(p))  # the shipped 7 days
    p.start()
    assert [m["id"] for m in queue_json(p)] == ids[2:]
    assert "messages: 2 undelivered messages older than 7 days expired" in p.log(), p.log()


def test_tab_completes_extensions(msg_pbx):
    with msg_pbx.console() as c:
        assert c.complete("message ") == ["show", "purge", "send"]
        assert c.complete("message purge 100") == ["1001", "1002"]
        assert c.complete("message show queue 1") == ["1001", "1002"]
