"""A tiny raw SIP client for the integration tests: build requests as text,
send them over UDP or TCP on loopback, read and parse what comes back, and
answer digest challenges (MD5 and SHA-256, qop=auth) with hashlib.

Nothing here waits without a bound: every receive has a timeout and every
loop a deadline. The client speaks just enough SIP to drive the registrar
and the core checks of the stack; it is deliberately literal, so tests can
send exactly the bytes they mean (including broken ones).
"""

import collections
import hashlib
import json
import re
import secrets
import shutil
import socket
import time

# How long a test waits for one response before calling it "no answer".
RESPONSE_TIMEOUT = 3.0
# How long "no answer at all" is watched for.
SILENCE = 1.0

COMPACT = {
    "v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
    "l": "content-length", "k": "supported", "c": "content-type", "e": "content-encoding",
    "s": "subject", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
    "x": "session-expires",
}


def token(n=10):
    return secrets.token_hex(n)


def branch():
    return "z9hG4bK" + token(8)


# ---- messages ------------------------------------------------------------------


class SipMsg:
    """A parsed SIP message (request or response)."""

    def __init__(self, raw, src=None):
        self.raw = raw
        self.src = src
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.body = body
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:  # folding
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))
        parts = self.start.split(" ", 2)
        self.is_response = self.start.startswith("SIP/")
        if self.is_response:
            self.version = parts[0]
            self.status = int(parts[1])
            self.reason = parts[2] if len(parts) > 2 else ""
            self.method = None
        else:
            self.method, self.ruri = parts[0], parts[1]
            self.version = parts[2] if len(parts) > 2 else ""
            self.status = None

    @staticmethod
    def _norm(name):
        n = name.lower()
        return COMPACT.get(n, n)

    def all(self, name):
        """Every value of header @name, in order (comma lists not split)."""
        n = self._norm(name)
        return [v for k, v in self.headers if self._norm(k) == n]

    def get(self, name, default=None):
        vals = self.all(name)
        return vals[0] if vals else default

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(f"no {name} header in:\n{self.text()}")
        return v

    @property
    def call_id(self):
        return self.get("Call-ID")

    @property
    def cseq(self):
        """(number, method) of the CSeq header."""
        num, meth = self["CSeq"].split()
        return int(num), meth

    def text(self):
        return self.raw.decode("utf-8", "replace")

    def __repr__(self):
        return f"<SipMsg {self.start!r}>"


