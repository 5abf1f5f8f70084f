"""A bad config refuses to start with one line naming file, key, value and
reason, and leaves nothing behind: no state directory, no socket."""

import re

import pytest

from pbxlib import REPO, LuaRaw, free_port


def start_fails(p, text=None):
    """Start @p in the foreground on config @text; it must refuse. Its stderr."""
    if text is not None:
        p.write_config(text)
    cp = p.run("-f", "-c", str(p.cfg_path))
    assert cp.returncode != 0, f"started on a bad config:\n{p.cfg_path.read_text()}"
    assert cp.stdout == ""
    assert not p.sock_path.exists()
    return cp.stderr


def one_line(err):
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line, got:\n{err}"
    return err[:-1]


# (sections to merge into the working config, raw Lua, the expected message after "FILE: ")
BAD = [
    ({}, "bogus = 1", "bogus: unknown key (no module has this section)"),
    ({"pbx": {"bogus": 1}}, "", "pbx.bogus: unknown key (module core)"),
    ({"sip": {"domian": "x"}}, "", "sip.domian: unknown key (module sip)"),
    ({"sip": {"tls": {"crt": "a.pem"}}}, "", "sip.tls.crt: unknown key (module sip)"),
    ({"rtp": {"codec": "x"}}, "", "rtp.codec: unknown key (module media)"),
    ({"dialplan": {"files": "x"}}, "", "dialplan.files: unknown key (module dialplan)"),
    ({"sip": {"auth_algorithms": ["SHA-1"]}}, "",
     "sip.auth_algorithms[1]: 'SHA-1': must be \"SHA-256\" or \"MD5\""),
    ({"sip": {"ban_users": 1}}, "", "sip.ban_users: '1': out of range 2..1000"),
    ({"sip": {"ban_ignore": ["127.0.0.0/8", "office"]}}, "",
     "sip.ban_ignore[2]: 'office': not a network like \"192.0.2.0/24\", \"2001:db8::/32\" "
     "or an address"),
    ({"sip": {"ban_ignore": ["10.0.0.0/33"]}}, "",
     "sip.ban_ignore[1]: '10.0.0.0/33': prefix length must be 0-32"),
    ({"sip": {"pike_rate": -1}}, "", "sip.pike_rate: '-1': out of range 0..1000000"),
    ({"sip": {"pike_window": 0}}, "", "sip.pike_window: '0': out of range 1..3600"),
    ({"sip": {"pike_time": 0}}, "", "sip.pike_time: '0': out of range 1..86400"),
    ({"sip": {"pike_ignore": ["192.0.2.0/24", "lan"]}}, "",
     "sip.pike_ignore[2]: 'lan': not a network like \"192.0.2.0/24\", \"2001:db8::/32\" "
     "or an address"),
    ({"rtp": {"port_min": "abc"}}, "", "rtp.port_min: 'abc': must be an integer"),
    ({"rtp": {"port_min": "10000"}}, "", "rtp.port_min: '10000': must be an integer"),
    ({"rtp": {"port_min": 1.5}}, "", "rtp.port_min: '1.5': must be an integer"),
    ({"rtp": {"port_min": 80}}, "", "rtp.port_min: '80': out of range 1024..65535"),
    ({"rtp": {"port_max": 70000}}, "", "rtp.port_max: '70000': out of range 1024..65535"),
    ({"pbx": {"media_workers": -1}}, "", "pbx.media_workers: '-1': out of range 0..64"),
    ({"sip": {"max_contacts": 0}}, "", "sip.max_contacts: '0': out of range 1..100"),
    ({"rtp": {"port_min": 20000, "port_max": 10000}}, "",
     "rtp.port_max: '10000': must be greater than rtp.port_min"),
    ({"rtp": {"port_min": 20000, "port_max": 20002}}, "",
     "rtp.port_max: '20002': range too small for one call"),
    ({"sip": {"min_expires": 7200}}, "", "sip.min_expires: '7200': greater than sip.max_expires"),
    ({"sip": {"listen": ["udp:1.2.3:5060"]}}, "",
     "sip.listen[1]: 'udp:1.2.3:5060': not an IPv4 or [IPv6] address"),
    ({"sip": {"listen": ["udp:127.0.0.1:5060", "tcp:localhost:5060"]}}, "",
     "sip.listen[2]: 'tcp:localhost:5060': not an IPv4 or [IPv6] address"),
    ({"sip": {"listen": ["sctp:127.0.0.1:5060"]}}, "",
     "sip.listen[1]: 'sctp:127.0.0.1:5060': unknown transport (udp, tcp or tls)"),
    ({"sip": {"listen": ["ws:127.0.0.1:5060"]}}, "",
     "sip.listen[1]: 'ws:127.0.0.1:5060': unknown transport (udp, tcp or tls)"),
    ({"sip": {"listen": ["udp:127.0.0.1:99999"]}}, "",
     "sip.listen[1]: 'udp:127.0.0.1:99999': port must be 1-65535"),
    ({"sip": {"listen": ["udp:127.0.0.1:0"]}}, "",
     "sip.listen[1]: 'udp:127.0.0.1:0': port must be 1-65535"),
    ({"sip": {"listen": ["udp:127.0.0.1"]}}, "",
     "sip.listen[1]: 'udp:127.0.0.1': expected TRANSPORT:ADDRESS:PORT, e.g. udp:0.0.0.0:5060"),
    ({"sip": {"listen": ["127.0.0.1:5060"]}}, "",
     "sip.listen[1]: '127.0.0.1:5060': unknown transport (udp, tcp or tls)"),
    ({"sip": {"listen": ["udp:127.0.0.1:5060", "udp:127.0.0.1:5060"]}}, "",
     "sip.listen[2]: 'udp:127.0.0.1:5060': listed twice"),
    ({"sip": {"listen": "udp:127.0.0.1:5060"}}, "",
     "sip.listen: 'udp:127.0.0.1:5060': must be a list of strings like \"udp:0.0.0.0:5060\""),
    ({"sip": {"listen": []}}, "", "sip.listen: must list at least one address"),
    ({"sip": {"listen": LuaRaw('{ "udp:127.0.0.1:5060", tcp = "tcp:127.0.0.1:5060" }')}}, "",
     "sip.listen: must be a list, not a table with keys"),
    ({"sip": {"listen": ["udp:127.0.0.1:5060", True]}}, "",
     "sip.listen[2]: 'true': must be a string"),
    ({"sip": {"listen": ["tls:127.0.0.1:5061"], "tls": {"key": "a.key"}}}, "",
     "sip.tls: needs both cert and key"),
    ({"pbx": {"log_level": "loud"}}, "",
     "pbx.log_level: 'loud': must be one of error, warning, notice, info, debug"),
    ({"rtp": {"srtp": "always"}}, "", "rtp.srtp: 'always': must be one of off, optional, mandatory"),
    ({"rtp": {"codecs": ["opus", "PCMU", "pcmu"]}}, "", "rtp.codecs[3]: 'pcmu': listed twice"),
    ({"rtp": {"codecs": []}}, "", "rtp.codecs: must list at least one codec"),
    ({"rtp": {"codecs": "pcmu"}}, "",
     "rtp.codecs: 'pcmu': must be a list of codec names like \"opus\" or \"pcmu\""),
    ({"sip": {"domain": "a b"}}, "", "sip.domain: 'a b': not a host name"),
    ({"sip": {"domain": "pbx@example"}}, "", "sip.domain: 'pbx@example': not a host name"),
    ({"sip": {"domain": ""}}, "", "sip.domain: '': must not be empty"),
    ({"sip": {"domain": LuaRaw("true")}}, "", "sip.domain: 'true': must be a string"),
    ({"pbx": LuaRaw('"x"')}, "", "pbx: 'x': must be a table"),
    ({"pbx": {"state_dir": LuaRaw("{}")}}, "", "pbx.state_dir: 'table': must be a string"),
]


