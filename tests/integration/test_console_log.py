"""`pbx -r` shows the log as it happens, at the console's own level
(`core set verbose`), as `asterisk -r` does; `pbx -rx` shows only the
command's output."""

import re
import sys
import time
from pathlib import Path

import pexpect

from pbxlib import TIMEOUT, assert_no_sanitizer_report, spawn_console

sys.path.insert(0, str(Path(__file__).resolve().parent / "sip"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "calls"))
import callib  # noqa: E402
from siplib import UA, SipClient  # noqa: E402

PROMPT = "pbx> "
VERSION_OUT = r"pbx \d+\.\d+\.\d+ built [^\n]+\n"


def attach(pbx):
    child = spawn_console(pbx, leak_check=False)
    child.expect_exact("Connected to PBX. Type 'help' for commands, 'exit' to leave.")
    child.expect_exact(PROMPT)
    return child


def leave(child):
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=TIMEOUT)
    child.close()
    assert_no_sanitizer_report(child.before or "", "pbx -r")
    assert child.exitstatus == 0, child.before


def command(child, line, expect):
    """Run @line on the console; wait for @expect and the prompt after it."""
    child.sendline(line)
    child.expect_exact(expect)
    child.expect_exact(PROMPT)


def register(pbx, ext, password="s3cret"):
    """A real SIP REGISTER with digest from a raw client; the 200 OK."""
    c = SipClient(pbx.port, "udp")
    try:
        r = UA(c, ext, password).register()
        assert r is not None and r.status == 200, r and r.text()
        return c.port
    finally:
        c.close()


def test_register_is_shown_on_an_attached_console(pbx):
    pbx.ok("user add 1001 --password s3cret")
    child = attach(pbx)
    try:
        port = register(pbx, "1001")
        # The notice the registrar logs, on the console, while attached.
        child.expect(r"\] notice: sip: 1001 registered sip:1001@127\.0\.0\.1:%d" % port)
        # The prompt comes back after the line, and the console still works.
        child.expect_exact(PROMPT)
        command(child, "user show 1001", "Extension : 1001")
        leave(child)
    finally:
        child.terminate(force=True)


CALL_DIALPLAN = """
extensions = {
  default = {
    ["700"] = function(context, exten)
      app.verbose("CALL TO " .. exten .. " FROM " .. channel["CALLERID(num)"]:get())
      app.hangup("USER_BUSY")
    end,
    ["701"] = function() app.answer() app.wait(5) app.hangup() end,
  },
}
"""


def test_a_call_is_shown_on_an_attached_console(pbx_factory):
    p = pbx_factory(sections={"sip": {"qualify_interval": 0}})
    p.sections["dialplan"] = {"file": str(p.dir / "extensions.lua")}
    (p.dir / "extensions.lua").write_text(CALL_DIALPLAN)
    p.write_config()
    p.start()
    p.ok("user add 1001 --password s3cret")
    child = attach(p)
    phone = callib.Phone(p, "1001", "s3cret")
    try:
        phone.register()
        child.expect_exact("notice: sip: 1001 registered")
        call = phone.call("700")
        r = call.final()
        assert r.status == 486, r.text()
        call.ack_failure(r)
        # The dialplan's line, logged during the call, on the console.
        child.expect(r"\] notice: CALL TO 700 FROM 1001\r?\n")
        child.expect_exact(PROMPT)
        # A media worker's line (another thread) reaches a console at debug:
        # the PBX latches to where the phone's RTP comes from.
        command(child, "core set verbose debug", "is now 4 (debug).")
        call = phone.call("701")
        call.established()
        call.rtp.start_stream("PCMU", callib.tone(440, 0.2))
        child.expect(r"\] debug: rtp \d+: latched to 127\.0\.0\.1 port %d\r?\n"
                     % call.rtp.port)
        call.rtp.stop_stream()
        call.bye()
        leave(child)
    finally:
        phone.close()
        child.terminate(force=True)


def test_a_log_line_while_typing_keeps_the_typed_text(pbx):
    pbx.ok("user add 1001 --password s3cret")
    child = attach(pbx)
    try:
        child.send("user sh")
        child.expect_exact("user sh")
        register(pbx, "1001")
        child.expect(r"notice: sip: 1001 registered [^\r\n]*\r?\n")
        # Drawn again below the line, with what was typed so far ...
        child.expect_exact(PROMPT + "user sh")
        # ... and the line goes on from there.
        child.send("ow 1001\r")
        child.expect_exact("Extension : 1001")
        child.expect_exact(PROMPT)
        leave(child)
    finally:
        child.terminate(force=True)


