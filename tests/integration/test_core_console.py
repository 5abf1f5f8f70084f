"""Core console commands through `pbx -rx`: version, uptime, settings, log
level, stop, help, and the parser's answers to what it does not know."""

import json
import re

VERSION_RE = r"pbx (\d+\.\d+\.\d+)"

# Every command `help` must list, as its usage line.
ALL_USAGES = [
    "core show version",
    "core show uptime",
    "core show settings",
    "core show memory [--json]",
    "core set loglevel error|warning|notice|info|debug",
    "core stop now|gracefully [TIMEOUT]",
    "user add EXT [--name N] [--password P] [--pin N] [--email E] [--context C] "
    "[--srtp off|optional|mandatory] [--auth A]",
    "user del EXT",
    "user list [--json]",
    "user show EXT [--json]",
    "user passwd EXT PASSWORD",
    "user set EXT name|password|pin|email|context|message_context|srtp|auth|mwi|max_messages VALUE",
    "user enable EXT",
    "user disable EXT",
    "voicemail show EXT [--json]",
    "voicemail play EXT N",
    "voicemail delete EXT N",
    "voicemail move EXT N FOLDER",
    "voicemail show queue [--json]",
    "message show queue [EXT] [--json]",
    "message purge EXT",
    "message send EXT [--from F] TEXT...",
    "core show hints [--json]",
    "sip show subscriptions [--json]",
    "help [COMMAND...]",
]


def test_dash_V_prints_version(pbx_factory):
    p = pbx_factory()
    cp = p.run("-V")
    assert cp.returncode == 0
    assert re.fullmatch(VERSION_RE + r"\n", cp.stdout), cp.stdout
    assert cp.stderr == ""


def test_dash_h_and_bad_arguments(pbx_factory):
    p = pbx_factory()
    cp = p.run("-h")
    assert cp.returncode == 0
    assert cp.stdout.startswith("Usage: pbx [-c FILE] [-f]")
    assert "-rx \"CMD\"" in cp.stdout

    cp = p.run("-Z")
    assert cp.returncode == 2
    assert "Usage: pbx" in cp.stderr

    cp = p.run("-c", str(p.cfg_path), "stray")
    assert cp.returncode == 2
    assert "pbx: unexpected argument 'stray'" in cp.stderr
    assert not p.state_dir.exists()


def test_core_show_version_matches_dash_V(pbx):
    out = pbx.ok("core show version")
    m = re.fullmatch(VERSION_RE + r" built \w{3} [ \d]\d \d{4} \d\d:\d\d:\d\d\n", out)
    assert m, out
    assert pbx.run("-V").stdout == f"pbx {m.group(1)}\n"


def test_core_show_uptime(pbx):
    out = pbx.ok("core show uptime")
    assert re.fullmatch(
        r"System uptime: (\d+) seconds?\nStarted: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", out), out
    secs = int(re.match(r"System uptime: (\d+)", out).group(1))
    assert 0 <= secs < 60


def setting(out, key):
    """The value column of @key in `core show settings` output."""
    m = re.search(r"^" + re.escape(key) + r"\s+= (.*?)  -- ", out, re.M)
    assert m, f"{key} not in settings:\n{out}"
    return m.group(1)


def test_core_show_settings_reflects_config(pbx_factory):
    p = pbx_factory(domain="office.example", sections={"rtp": {"port_min": 31000,
                                                              "port_max": 31100,
                                                              "srtp": "mandatory"}})
    p.start()
    out = p.ok("core show settings")
    assert out.startswith(f"-- {p.cfg_path}\n")
    assert setting(out, "sip.domain") == '"office.example"'
    assert setting(out, "pbx.state_dir") == f'"{p.state_dir}"'
    assert setting(out, "sip.listen") == \
        f'{{ "udp:127.0.0.1:{p.port}", "tcp:127.0.0.1:{p.port}" }}'
    assert setting(out, "rtp.port_min") == "31000"
    assert setting(out, "rtp.port_max") == "31100"
    assert setting(out, "rtp.srtp") == '"mandatory"'
    # defaults are shown too
    assert setting(out, "sip.max_contacts") == "5"
    assert setting(out, "pbx.log_file") == "nil"
    assert setting(out, "(running log level)") == '"notice"'