def split_stream(buf):
    """Frame one message off a stream buffer: (message bytes, rest), or (None, buf).

    A bare CRLF (a keep-alive pong) is returned as the message b"\\r\\n".
    """
    if buf.startswith(b"\r\n") and not buf.startswith(b"\r\n\r\n") and len(buf) >= 2:
        # A pong is exactly CRLF; a message never starts with one from the PBX.
        return b"\r\n", buf[2:]
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    head = buf[:end].decode("latin-1")
    m = re.search(r"^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head, re.I | re.M)
    clen = int(m.group(1)) if m else 0
    total = end + 4 + clen
    if len(buf) < total:
        return None, buf
    return buf[:total], buf[total:]


def build_request(method, ruri, *, transport="UDP", via_host="127.0.0.1", via_port=None,
                  branch_id=None, rport=True, from_uri="sip:test@test.local",
                  from_tag=None, to_uri=None, to_tag=None, call_id=None, cseq=1,
                  cseq_method=None, max_forwards=70, contact=None, expires=None,
                  headers=(), body=b"", user_agent="pytest-sip/1.0"):
    """The text of a request; every header is under the caller's control."""
    via = f"SIP/2.0/{transport.upper()} {via_host}"
    if via_port:
        via += f":{via_port}"
    via += f";branch={branch_id or branch()}"
    if rport:
        via += ";rport"
    lines = [f"{method} {ruri} SIP/2.0", f"Via: {via}"]
    if max_forwards is not None:
        lines.append(f"Max-Forwards: {max_forwards}")
    lines.append(f"From: <{from_uri}>;tag={from_tag or token(4)}")
    lines.append(f"To: <{to_uri or from_uri}>" + (f";tag={to_tag}" if to_tag else ""))
    lines.append(f"Call-ID: {call_id or token()}")
    lines.append(f"CSeq: {cseq} {cseq_method or method}")
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if user_agent:
        lines.append(f"User-Agent: {user_agent}")
    lines.extend(headers)
    if isinstance(body, str):
        body = body.encode()
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response_to(req, status, reason="OK", headers=()):
    """A response to a request the PBX sent us (e.g. a qualify OPTIONS)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for v in req.all("Via"):
        lines.append(f"Via: {v}")
    lines.append(f"From: {req['From']}")
    to = req["To"]
    if ";tag=" not in to:
        to += ";tag=" + token(4)
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {req['Call-ID']}")
    lines.append(f"CSeq: {req['CSeq']}")
    lines.extend(headers)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---- digest (RFC 7616 / RFC 8760) -------------------------------------------------

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_challenge(value):
    """`Digest realm="x", nonce="y", ...` -> {"realm": "x", "nonce": "y", ...}."""
    assert value.startswith("Digest "), value
    out = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)', value[7:]):
        k, v = m.group(1).lower(), m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[k] = v
    return out


def challenges(resp):
    """The WWW-Authenticate challenges of a 401, parsed, in header order."""
    return [parse_challenge(v) for v in resp.all("WWW-Authenticate")]


def challenge_for(resp, alg):
    for ch in challenges(resp):
        if ch.get("algorithm", "MD5").upper() == alg.upper():
            return ch
    raise AssertionError(f"no {alg} challenge in:\n{resp.text()}")


def digest_response(alg, user, realm, password, method, uri, nonce, nc, cnonce, qop="auth"):
    h = lambda s: HASHES[alg](s.encode()).hexdigest()  # noqa: E731
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def authorization(ch, user, password, method, uri, *, nc=1, cnonce=None, alg=None,
                  response=None, nonce=None):
    """An Authorization header value answering challenge @ch."""
    alg = alg or ch.get("algorithm", "MD5")
    nonce = ch["nonce"] if nonce is None else nonce
    cnonce = cnonce or token(8)
    ncs = f"{nc:08x}"
    resp = response or digest_response(alg, user, ch["realm"], password, method, uri, nonce,
                                       ncs, cnonce)
    v = (f'Digest username="{user}", realm="{ch["realm"]}", nonce="{nonce}", uri="{uri}", '
         f'response="{resp}", algorithm={alg}, cnonce="{cnonce}", qop=auth, nc={ncs}')
    if "opaque" in ch:
        v += f', opaque="{ch["opaque"]}"'
    return v


def parse_contacts(resp):
    """Contacts of a REGISTER response: [(uri, {param: value})]."""
    out = []
    for hv in resp.all("Contact"):
        for item in re.findall(r'(?:[^,"<]|"[^"]*"|<[^>]*>)+', hv):
            item = item.strip()
            m = re.match(r"\s*(?:\"[^\"]*\"\s*)?<([^>]*)>(.*)$", item)
            if m:
                uri, params = m.group(1), m.group(2)
            else:
                uri, _, params = item.partition(";")
                params = ";" + params if params else ""
            pd = {}
            for p in params.split(";")[1:]:
                k, _, v = p.partition("=")
                pd[k.strip().lower()] = v.strip()
            out.append((uri, pd))
    return out


# ---- the client ------------------------------------------------------------------------


class SipClient:
    """One UDP socket or one TCP connection on loopback, talking to the PBX.

    Requests the PBX sends us (qualify OPTIONS) are collected in
    `self.requests`; with `answer_options` they are answered 200 at once.
    """

    def __init__(self, server_port, transport="udp", host="127.0.0.1", server_host="127.0.0.1",
                 answer_options=True):
        self.transport = transport.lower()
        self.server = (server_host, server_port)
        self.answer_options = answer_options
        self.requests = []
        self.backlog = []   # responses read while looking for another
        self.buf = b""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        if self.transport == "udp":
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
        elif self.transport == "tcp":
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.bind((host, 0))
            self.sock.settimeout(RESPONSE_TIMEOUT)
            self.sock.connect(self.server)
        else:
            raise ValueError(transport)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.closed = False

    # -- raw I/O

    @property
    def tp(self):
        return self.transport.upper()

    def contact_uri(self, user):
        host = f"[{self.host}]" if ":" in self.host else self.host
        uri = f"sip:{user}@{host}:{self.port}"
        return uri + (";transport=tcp" if self.transport == "tcp" else "")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def _read(self, timeout):
        """One raw unit (datagram or framed stream message), or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        if self.transport == "udp":
            left = max(deadline - time.monotonic(), 0.001)
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65536)
                return data
            except socket.timeout:
                return None
        while True:
            msg, self.buf = split_stream(self.buf)
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionError:
                self.closed = True
                return None
            if not data:
                self.closed = True
                return None
            self.buf += data

    def read_raw(self, timeout=RESPONSE_TIMEOUT):
        return self._read(timeout)

    def recv(self, timeout=RESPONSE_TIMEOUT):
        """The next message (request or response), or None within @timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.backlog:
                return self.backlog.pop(0)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            raw = self._read(left)
            if raw is None:
                return None
            if raw.strip() == b"":
                continue  # keep-alive
            msg = SipMsg(raw)
            if not msg.is_response:
                self.requests.append(msg)
                if self.answer_options and msg.method == "OPTIONS":
                    self.send(response_to(msg, 200))
                continue
            return msg

    def response(self, call_id=None, cseq=None, timeout=RESPONSE_TIMEOUT, final=True):
        """The first (final, unless told) response matching Call-ID/CSeq number; None on timeout."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                m = self.recv(left)
                if m is None:
                    return None
                if call_id and m.call_id != call_id:
                    skipped.append(m)
                    continue
                if cseq is not None and m.cseq[0] != cseq:
                    skipped.append(m)
                    continue
                if final and m.status < 200:
                    continue
                return m
        finally:
            self.backlog = skipped + self.backlog

    def silent(self, timeout=SILENCE):
        """True when no response at all arrives within @timeout."""
        return self.recv(timeout) is None

    def request(self, method, ruri=None, **kw):
        """Send a request built by build_request; returns the bytes sent."""
        kw.setdefault("transport", self.tp)
        kw.setdefault("via_host", self.host)
        kw.setdefault("via_port", self.port)
        host = self.server[0]
        host = f"[{host}]" if ":" in host else host
        data = build_request(method, ruri or f"sip:{host}:{self.server[1]}", **kw)
        self.send(data)
        return data

    def options(self, **kw):
        """OPTIONS to the PBX; its final response."""
        cid = kw.setdefault("call_id", token())
        self.request("OPTIONS", **kw)
        return self.response(cid)

    def wait_request(self, method, timeout):
        """The first request @method the PBX sends us within @timeout (None if none)."""
        deadline = time.monotonic() + timeout
        while True:
            for r in self.requests:
                if r.method == method:
                    self.requests.remove(r)
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            m = self.recv(min(left, 0.5))
            if m is not None:
                self.backlog.append(m)
                time.sleep(0.01)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