def test_each_console_has_its_own_level(pbx):
    pbx.ok("user add 1001 --password s3cret")
    loud, quiet = attach(pbx), attach(pbx)
    try:
        command(loud, "core set verbose 4",
                "Verbosity of this console was 2 (notice) and is now 4 (debug).")
        command(quiet, "core set verbose notice",
                "Verbosity of this console was 2 (notice) and is now 2 (notice).")
        # Another console's command is logged at debug ...
        pbx.ok("user list")
        loud.expect_exact("debug: console: user list...")
        # ... then a notice: both see it; the quiet one saw no debug line before it.
        register(pbx, "1001")
        loud.expect_exact("notice: sip: 1001 registered")
        quiet.expect_exact("notice: sip: 1001 registered")
        assert "debug:" not in quiet.before, quiet.before
        # The PBX's own log level is untouched by either.
        out = pbx.ok("core show settings")
        assert re.search(r'\(running log level\)\s+= "notice"', out), out
        assert "debug: console: user list" not in pbx.log()
        # verbose 0 shows errors only: the next registration is not shown.
        command(quiet, "core set verbose 0",
                "Verbosity of this console was 2 (notice) and is now 0 (error).")
        pbx.ok("user add 1002 --password s3cret")
        register(pbx, "1002")
        loud.expect_exact("notice: sip: 1002 registered")
        command(quiet, "core show version", "pbx ")
        assert "registered" not in quiet.before
        leave(loud)
        leave(quiet)
    finally:
        loud.terminate(force=True)
        quiet.terminate(force=True)


def test_rx_output_is_only_the_command_output(pbx):
    pbx.ok("user add 1001 --password s3cret")
    child = attach(pbx)
    try:
        command(child, "core set verbose debug",
                "Verbosity of this console was 2 (notice) and is now 4 (debug).")
        for _ in range(3):
            register(pbx, "1001")
            rc, out, err = pbx.rx("core show version")
            assert rc == 0 and err == ""
            assert re.fullmatch(VERSION_OUT, out), repr(out)
        child.expect_exact("debug: console: core show ...")
        # -rx has no log to set a level for.
        rc, out, err = pbx.rx("core set verbose 3")
        assert (rc, err) == (1, "")
        assert out == ("Error: core set verbose: this console does not show the log; attach "
                       "one with 'pbx -r' (the PBX's own log: core set loglevel)\n")
        leave(child)
    finally:
        child.terminate(force=True)


def test_set_verbose_refuses_what_is_not_a_level(pbx):
    child = attach(pbx)
    try:
        command(child, "core set verbose loud",
                "Error: core set verbose: 'loud' is not a number from 0 to 100 nor one of "
                "error|warning|notice|info|debug")
        command(child, "core set verbose -1", "is not a number")
        command(child, "core set verbose 7",
                "Verbosity of this console was 2 (notice) and is now 4 (debug).")
        child.send("core set verbose d\t")
        child.expect_exact("core set verbose debug ")
        child.send("\r")
        child.expect_exact("and is now 4 (debug).")
        child.expect_exact(PROMPT)
        leave(child)
    finally:
        child.terminate(force=True)


def test_a_console_that_does_not_read_does_not_stall_the_pbx(pbx):
    """Log lines for a console that stops reading are dropped and counted;
    the PBX and the other consoles go on."""
    slow = pbx.console()
    slow.send(b"\x02\n")
    assert slow.reply()[0] == 0
    assert slow.cmd("core set verbose debug")[0] == 0
    # Each command below is logged (at debug) in a line of about 2 KB; the
    # slow console reads none of them: several megabytes are produced.
    word = "x" * 1900
    with pbx.console() as fast:
        for _ in range(2000):
            st, out = fast.cmd(word)
            assert st == 1 and out.startswith("Error: no such command")
    assert re.fullmatch(VERSION_OUT, pbx.ok("core show version"))
    # Now it reads: what it got, then, once it has caught up, a count of
    # what it missed.
    got, pat = b"", re.compile(rb"\x02\[console\] (\d+) log line\(s\) dropped: this console")
    deadline = time.monotonic() + TIMEOUT
    while not pat.search(got) and time.monotonic() < deadline:
        data = slow.sock.recv(1 << 20)
        if not data:
            break
        got += data
    slow.close()
    m = pat.search(got)
    assert m and int(m.group(1)) > 0, got[-2000:]
    # Bounded: far less than what was logged reached the socket.
    assert len(got) < 2000 * 1900 / 2, len(got)
