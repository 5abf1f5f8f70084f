"""`pbx -r`: the interactive libedit console on a pty (pexpect)."""

import pexpect

from pbxlib import TIMEOUT, assert_no_sanitizer_report, spawn_console

PROMPT = "pbx> "


def finish(child, status=0):
    """Wait for the console to end; check its status and its output."""
    child.expect(pexpect.EOF, timeout=TIMEOUT)
    child.close()
    transcript = child.before or ""
    assert_no_sanitizer_report(transcript, "pbx -r")
    assert child.signalstatus is None, f"pbx -r killed by signal {child.signalstatus}"
    assert child.exitstatus == status, \
        f"pbx -r exited {child.exitstatus}, expected {status}:\n{transcript[-4000:]}"


def attach(pbx, leak_check=False):
    """An interactive console at its first prompt.

    Leak checking of the client is off here: one test below checks a whole
    session for leaks, so one leak fails one test, not all of them.
    """
    child = spawn_console(pbx, leak_check=leak_check)
    child.expect_exact("Connected to PBX. Type 'help' for commands, 'exit' to leave.")
    child.expect_exact(PROMPT)
    return child


def test_session_exits_0_without_leaks(pbx):
    """A whole session (commands, errors, Tab completion, exit) under
    LeakSanitizer: the client must exit 0 with no sanitizer report."""
    pbx.ok("user add 1001")
    pbx.ok("user add 1002")
    child = attach(pbx, leak_check=True)
    try:
        child.sendline("user list")
        child.expect_exact("2 users")
        child.expect_exact(PROMPT)
        child.sendline("user shw")
        child.expect_exact("Did you mean 'user show'?")
        child.expect_exact(PROMPT)
        child.send("user sh\t")
        child.expect_exact("user show ")
        child.send("10\t\t")
        child.expect(r"1001\s+1002")
        child.send("1\r")
        child.expect_exact("Extension : 1001")
        child.expect_exact(PROMPT)
        child.sendline("exit")
        finish(child, 0)
    finally:
        child.terminate(force=True)


def test_prompt_command_and_exit(pbx):
    pbx.ok("user add 1001 --name Alice")
    child = attach(pbx)
    try:
        child.sendline("user list")
        child.expect(r"1001\s+Alice\s+default")
        child.expect_exact("1 user")
        child.expect_exact(PROMPT)
        child.sendline("user show 9999")
        child.expect_exact("Error: user show: no such user '9999'")
        child.expect_exact(PROMPT)
        child.sendline("exit")
        finish(child, 0)
    finally:
        child.terminate(force=True)


def test_quit_and_end_of_file_leave(pbx):
    child = attach(pbx)
    try:
        child.sendline("quit")
        finish(child, 0)
    finally:
        child.terminate(force=True)
    child = attach(pbx)
    try:
        child.sendeof()
        finish(child, 0)
    finally:
        child.terminate(force=True)


def test_tab_completes_command_words(pbx):
    pbx.ok("user add 1001 --name Alice")
    child = attach(pbx)
    try:
        child.send("user sh\t")
        child.expect_exact("user show ")
        child.send("1001\r")
        child.expect(r"Extension : 1001\s+Name      : Alice")
        child.expect_exact(PROMPT)
        child.send("core show up\t")
        child.expect_exact("core show uptime ")
        child.send("\r")
        child.expect_exact("System uptime:")
        child.expect_exact(PROMPT)
        child.sendline("exit")
        finish(child, 0)
    finally:
        child.terminate(force=True)


def test_tab_completes_extensions(pbx):
    pbx.ok("user add 1001 --name Alice")
    pbx.ok("user add 1002 --name Bob")
    pbx.ok("user add 2001 --name Carol")
    child = attach(pbx)
    try:
        # the common part of 1001 and 1002 is inserted ...
        child.send("user show 10\t")
        child.expect_exact("user show 100")
        # ... and a second Tab lists both candidates
        child.send("\t")
        child.expect(r"1001\s+1002")
        # the line is kept: finishing it runs the completed command
        child.send("2\r")
        child.expect(r"Extension : 1002\s+Name      : Bob")
        child.expect_exact(PROMPT)
        # a unique candidate is completed with a trailing space
        child.send("user show 2\t")
        child.expect_exact("user show 2001 ")
        child.send("\r")
        child.expect(r"Name      : Carol")
        child.expect_exact(PROMPT)
        child.sendline("exit")
        finish(child, 0)
    finally:
        child.terminate(force=True)


def test_history_file_is_written_to_home(pbx):
    child = attach(pbx)
    try:
        child.sendline("core show version")
        child.expect_exact(PROMPT)
        child.sendline("exit")
        finish(child, 0)
    finally:
        child.terminate(force=True)
    hist = (pbx.dir / ".pbx_history").read_text()
    assert "core\\040show\\040version" in hist or "core show version" in hist


def test_two_interactive_consoles_at_once(pbx):
    a = attach(pbx)
    b = attach(pbx)
    try:
        a.sendline("user add 1001 --name FromA")
        a.expect_exact("User 1001 added.")
        a.expect_exact(PROMPT)
        b.sendline("user show 1001")
        b.expect_exact("Name      : FromA")
        b.expect_exact(PROMPT)
        b.sendline("user set 1001 name FromB")
        b.expect_exact("User 1001: name updated.")
        b.expect_exact(PROMPT)
        a.sendline("user show 1001")
        a.expect_exact("Name      : FromB")
        a.expect_exact(PROMPT)
        a.sendline("exit")
        finish(a, 0)
        # b is unaffected by a leaving
        b.sendline("user list")
        b.expect_exact("1 user")
        b.expect_exact(PROMPT)
        b.sendline("exit")
        finish(b, 0)
    finally:
        a.terminate(force=True)
        b.terminate(force=True)


def test_core_stop_ends_the_session(pbx):
    child = attach(pbx)
    try:
        child.sendline("core stop gracefully")
        child.expect_exact("Stopping when no calls are up.")
        finish(child, 0)
    finally:
        child.terminate(force=True)
    pbx.wait_exit(status=0)


def test_session_ends_when_the_pbx_goes_away(pbx):
    child = attach(pbx)
    try:
        pbx.stop()
        child.sendline("core show version")
        child.expect_exact("Disconnected from PBX")
        finish(child, 0)
    finally:
        child.terminate(force=True)


def test_r_without_a_running_pbx(pbx_factory):
    p = pbx_factory()
    child = spawn_console(p)
    try:
        child.expect_exact(f"Unable to connect to PBX at {p.sock_path}: No such file or "
                           "directory (is it running?)")
        finish(child, 1)
    finally:
        child.terminate(force=True)
