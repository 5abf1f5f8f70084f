"""Helpers for integration tests: start the real PBX binary on a temporary
state directory and free loopback ports, and talk to it as its users do
(`pbx -rx`, `pbx -r`, the raw console socket). The fixtures that hand these
out are in conftest.py; test modules import from here ("conftest" is not a
safe module name to import: every test folder may have one).

Every wait is bounded. A PBX that exits with a non-zero status, or whose
stderr shows an AddressSanitizer, LeakSanitizer or UBSan report, fails the
test that ran it: that is how "no leaks at exit" is enforced.
"""

import errno
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PBX_BIN = os.environ.get("PBX_BIN") or str(REPO / "build" / "asan" / "pbx")

# How long any single wait may take. Generous for a loaded CI machine,
# but a hang still ends the test in seconds, not minutes.
TIMEOUT = 10.0

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "LeakSanitizer has encountered a fatal error",
    "runtime error:",
)


def sanitizer_env(extra_asan="", extra_ubsan="", **more):
    """The environment every PBX process (server or client) runs with."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0" + extra_asan
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1" + extra_ubsan
    env.update(more)
    return env


def sanitizer_reports(text):
    """The sanitizer markers found in @text (a list, empty when clean)."""
    return [m for m in SANITIZER_MARKERS if m in text]


def assert_no_sanitizer_report(text, what):
    found = sanitizer_reports(text)
    if found:
        pytest.fail(f"{what}: sanitizer report ({', '.join(found)}):\n{text[-6000:]}")


def poll(cond, timeout=TIMEOUT, interval=0.01, what="condition"):
    """Call cond() until it returns a true value; fail after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port pair found on 127.0.0.1")


# ---- Lua config text --------------------------------------------------------


class LuaRaw(str):
    """A value written into the config as is (an expression, not a string)."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def lua_value(v):
    if isinstance(v, LuaRaw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        s = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{s}"'
    if isinstance(v, (list, tuple)):
        return "{ " + ", ".join(lua_value(x) for x in v) + " }"
    if isinstance(v, dict):
        items = []
        for k, x in v.items():
            key = k if _IDENT.match(k) else f"[{lua_value(k)}]"
            items.append(f"{key} = {lua_value(x)}")
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"cannot write {v!r} as Lua")


def lua_config(sections, raw=""):
    """Config text from {"pbx": {...}, "sip": {...}} plus raw Lua appended."""
    lines = [f"{name} = {lua_value(body)}" for name, body in sections.items()]
    if raw:
        lines.append(raw)
    return "\n".join(lines) + "\n"


# ---- the raw console protocol ----------------------------------------------


class Console:
    """One raw connection to the console socket (see pbx/console.c).

    A reply is the command's output, then a line "\\x04STATUS".
    """

    def __init__(self, path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # With a timeout the socket is non-blocking underneath, and a unix
        # socket whose listen backlog is full answers EAGAIN at once rather
        # than making us wait: retry, within the same bound.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(str(path))
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.sock.close()
                    raise
                time.sleep(0.005)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """(status, output bytes) of the next reply; status None on EOF."""
        out = b""
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(b"\x04"):
                    return int(line[1:]), out
                out += line + b"\n"
            data = self.sock.recv(65536)
            if not data:
                return None, out + self.buf
            self.buf += data

    def cmd(self, line):
        """Run one command; (status, output as text)."""
        self.send(line.encode() + b"\n")
        st, out = self.reply()
        return st, out.decode("utf-8", "replace")

    def complete(self, text):
        """What Tab after @text offers: a list of candidate words."""
        self.send(b"\x01" + text.encode() + b"\n")
        st, out = self.reply()
        assert st == 0
        return out.decode().split("\n")[:-1] if out else []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the PBX process --------------------------------------------------------


def _pids_running(cfg_path):
    """Pids of PBX server processes started with -c @cfg_path (from /proc)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{d}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state == b"Z":
            continue
        if str(cfg_path).encode() in argv and b"-rx" not in argv and b"-r" not in argv:
            pids.append(int(d))
    return pids