def test_set_loglevel_is_reflected_in_settings(pbx):
    assert pbx.ok("core set loglevel debug") == "Log level is now debug.\n"
    out = pbx.ok("core show settings")
    assert setting(out, "(running log level)") == '"debug"'
    # the configured level is still what the file says
    assert setting(out, "pbx.log_level") == '"notice"'
    assert pbx.ok("core set loglevel warning") == "Log level is now warning.\n"
    assert setting(pbx.ok("core show settings"), "(running log level)") == '"warning"'


def test_set_loglevel_refuses_bad_level(pbx):
    out = pbx.fail("core set loglevel loud")
    assert out == ("Error: core set loglevel: 'loud' is not one of "
                   "error|warning|notice|info|debug\n")
    out = pbx.fail("core set loglevel")
    assert out == ("Error: core set loglevel: missing argument error|warning|notice|info|debug"
                   " (usage: core set loglevel error|warning|notice|info|debug)\n")
    # nothing changed
    assert setting(pbx.ok("core show settings"), "(running log level)") == '"notice"'


def test_debug_log_never_contains_passwords(pbx):
    """The debug log echoes console commands; passwords and PINs must not
    appear in it (DESIGN: HA1 stored, never the password; user_cmds.c:
    "Passwords are never echoed back, not even in an error")."""
    pbx.ok("core set loglevel debug")
    pbx.ok("user add 1001 --password Sekr1tAdd --pin 918273")
    pbx.ok("user passwd 1001 Sekr1tPasswd")
    pbx.ok("user set 1001 password Sekr1tSet")
    pbx.ok("user set 1001 pin 564738")
    pbx.ok("core set loglevel notice")
    log = pbx.log()
    for secret in ("Sekr1tAdd", "Sekr1tPasswd", "Sekr1tSet", "918273", "564738"):
        assert secret not in log, f"secret {secret!r} written to the log:\n{log}"


def test_core_stop_now(pbx):
    rc, out, err = pbx.rx("core stop now")
    assert (rc, out, err) == (0, "Stopping now.\n", "")
    pbx.wait_exit(status=0)
    assert not pbx.sock_path.exists()


def test_core_stop_gracefully(pbx):
    rc, out, err = pbx.rx("core stop gracefully")
    assert (rc, out, err) == (0, "Stopping when no calls are up.\n", "")
    pbx.wait_exit(status=0)
    assert not pbx.sock_path.exists()


def test_core_stop_needs_now_or_gracefully(pbx):
    assert pbx.fail("core stop later") == \
        "Error: core stop: 'later' is not one of now|gracefully\n"
    assert pbx.fail("core stop") == ("Error: core stop: missing argument now|gracefully "
                                     "(usage: core stop now|gracefully [TIMEOUT])\n")
    assert pbx.running()
    pbx.ok("core show version")


def test_help_lists_every_command(pbx):
    out = pbx.ok("help")
    for usage in ALL_USAGES:
        assert re.search(r"^" + re.escape(usage) + r"(\s|$)", out, re.M), \
            f"help does not list {usage!r}:\n{out}"
    # each command has a one-line summary after its usage
    assert re.search(r"^core show uptime\s+show how long the PBX has been running$", out, re.M)
    assert re.search(r"^user del EXT\s+delete a user and its registrations$", out, re.M)


def test_help_user_add_shows_usage(pbx):
    out = pbx.ok("help user add")
    assert out.startswith("Usage: " + ALL_USAGES[6] + "\n  add a user (extension)\n")
    assert "Without --password the user exists but cannot register." in out


def test_help_prefix_lists_matching_commands(pbx):
    out = pbx.ok("help core show")
    assert [line.split("  ")[0] for line in out.splitlines()] == \
        ["core show version", "core show uptime", "core show settings",
         "core show memory [--json]", "core show bridges [--json]", "core show channels [--json]", "core show calls",
         "core show codecs [--json]", "core show hints [--json]"]
    assert pbx.ok("help core show version") == "Usage: core show version\n  show the PBX version\n"
    assert pbx.fail("help bogus") == "Error: help: no command starts with 'bogus'\n"


