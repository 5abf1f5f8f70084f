"""The console socket: permissions, several consoles at once, and a server
that survives whatever a client sends (see the protocol in pbx/console.c)."""

import json
import os
import socket
import sqlite3
import stat
import threading

from pbxlib import Console, poll

TOO_LONG = "Error: line too long (at most 4095 bytes)\n"


def test_socket_and_directories_are_private(pbx):
    st = os.stat(pbx.sock_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(pbx.sock_path.parent).st_mode) == 0o700
    # pbx.db holds password hashes: nothing for other users
    assert stat.S_IMODE(os.stat(pbx.db_path).st_mode) & 0o007 == 0
    assert stat.S_IMODE(os.stat(pbx.state_dir).st_mode) & 0o007 == 0


def test_run_dir_mode_is_repaired_at_start(pbx_factory):
    p = pbx_factory()
    (p.state_dir / "run").mkdir(parents=True)
    os.chmod(p.state_dir / "run", 0o777)
    p.start()
    assert stat.S_IMODE(os.stat(p.state_dir / "run").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(p.sock_path).st_mode) == 0o600


def test_two_consoles_interleaved(pbx):
    with pbx.console() as a, pbx.console() as b:
        assert a.cmd("user add 1001 --name A") == (0, "User 1001 added. It has no password yet: "
                                                      "it cannot register.\n")
        assert b.cmd("user add 1002 --name B")[0] == 0
        st, out = a.cmd("user show 1002 --json")
        assert st == 0 and '"name":"B"' in out
        st, out = b.cmd("user show 1001 --json")
        assert st == 0 and '"name":"A"' in out
        # a pipelined burst on one console, interleaved with the other
        a.send(b"core show version\nuser list --json\n")
        assert b.cmd("user del 1001") == (0, "User 1001 deleted.\n")
        st, out = a.reply()
        assert st == 0 and out.startswith(b"pbx ")
        st, out = a.reply()
        assert st == 0 and out.count(b'"extension"') in (1, 2)
        assert a.cmd("user show 1001") == (1, "Error: user show: no such user '1001'\n")
    # -rx at the same time as a held console
    with pbx.console() as c:
        assert pbx.ok("user list --json").count('"extension"') == 1
        assert c.cmd("user del 1002")[0] == 0


def test_several_rx_clients_in_parallel(pbx):
    results = []

    def worker(i):
        results.append(pbx.rx(f"user add {2000 + i}")[0])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [0] * 8
    assert pbx.ok("user list").endswith("8 users\n")


def test_long_line_is_refused_and_connection_still_works(pbx):
    with pbx.console() as c:
        c.send(b"x" * 10000 + b"\n")
        assert c.reply() == (1, TOO_LONG.encode())
        # the rest of the long line was discarded, not run as a command
        st, out = c.cmd("core show version")
        assert st == 0 and out.startswith("pbx ")
        # the longest line allowed is 4095 bytes plus the newline
        c.send(b"core show version" + b" " * (4095 - 17) + b"\n")
        st, out = c.reply()
        assert st == 0 and out.startswith(b"pbx ")
        c.send(b"core show version" + b" " * (4096 - 17) + b"\n")
        assert c.reply() == (1, TOO_LONG.encode())
        # a long line that looks like a command is not half-run
        c.send(b"user add 1001 --name " + b"n" * 8000 + b"\nuser list --json\n")
        assert c.reply() == (1, TOO_LONG.encode())
        assert c.reply() == (0, b"[]\n")


def test_long_line_via_rx(pbx):
    rc, out, err = pbx.rx("user add 1001 --name " + "n" * 9000)
    assert rc == 1
    assert out == TOO_LONG
    assert pbx.ok("user list --json") == "[]\n"


def test_garbage_bytes_are_refused(pbx):
    with pbx.console() as c:
        c.send(b"\x00\xff\xfe\x07\n")
        assert c.reply() == (1, b"Error: control characters in command\n")
        c.send(b"user add \x1b[31m1001\n")
        assert c.reply() == (1, b"Error: control characters in command\n")
        c.send(b"user add 1001 --name \xff\xfe\n")
        assert c.reply() == (1, b"Error: invalid UTF-8 in command\n")
        c.send(b"user add 1001 --name \xc3\n")  # truncated sequence
        assert c.reply() == (1, b"Error: invalid UTF-8 in command\n")
        c.send(b"user add 1001 --name \xc0\xaf\n")  # overlong encoding
        assert c.reply() == (1, b"Error: invalid UTF-8 in command\n")
        c.send(b"\x01\x00\xff\n")  # garbage in a completion request: no candidates
        assert c.reply() == (0, b"")
        assert c.cmd("user list --json") == (0, "[]\n")
        # CRLF line ends are accepted
        c.send(b"core show version\r\n")
        st, out = c.reply()
        assert st == 0 and out.startswith(b"pbx ")
    # garbage, then hang up without a newline
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(pbx.sock_path))
    s.sendall(bytes(range(256)) * 4)
    s.close()
    assert pbx.running()
    assert pbx.ok("user list --json") == "[]\n"


