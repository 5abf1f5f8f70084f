"""Start and stop: foreground and daemon, signals, one PBX per state_dir,
and a restart after a crash."""

import os
import signal
import subprocess

from pbxlib import PBX_BIN, REPO, TIMEOUT, poll, sanitizer_env


def test_sigterm_stops_cleanly(pbx):
    assert pbx.sock_path.exists()
    pbx.stop(signal.SIGTERM)  # checks: status 0, no sanitizer report, socket removed
    assert "Terminated received" in pbx.log()
    assert "pbx stopped" in pbx.log()


def test_sigint_stops_cleanly(pbx):
    pbx.ok("user add 1001")
    pbx.stop(signal.SIGINT)
    assert not pbx.sock_path.exists()
    assert "Interrupt received" in pbx.log()


def test_second_pbx_on_same_state_dir_is_refused(pbx, pbx_factory):
    # same config file
    cp = pbx.run("-f", "-c", str(pbx.cfg_path))
    assert cp.returncode == 1
    assert f"another PBX is running with this state_dir (console at {pbx.sock_path})" \
        in cp.stderr
    # another config (other ports) naming the same state_dir
    other = pbx_factory(sections={"pbx": {"state_dir": str(pbx.state_dir)}})
    cp = other.run("-f", "-c", str(other.cfg_path))
    assert cp.returncode == 1
    assert "another PBX is running with this state_dir" in cp.stderr
    # the first one is untouched: still serving, socket still there
    assert pbx.sock_path.exists()
    assert pbx.ok("core show version").startswith("pbx ")


def test_restart_after_a_crash_replaces_the_stale_socket(pbx):
    pbx.ok("user add 1001 --password s3cret99")
    pbx.proc.kill()
    pbx.proc.wait(TIMEOUT)
    pbx.checked = True
    assert pbx.sock_path.exists(), "SIGKILL leaves the socket behind"
    rc, out, err = pbx.rx("core show version")
    assert rc == 1 and "Connection refused (is it running?)" in err
    pbx.start()
    assert '"has_password":true' in pbx.ok("user show 1001 --json")


def test_daemon_mode(pbx_factory):
    p = pbx_factory()
    p.start(foreground=False)  # the parent exited 0 once the console was up
    assert p.daemon_pid is not None
    # the daemon is its own session, detached from ours
    assert os.getsid(p.daemon_pid) == p.daemon_pid
    assert p.ok("user add 1001").startswith("User 1001 added.")
    # without -f and without log_file, the log goes to STATE/pbx.log
    log = (p.state_dir / "pbx.log").read_text()
    assert "started; console at" in log
    assert p.ok("core stop now") == "Stopping now.\n"
    p.wait_exit()  # and no sanitizer report files, socket removed
    assert "pbx stopped" in (p.state_dir / "pbx.log").read_text()


def test_daemon_stops_on_sigterm(pbx_factory):
    p = pbx_factory()
    p.start(foreground=False)
    p.stop(signal.SIGTERM)
    assert not p.sock_path.exists()


def test_daemon_start_failure_makes_parent_exit_1(pbx, pbx_factory):
    """The parent reports the child's start-up failure (another PBX running)."""
    other = pbx_factory(sections={"pbx": {"state_dir": str(pbx.state_dir)}})
    cp = subprocess.run([PBX_BIN, "-c", str(other.cfg_path)], cwd=REPO, env=sanitizer_env(),
                        stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    assert cp.returncode == 1
    assert b"another PBX is running with this state_dir" in cp.stderr
    assert pbx.ok("core show version").startswith("pbx ")


def test_daemon_bad_config_fails_in_the_foreground(pbx_factory):
    p = pbx_factory(sections={"pbx": {"bogus": True}})
    cp = p.run("-c", str(p.cfg_path))
    assert cp.returncode == 1
    assert cp.stderr == f"{p.cfg_path}: pbx.bogus: unknown key (module core)\n"
    assert not p.state_dir.exists()


def test_log_file_gets_the_log(pbx_factory):
    p = pbx_factory()
    p.sections["pbx"]["log_file"] = str(p.dir / "file.log")
    p.write_config()
    p.start()
    p.ok("core set loglevel info")
    p.stop()
    text = (p.dir / "file.log").read_text()
    assert "started; console at" in text
    assert "log level set to info from the console" in text
    assert "pbx stopped" in text


def test_restart_many_times_keeps_state(pbx):
    for i in range(3):
        pbx.ok(f"user add {1000 + i}")
        pbx.stop()
        pbx.start()
    assert pbx.ok("user list").endswith("3 users\n")


def test_stop_now_while_another_console_waits(pbx):
    """`core stop now` answers its caller before the loop stops."""
    with pbx.console() as c:
        assert c.cmd("core stop now") == (0, "Stopping now.\n")
    pbx.wait_exit()
    poll(lambda: not pbx.sock_path.exists(), what="the socket to be removed")