def test_core_show_memory(pbx):
    mem = json.loads(pbx.ok("core show memory --json"))
    assert set(mem) == {"rss_bytes", "heap_in_use", "heap_free", "heap_mmapped"}, mem
    assert 1 << 20 < mem["rss_bytes"] < 1 << 32, mem
    assert re.match(r"Resident \(RSS\) +: [0-9.]+ MiB\nHeap in use +: ", pbx.ok("core show memory"))


def test_unknown_command_suggests_closest(pbx):
    assert pbx.fail("user shw 1001") == \
        "Error: no such command 'user shw 1001'. Did you mean 'user show'? (try 'help')\n"
    assert pbx.fail("user shw") == \
        "Error: no such command 'user shw'. Did you mean 'user show'? (try 'help')\n"
    assert pbx.fail("core show verison") == \
        "Error: no such command 'core show verison'. Did you mean 'core show version'? " \
        "(try 'help')\n"
    assert pbx.fail("frobnicate") == "Error: no such command 'frobnicate' (try 'help')\n"


def test_incomplete_command_lists_continuations(pbx):
    out = pbx.fail("core show")
    assert out == ("Error: incomplete command; one of:\n"
                   "  core show version\n  core show uptime\n  core show settings\n"
                   "  core show memory [--json]\n  core show bridges [--json]\n"
                   "  core show channels [--json]\n  core show calls\n"
                   "  core show codecs [--json]\n  core show hints [--json]\n")
    out = pbx.fail("user")
    lines = out.splitlines()
    assert lines[0] == "Error: incomplete command; one of:"
    assert [line.strip() for line in lines[1:]] == [u for u in ALL_USAGES if u.startswith("user ")]


def test_commands_are_case_insensitive(pbx):
    assert pbx.ok("CORE Show VERSION").startswith("pbx ")


def test_extra_argument_is_named(pbx):
    assert pbx.fail("core show version extra") == \
        "Error: core show version: unexpected argument 'extra'\n"
    assert pbx.fail("core show uptime --json") == \
        "Error: core show uptime: unknown option '--json'\n"


def test_quoting_errors(pbx):
    assert pbx.fail('user add "1001') == "Error: unterminated quote\n"
    assert pbx.fail("user add '1001") == "Error: unterminated quote\n"
    # an empty command does nothing and succeeds
    assert pbx.rx("") == (0, "", "")
    assert pbx.rx("   ") == (0, "", "")


def test_rx_refuses_a_newline_in_the_command(pbx):
    rc, out, err = pbx.rx("user add 1001\nuser add 1002")
    assert rc == 1
    assert err == "Error: a command cannot contain a newline\n"
    assert pbx.ok("user list --json") == "[]\n"


def test_rx_without_a_running_pbx(pbx_factory):
    p = pbx_factory()
    rc, out, err = p.rx("core show version")
    assert rc == 1
    assert out == ""
    assert err == (f"Unable to connect to PBX at {p.sock_path}: No such file or directory "
                   "(is it running?)\n")


def test_rx_after_stop_reports_not_running(pbx):
    pbx.stop()
    rc, out, err = pbx.rx("core show version")
    assert rc == 1
    assert "Unable to connect to PBX at" in err



def test_core_show_codecs_lists_the_preference_order(pbx_factory):
    """Every codec of the build; rtp.codecs decides the order, and a codec
    left out of it is shown as not in use."""
    import json
    p = pbx_factory(sections={"rtp": {"codecs": ["pcma", "opus"]}})
    p.start()
    rows = {c["name"]: c for c in json.loads(p.ok("core show codecs --json"))}
    assert set(rows) == {"opus", "G722", "PCMU", "PCMA"}, rows
    assert (rows["PCMA"]["preference"], rows["opus"]["preference"]) == (1, 2)
    assert rows["G722"]["preference"] == 0 and rows["PCMU"]["preference"] == 0
    assert (rows["G722"]["rate"], rows["G722"]["clock"], rows["G722"]["payload_type"]) == \
        (16000, 8000, 9)
    assert rows["opus"]["payload_type"] == -1
    text = p.ok("core show codecs")
    assert re.search(r"^G722\s+16000\s+8000\s+9\s+-$", text, re.M), text
    assert text.rstrip().endswith("4 codecs, 2 in use"), text