def test_client_disconnecting_mid_line(pbx):
    pbx.ok("user add 1001 --name Before")
    for partial in (b"user add 1005", b"user set 1001 name After", b"user del 1001",
                    b"core stop now"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(pbx.sock_path))
        s.sendall(partial)
        s.close()
    # a client that sends a command and hangs up before the reply: it ran
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(pbx.sock_path))
    s.sendall(b"user add 1006\n")
    s.close()
    poll(lambda: pbx.rx("user show 1006")[0] == 0, what="user 1006 to exist")
    assert pbx.running()
    users = {u["extension"] for u in json.loads(pbx.ok("user list --json"))}
    assert users == {"1001", "1006"}
    assert '"name":"Before"' in pbx.ok("user show 1001 --json")
    pbx.stop()
    with sqlite3.connect(f"file:{pbx.db_path}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r[0] for r in db.execute("SELECT extension FROM users ORDER BY extension")] == \
            ["1001", "1006"]


def test_sixty_connections_opened_and_closed_quickly(pbx):
    for _ in range(60):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(pbx.sock_path))
        s.close()
    for i in range(60):
        with pbx.console() as c:
            assert c.cmd("core show version")[0] == 0
    assert pbx.ok("core show version").startswith("pbx ")


def test_console_limit_and_recovery(pbx):
    """At most 64 consoles; the 65th is told so; a slot freed is usable again."""
    held = []
    try:
        for _ in range(64):
            c = pbx.console()
            held.append(c)
            assert c.cmd("core show version")[0] == 0
        extra = pbx.console()
        assert extra.reply() == (1, b"Error: too many consoles attached\n")
        assert extra.reply() == (None, b"")  # and then closed
        extra.close()
        # the held ones still work
        assert held[0].cmd("user list --json") == (0, "[]\n")
        held.pop().close()

        def slot_free():
            rc = pbx.rx("core show version")[0]
            return rc == 0
        poll(slot_free, what="a console slot to be freed")
    finally:
        for c in held:
            c.close()
    assert pbx.ok("user list --json") == "[]\n"


def test_rx_reports_too_many_consoles(pbx):
    """`pbx -rx` refused for lack of a console slot says why, every time
    (not "Disconnected from PBX")."""
    held = []
    try:
        for _ in range(64):
            c = pbx.console()
            held.append(c)
            assert c.cmd("core show version")[0] == 0
        for _ in range(10):
            assert pbx.rx("core show version") == \
                (1, "Error: too many consoles attached\n", "")
    finally:
        for c in held:
            c.close()
    poll(lambda: pbx.rx("core show version")[0] == 0, what="console slots to be freed")


def test_client_that_never_reads_is_dropped(pbx):
    """A console that keeps sending but never reads its replies is cut off
    (MAX_PENDING_OUT) instead of growing the server's memory."""
    c = pbx.console()
    try:
        sent = 0
        try:
            for _ in range(20000):  # ~30 MB of `help` output, never read
                c.send(b"help\n")
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 20000, "the server never dropped a console that does not read"
    finally:
        c.close()
    assert pbx.running()
    assert pbx.ok("core show version").startswith("pbx ")


def test_completion_protocol(pbx):
    pbx.ok("user add 1001")
    pbx.ok("user add 1002")
    pbx.ok("user add 2001")
    with pbx.console() as c:
        assert c.complete("") == ["help", "core", "user", "channel", "rtp", "confbridge", "message",
                                  "voicemail", "sip", "dialplan"]
        assert c.complete("user sh") == ["show"]
        assert c.complete("core s") == ["show", "set", "stop"]
        assert c.complete("core show ") == ["version", "uptime", "settings", "memory", "bridges",
                                            "channels", "calls", "codecs", "hints"]
        assert c.complete("core set loglevel ") == ["error", "warning", "notice", "info",
                                                    "debug"]
        assert c.complete("core stop g") == ["gracefully"]
        assert c.complete("user show 10") == ["1001", "1002"]
        assert c.complete("user show ") == ["1001", "1002", "2001"]
        assert c.complete("user del 2") == ["2001"]
        assert c.complete("user show 9") == []
        assert c.complete("user list --") == ["--json"]
        assert c.complete("user add 1003 --p") == ["--password", "--pin"]
        assert c.complete("user set 1001 ") == ["name", "password", "pin", "email",
                                                 "context", "message_context", "srtp", "auth", "mwi",
                                                 "max_messages"]
        assert c.complete("help us") == ["user"]
        assert c.complete("bogus ") == []
        # completion changes nothing and the console still runs commands
        assert c.cmd("user list --json")[1].count('"extension"') == 3


def test_empty_and_blank_lines(pbx):
    with pbx.console() as c:
        c.send(b"\n\n   \n")
        assert c.reply() == (0, b"")
        assert c.reply() == (0, b"")
        assert c.reply() == (0, b"")
        assert c.cmd("core show version")[0] == 0


def test_stop_with_consoles_attached(pbx):
    a = pbx.console()
    b = pbx.console()
    assert a.cmd("core show version")[0] == 0
    assert b.cmd("core stop now") == (0, "Stopping now.\n")
    pbx.wait_exit(status=0)
    # the attached consoles see the end of the stream, not a hang
    assert a.reply() == (None, b"")
    assert b.reply() == (None, b"")
    a.close()
    b.close()


def test_console_class_sanity(pbx):
    """The helper itself: a reply split across reads is reassembled."""
    c = Console(pbx.sock_path)
    c.send(b"core show ")
    c.send(b"version\n")
    st, out = c.reply()
    assert st == 0 and out.startswith(b"pbx ")
    c.close()