class Pbx:
    """A PBX on its own state directory, config file and free ports.

    `sections` overrides or adds config sections, key by key
    (e.g. {"rtp": {"port_min": 30000}}); `raw` is Lua text appended as is.
    """

    def __init__(self, workdir, sections=None, raw="", domain="test.local",
                 log_level="notice"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.dir / "state"
        self.cfg_path = self.dir / "pbx.lua"
        self.log_path = self.dir / "pbx-stderr.log"
        self.sock_path = self.state_dir / "run" / "pbx.ctl"
        self.db_path = self.state_dir / "pbx.db"
        self.port = free_port()
        self.domain = domain
        self.sections = {
            "pbx": {"state_dir": str(self.state_dir), "log_level": log_level},
            "sip": {
                "listen": [f"udp:127.0.0.1:{self.port}", f"tcp:127.0.0.1:{self.port}"],
                "domain": domain,
            },
        }
        for name, body in (sections or {}).items():
            if isinstance(body, dict) and isinstance(self.sections.get(name), dict):
                self.sections[name].update(body)
            else:
                self.sections[name] = body
        self.raw = raw
        self.proc = None          # foreground server
        self.daemon_pid = None    # background server
        self.log_offset = 0       # where this run's stderr starts in log_path
        self.checked = True       # the last run's exit has been verified
        self.write_config()

    # -- config

    def config_text(self):
        return lua_config(self.sections, self.raw)

    def write_config(self, text=None):
        self.cfg_path.write_text(self.config_text() if text is None else text)

    # -- running commands

    def run(self, *args, timeout=TIMEOUT, env=None, input=None):
        """Run PBX_BIN with @args; CompletedProcess with text output."""
        cp = subprocess.run(
            [PBX_BIN, *args], cwd=REPO, env=env or sanitizer_env(),
            input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, timeout=timeout)
        cp.stdout = cp.stdout.decode("utf-8", "replace")
        cp.stderr = cp.stderr.decode("utf-8", "replace")
        assert_no_sanitizer_report(cp.stderr, f"pbx {' '.join(args)}")
        return cp

    def rx(self, cmd, timeout=TIMEOUT):
        """`pbx -c CFG -rx CMD` -> (status, stdout, stderr)."""
        cp = self.run("-c", str(self.cfg_path), "-rx", cmd, timeout=timeout)
        return cp.returncode, cp.stdout, cp.stderr

    def ok(self, cmd):
        """Run @cmd, require status 0, return stdout."""
        rc, out, err = self.rx(cmd)
        assert rc == 0, f"{cmd!r} -> {rc}\nstdout: {out}\nstderr: {err}"
        assert not out.startswith("Error: "), out
        return out

    def fail(self, cmd):
        """Run @cmd, require status 1, return what it printed (stdout+stderr)."""
        rc, out, err = self.rx(cmd)
        assert rc == 1, f"{cmd!r} -> {rc}, expected 1\nstdout: {out}\nstderr: {err}"
        return out + err

    def console(self):
        """A raw connection to the console socket."""
        return Console(self.sock_path)

    # -- lifecycle

    def log(self):
        """The server's stderr since the last start (foreground runs)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def running(self):
        if self.proc is not None:
            return self.proc.poll() is None
        if self.daemon_pid is not None:
            return self.daemon_pid in _pids_running(self.cfg_path)
        return False

    def start(self, foreground=True, timeout=TIMEOUT):
        """Start the server and wait until the console answers."""
        assert not self.running(), "already running"
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.checked = False
        if foreground:
            with open(self.log_path, "ab") as logf:
                self.proc = subprocess.Popen(
                    [PBX_BIN, "-f", "-c", str(self.cfg_path)], cwd=REPO,
                    env=sanitizer_env(), stdin=subprocess.DEVNULL,
                    stdout=logf, stderr=logf)
            self.daemon_pid = None
        else:
            self._start_daemon(timeout)
        self.wait_ready(timeout)
        return self

    def _start_daemon(self, timeout):
        # After start-up the daemon's stderr is /dev/null: sanitizer reports
        # go to files (log_path) instead, checked at stop.
        env = sanitizer_env(
            extra_asan=f":log_path={self.dir}/asan",
            extra_ubsan=f":log_path={self.dir}/ubsan")
        with open(self.log_path, "ab") as logf:
            rc = subprocess.run([PBX_BIN, "-c", str(self.cfg_path)], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                timeout=timeout).returncode
        if rc != 0:
            self.checked = True
            pytest.fail(f"daemon start exited {rc}:\n{self.log()}")
        pids = _pids_running(self.cfg_path)
        assert len(pids) == 1, f"expected one daemon, found {pids}"
        self.daemon_pid = pids[0]
        self.proc = None

    def wait_ready(self, timeout=TIMEOUT):
        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                self.checked = True
                pytest.fail(f"PBX exited with {self.proc.returncode} during start-up:\n"
                            f"{self.log()}")
            if not self.sock_path.exists():
                return False
            return self.rx("core show version")[0] == 0
        poll(ready, timeout, what="the console to answer `core show version`")

    def wait_exit(self, timeout=TIMEOUT, status=0):
        """Wait for the server to end by itself, then verify its exit."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"PBX did not exit within {timeout}s:\n{self.log()}")
        elif self.daemon_pid is not None:
            poll(lambda: not self.running(), timeout, what="the daemon to exit")
        self.verify_exit(status)

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT, status=0):
        """Signal the server, wait for it, and verify a clean exit."""
        if self.checked:
            return
        if self.running():
            os.kill(self.proc.pid if self.proc else self.daemon_pid, sig)
        self.wait_exit(timeout, status)

    def verify_exit(self, status=0):
        """Exit status, sanitizer reports, and the socket removed."""
        self.checked = True
        log = self.log()
        assert_no_sanitizer_report(log, "PBX server stderr")
        if self.daemon_pid is not None:
            for p in self.dir.iterdir():
                if p.name.startswith(("asan.", "ubsan.")):
                    assert_no_sanitizer_report(p.read_text(errors="replace"), str(p))
        if self.proc is not None:
            rc = self.proc.returncode
            if rc != status:
                pytest.fail(f"PBX exited with {rc}, expected {status}:\n{log[-6000:]}")
        if status == 0:
            assert not self.sock_path.exists(), "console socket left behind after a clean stop"

    def kill(self):
        """SIGKILL, for cleanup after a failure: no checks."""
        self.checked = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        elif self.daemon_pid is not None and self.running():
            try:
                os.kill(self.daemon_pid, signal.SIGKILL)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise


def spawn_console(p, args=("-r",), timeout=TIMEOUT, leak_check=True, env_extra=None):
    """`pbx -r` on a pty (pexpect), with TERM=dumb and HOME in the test dir.

    leak_check=False turns LeakSanitizer off for this client only (ASan and
    UBSan stay on), for tests about behaviour rather than the exit; one
    test keeps it on for a whole session.
    """
    import pexpect

    env = sanitizer_env(TERM="dumb", HOME=str(p.dir), **(env_extra or {}))
    if not leak_check:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
    return pexpect.spawn(PBX_BIN, ["-c", str(p.cfg_path), *args], cwd=str(REPO), env=env,
                         encoding="utf-8", codec_errors="replace", timeout=timeout,
                         dimensions=(40, 250))