class UA:
    """A user agent on a SipClient: one REGISTER Call-ID with its CSeq count."""

    def __init__(self, client, user, password=None, domain="test.local"):
        self.c = client
        self.user = user
        self.password = password
        self.domain = domain
        self.call_id = token()
        self.tag = token(4)
        self.cseq = 0
        self.ruri = f"sip:{domain}"
        self.aor = f"sip:{user}@{domain}"
        self.last_challenge = None

    def contact(self, params=""):
        """This client's Contact, with header @params (e.g. ";expires=30") after the <>."""
        return f"<{self.c.contact_uri(self.user)}>{params}"

    def send_register(self, *, contact="default", expires=None, auth=None, to_uri=None,
                      headers=(), cseq=None, branch_id=None, from_uri=None, to_tag=None):
        """Send one REGISTER; returns (bytes sent, cseq)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        hs = list(headers)
        if auth:
            hs.append(f"Authorization: {auth}")
        data = self.c.request(
            "REGISTER", self.ruri, from_uri=from_uri or self.aor, from_tag=self.tag,
            to_uri=to_uri or self.aor, to_tag=to_tag, call_id=self.call_id, cseq=cseq,
            contact=self.contact() if contact == "default" else contact, expires=expires,
            headers=hs, branch_id=branch_id)
        return data, cseq

    def register_once(self, **kw):
        """One REGISTER, its final response."""
        _, cseq = self.send_register(**kw)
        return self.c.response(self.call_id, cseq)

    def challenge(self, **kw):
        """A REGISTER without credentials: must be a 401; returns it."""
        r = self.register_once(**kw)
        assert r is not None, "no answer to an unauthenticated REGISTER"
        assert r.status == 401, r.text()
        self.last_challenge = r
        return r

    def register(self, alg="MD5", password=None, auth_user=None, **kw):
        """Challenge, then answer it with @alg; the final response to the second REGISTER."""
        r = self.challenge(**{k: v for k, v in kw.items() if k != "auth"})
        ch = challenge_for(r, alg)
        auth = authorization(ch, auth_user or self.user,
                             self.password if password is None else password,
                             "REGISTER", self.ruri)
        return self.register_once(auth=auth, **kw)


# ---- the PBX side -------------------------------------------------------------------------


def registrations(pbx):
    """`sip show registrations --json`, parsed."""
    return json.loads(pbx.ok("sip show registrations --json"))


def contacts_of(pbx, ext):
    return [r for r in registrations(pbx) if r["extension"] == str(ext)]


def wait_for(cond, timeout, what, interval=0.05):
    """Call cond() until truthy; AssertionError after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def wait_answering(p, timeout=10):
    """Wait until PBX @p answers OPTIONS over UDP with 200: its SIP side is up."""
    c = SipClient(p.port, "udp")
    try:
        wait_for(lambda: (lambda r: r is not None and r.status == 200)(c.options()), timeout,
                 "the PBX to answer OPTIONS")
    finally:
        c.close()


def add_users(pbx, exts, password="s3cret", extra=""):
    """Create users over one raw console connection (fast for a hundred)."""
    with pbx.console() as con:
        for ext in exts:
            st, out = con.cmd(f"user add {ext} --password {password}{extra}")
            assert st == 0, f"user add {ext}: {out}"


def tool(name):
    """The path of an installed program the tests drive (sipp, baresip)."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (make installs it: sip-tester, baresip)"
    return path


_HANDED_OUT = collections.deque(maxlen=256)


def reserve_ports(ports):
    """Mark @ports as handed out, so free_udp_tcp_port does not return them."""
    _HANDED_OUT.extend(ports)


def free_udp_tcp_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on @host (for the tools we start).
    The kernel may give the same free port to two binds in a row, so ports
    handed out recently (and not bound yet by their tool) are skipped: two
    calls for one tool's two ports never return the same one."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((host, 0))
            port = t.getsockname()[1]
            if port in _HANDED_OUT:
                continue
            try:
                u.bind((host, port))
            except OSError:
                continue
            _HANDED_OUT.append(port)
            return port
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port pair found")