@pytest.mark.parametrize("sections, raw, message", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_config_is_refused_with_one_line(pbx_factory, sections, raw, message):
    p = pbx_factory(sections=sections, raw=raw)
    err = start_fails(p)
    assert one_line(err) == f"{p.cfg_path}: {message}"
    assert not p.state_dir.exists(), "a refused config must not touch the state directory"


def test_unknown_codec_is_refused(pbx_factory):
    """rtp.codecs names a codec this build does not have: the line names the
    file, the key with the item's place and the value, and lists the codecs
    there are (in the build's order, so only their presence is checked)."""
    p = pbx_factory(sections={"rtp": {"codecs": ["opus", "g729"]}})
    line = one_line(start_fails(p))
    prefix = f"{p.cfg_path}: rtp.codecs[2]: 'g729': unknown codec (known: "
    assert line.startswith(prefix) and line.endswith(")"), line
    assert sorted(line[len(prefix):-1].split(", ")) == ["G722", "PCMA", "PCMU", "opus"], line
    assert not p.state_dir.exists()


def test_custom_codec_list_is_taken(pbx_factory):
    """A valid rtp.codecs starts, in any case, and is shown as written."""
    p = pbx_factory(sections={"rtp": {"codecs": ["PCMA", "G722", "Opus"]}})
    p.start()
    out = p.ok("core show settings")
    assert re.search(r'^rtp\.codecs\s+= \{ "PCMA", "G722", "Opus" \}', out, re.M), out
    p.stop()


def test_wrong_type_names_the_value(pbx_factory):
    """A number where a string belongs: the message shows the value given, as
    it does for an integer key given a string ("FILE: KEY: 'VALUE': reason")."""
    p = pbx_factory(sections={"pbx": {"log_level": 3}})
    assert one_line(start_fails(p)) == f"{p.cfg_path}: pbx.log_level: '3': must be a string"
    p = pbx_factory(sections={"sip": {"listen": ["udp:127.0.0.1:5060", 5060]}})
    assert one_line(start_fails(p)) == f"{p.cfg_path}: sip.listen[2]: '5060': must be a string"


def test_listen_table_with_only_keys_says_so(pbx_factory):
    """config.c: "a key like { udp = "..." } is a mistake": the message must
    say that, not that the list is empty."""
    p = pbx_factory(sections={"sip": {"listen": {"udp": "udp:127.0.0.1:5060"}}})
    assert one_line(start_fails(p)) == \
        f"{p.cfg_path}: sip.listen: must be a list, not a table with keys"


def test_lua_syntax_error_names_file_and_line(pbx_factory):
    p = pbx_factory()
    err = start_fails(p, 'pbx = { state_dir = "x" }\nsip = {\n  domain = "a"\n  listen = {}\n}\n')
    assert re.fullmatch(re.escape(str(p.cfg_path)) + r":4: '}' expected \(to close '\{' at "
                        r"line 2\) near 'listen'", one_line(err)), err


def test_lua_runtime_error_names_file_and_line(pbx_factory):
    p = pbx_factory()
    err = start_fails(p, 'pbx = {}\n\nerror("no config for you")\n')
    assert one_line(err) == f"{p.cfg_path}:3: no config for you"


def test_config_runs_sandboxed(pbx_factory):
    p = pbx_factory()
    err = start_fails(p, 'pbx = { state_dir = os.getenv("HOME") }\n')
    assert one_line(err) == f"{p.cfg_path}:1: attempt to index a nil value (global 'os')"
    err = start_fails(p, 'dofile("/etc/passwd")\n')
    assert one_line(err) == f"{p.cfg_path}:1: attempt to call a nil value (global 'dofile')"


def test_numeric_keys_are_refused(pbx_factory):
    p = pbx_factory(raw="[1] = 2")
    # a top-level [1] = 2 is not valid Lua as a statement: the parser says so
    assert re.fullmatch(re.escape(str(p.cfg_path)) + r":\d+: unexpected symbol near '\['",
                        one_line(start_fails(p)))
    p = pbx_factory(sections={"pbx": LuaRaw("{ [1] = 2 }")})
    assert one_line(start_fails(p)) == f"{p.cfg_path}: pbx: keys must be names"


def test_missing_config_file(pbx_factory):
    p = pbx_factory()
    missing = p.dir / "nope.lua"
    cp = p.run("-f", "-c", str(missing))
    assert cp.returncode == 1
    assert one_line(cp.stderr) == f"cannot open {missing}: No such file or directory"
    # the client refuses the same way: it needs the config to find the socket
    cp = p.run("-c", str(missing), "-rx", "core show version")
    assert cp.returncode == 1
    assert one_line(cp.stderr) == f"cannot open {missing}: No such file or directory"


def test_state_dir_under_a_file_is_refused(pbx_factory):
    p = pbx_factory(sections={"pbx": {"state_dir": "/dev/null/x"}})
    assert one_line(start_fails(p)) == \
        f"{p.cfg_path}: pbx.state_dir: '/dev/null/x': cannot create (Not a directory)"


def test_state_dir_that_is_a_file_is_refused(pbx_factory):
    p = pbx_factory()
    f = p.dir / "plainfile"
    f.write_text("not a directory\n")
    p.sections["pbx"]["state_dir"] = str(f)
    p.write_config()
    assert one_line(start_fails(p)) == \
        f"{p.cfg_path}: pbx.state_dir: '{f}': not a directory (Not a directory)"
    assert f.read_text() == "not a directory\n"


def test_run_dir_that_is_a_file_is_refused(pbx_factory):
    p = pbx_factory()
    p.state_dir.mkdir()
    (p.state_dir / "run").write_text("")
    assert one_line(start_fails(p)) == \
        f"{p.cfg_path}: pbx.state_dir: '{p.state_dir}/run': not a directory (Not a directory)"


def test_unopenable_log_file_is_refused(pbx_factory):
    p = pbx_factory(sections={"pbx": {"log_file": "/dev/null/pbx.log"}})
    assert one_line(start_fails(p)) == \
        f"{p.cfg_path}: pbx.log_file: '/dev/null/pbx.log': cannot open (Not a directory)"


def test_socket_path_too_long_is_refused(pbx_factory):
    p = pbx_factory()
    deep = p.dir / ("d" * 100)
    p.sections["pbx"]["state_dir"] = str(deep)
    p.write_config()
    err = start_fails(p)
    assert "console socket path too long" in err
    assert "start-up failed" in err
    assert not (deep / "run" / "pbx.ctl").exists()


def test_shipped_sample_config_is_valid(pbx_factory):
    """etc/pbx.lua, with only state_dir and ports changed, starts, and
    `core show settings` shows its values."""
    p = pbx_factory()
    port = free_port()
    text = (REPO / "etc" / "pbx.lua").read_text()
    text = text.replace('state_dir = "../var"', f'state_dir = "{p.state_dir}"')
    # The sample's dialplan is beside it, as in etc/.
    (p.dir / "extensions.lua").write_text((REPO / "etc" / "extensions.lua").read_text())
    tls_port = free_port()
    text = text.replace('"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060", "tls:0.0.0.0:5061"',
                        f'"udp:127.0.0.1:{port}", "tcp:127.0.0.1:{port}", '
                        f'"tls:127.0.0.1:{tls_port}"')
    assert str(p.state_dir) in text and str(port) in text, "etc/pbx.lua changed shape"
    p.write_config(text)
    p.start()
    # No sip.tls in the sample: `make run` makes a self-signed pair and says so.
    assert "no sip.tls configured: using a self-signed certificate" in p.log()
    assert (p.state_dir / "tls" / "pbx.pem").exists()
    out = p.ok("core show settings")
    assert re.search(r'^sip\.domain\s+= "pbx\.local"', out, re.M)
    assert re.search(r"^rtp\.port_min\s+= 10000 ", out, re.M)
    assert re.search(r'^sip\.auth_algorithms\s+= \{ "MD5" \}', out, re.M), out
    assert re.search(r'^dialplan\.file\s+= "%s"' % re.escape(str(p.dir / "extensions.lua")),
                     out, re.M), out
    p.stop()


def test_paths_are_relative_to_the_config_file(pbx_factory, tmp_path):
    """A relative state_dir and dialplan.file are found beside the config,
    wherever the PBX is started from (the tests run it from the repository)."""
    p = pbx_factory()
    (p.dir / "dp").mkdir()
    (p.dir / "dp" / "ext.lua").write_text(
        'extensions = { default = { ["777"] = function() app.answer() end } }\n')
    p.sections["pbx"]["state_dir"] = "rel-state"
    p.sections["dialplan"] = {"file": "dp/ext.lua"}
    p.state_dir = p.dir / "rel-state"
    p.sock_path = p.state_dir / "run" / "pbx.ctl"
    p.write_config()
    p.start()
    assert (p.dir / "rel-state" / "pbx.db").exists()
    assert "777" in p.ok("dialplan show")
    p.stop()


def test_minimal_config_uses_defaults(pbx_factory):
    p = pbx_factory()
    p.write_config(f'pbx = {{ state_dir = "{p.state_dir}" }}\n'
                   f'sip = {{ listen = {{ "udp:127.0.0.1:{p.port}" }} }}\n')
    p.start()
    out = p.ok("core show settings")
    assert re.search(r'^sip\.domain\s+= "pbx\.local"', out, re.M)
    assert re.search(r'^pbx\.log_level\s+= "notice"', out, re.M)
    assert re.search(r'^rtp\.srtp\s+= "optional"', out, re.M)
    assert re.search(r'^rtp\.codecs\s+= \{ "opus", "g722", "pcmu", "pcma" \}', out, re.M), out
    # Paths are relative to the config file's folder: the default dialplan
    # is beside it, and a missing default file is an empty dialplan.
    assert re.search(r'^dialplan\.file\s+= "%s"' % re.escape(str(p.dir / "extensions.lua")),
                     out, re.M), out
    assert "dialplan.file is not set" in p.log()
