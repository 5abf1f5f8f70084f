"""`user` console commands: every command, every bad input with its exact
error, and what reaches the SQLite directory."""

import hashlib
import json
import re
import sqlite3

import pytest

ADD_USAGE = ("user add EXT [--name N] [--password P] [--pin N] [--email E] [--context C] "
             "[--srtp off|optional|mandatory] [--auth A]")
SET_USAGE = "user set EXT name|password|pin|email|context|message_context|srtp|auth|mwi|max_messages VALUE"
JSON_KEYS = {"extension", "auth", "name", "email", "context", "srtp", "enabled", "has_password",
             "has_pin", "created", "updated", "mwi", "max_messages", "messages_new",
             "message_context",
             "messages_old"}


def show(p, ext):
    """`user show EXT` as a dict of its "Key : value" lines."""
    out = p.ok(f"user show {ext}")
    fields = {}
    for line in out.splitlines():
        k, _, v = line.partition(" : ")
        fields[k.strip()] = v
    return fields


def show_json(p, ext):
    out = p.ok(f"user show {ext} --json")
    assert out.endswith("}\n") and out.count("\n") == 1, out
    return json.loads(out)


def list_json(p):
    return json.loads(p.ok("user list --json"))


def open_db(p):
    """The directory, opened read-only (after the PBX stopped, or beside it)."""
    return sqlite3.connect(f"file:{p.db_path}?mode=ro", uri=True)


# ---- add ---------------------------------------------------------------------


def test_add_with_every_option(pbx):
    out = pbx.ok("user add 1001 --name 'Alice Smith' --password s3cret99 --pin 1234 "
                 "--email alice@example.com --context office --srtp mandatory")
    assert out == "User 1001 added.\n"
    f = show(pbx, 1001)
    assert f == {
        "Extension": "1001", "Name": "Alice Smith", "Context": "office",
        "Messaging": "messages", "E-mail": "alice@example.com", "SRTP": "mandatory",
        "Auth": "default (sip.auth_algorithms)", "Enabled": "yes",
        "Password": "set", "PIN": "set", "Messages": "0 new, 0 old (at most 100)",
        "MWI": "subscribe", "Created": f["Created"], "Updated": f["Updated"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", f["Created"])
    j = show_json(pbx, 1001)
    assert set(j) == JSON_KEYS
    assert j["extension"] == "1001" and j["name"] == "Alice Smith"
    assert j["email"] == "alice@example.com" and j["context"] == "office"
    assert j["srtp"] == "mandatory"
    assert j["enabled"] is True and j["has_password"] is True and j["has_pin"] is True
    assert isinstance(j["created"], int) and j["created"] == j["updated"] > 1600000000


def test_add_defaults(pbx_factory):
    p = pbx_factory(sections={"rtp": {"srtp": "off"}}).start()
    assert p.ok("user add 1002") == \
        "User 1002 added. It has no password yet: it cannot register.\n"
    j = show_json(p, 1002)
    assert j["name"] == "" and j["email"] == "" and j["context"] == "default"
    assert j["srtp"] == "off"  # rtp.srtp is the default policy
    assert j["enabled"] is True and j["has_password"] is False and j["has_pin"] is False


def test_add_allowed_extension_characters(pbx):
    for ext in ("+1-2.3_x", "alice", "A1", "9" * 32):
        assert pbx.ok(f"user add {ext}").startswith(f"User {ext} added.")
    assert [u["extension"] for u in list_json(pbx)] == ["A1", "alice", "+1-2.3_x", "9" * 32]


def test_add_duplicate_extension(pbx):
    pbx.ok("user add 1001 --name First")
    assert pbx.fail("user add 1001 --name Second") == \
        "Error: user add: extension 1001 already exists\n"
    assert show_json(pbx, 1001)["name"] == "First"


EXT_CHARS = "may contain only letters, digits and + - . _"


@pytest.mark.parametrize("cmd, error", [
    ("user add a&b", f"invalid extension 'a&b': {EXT_CHARS}"),
    ("user add '1 2'", f"invalid extension '1 2': {EXT_CHARS}"),
    ('user add "1 2"', f"invalid extension '1 2': {EXT_CHARS}"),
    ("user add 10'0'1@x", f"invalid extension '1001@x': {EXT_CHARS}"),
    ("user add 'x;DROP TABLE users'", f"invalid extension 'x;DROP TABLE users': {EXT_CHARS}"),
    ("user add é1", f"invalid extension 'é1': {EXT_CHARS}"),
    ("user add _1", "invalid extension '_1': must not start with '_' "
                    "(that marks a dialplan pattern)"),
    ("user add _1XXX", "invalid extension '_1XXX': must not start with '_' "
                       "(that marks a dialplan pattern)"),
    ("user add " + "1" * 33, f"invalid extension '{'1' * 33}': must be 1 to 32 characters"),
    ("user add ''", "invalid extension '': must be 1 to 32 characters"),
    ("user add 1003 --password ''", "invalid password: must not be empty"),
    ('user add 1003 --password ""', "invalid password: must not be empty"),
    ("user add 1003 --password abc12", "invalid password: too short (at least 6 characters)"),
    ("user add 1003 --password " + "p" * 129, "invalid password: too long (at most 128 characters)"),
    ("user add 1003 --pin 12a4", "invalid PIN '12a4': must be digits only"),
    ("user add 1003 --pin 123", "invalid PIN '123': must be 4 to 16 digits"),
    ("user add 1003 --pin " + "1" * 17, f"invalid PIN '{'1' * 17}': must be 4 to 16 digits"),
    ("user add 1003 --pin ''", "invalid PIN '': must be 4 to 16 digits"),
    ("user add 1003 --email bob", "invalid email 'bob': not an e-mail address"),
    ("user add 1003 --email bob@", "invalid email 'bob@': not an e-mail address"),
    ("user add 1003 --email @example.com", "invalid email '@example.com': not an e-mail address"),
    ("user add 1003 --email a@b@c.com", "invalid email 'a@b@c.com': not an e-mail address"),
    ("user add 1003 --email 'a b@c.com'", "invalid email 'a b@c.com': not an e-mail address"),
    ("user add 1003 --email a@localhost", "invalid email 'a@localhost': not an e-mail address"),
    ("user add 1003 --srtp maybe", "invalid srtp 'maybe': must be one of off, optional, mandatory"),
    ("user add 1003 --context 'a b'", "invalid context 'a b': may contain only letters, "
                                      "digits, - and _"),
    ("user add 1003 --context ''", "invalid context '': must be 1 to 64 characters"),
    ("user add 1003 --name 'say \"hi\"'", "invalid name 'say \"hi\"': contains control "
                                          "characters or a double quote"),
    ("user add 1003 --name " + "n" * 65, f"invalid name '{'n' * 65}': too long "
                                         "(at most 64 characters)"),
    ("user add", f"missing argument EXT (usage: {ADD_USAGE})"),
    ("user add 1003 extra", "unexpected argument 'extra'"),
    ("user add 1003 --bogus x", "unknown option '--bogus'"),
    ("user add 1003 --nam x", "unknown option '--nam' (did you mean --name?)"),
    ("user add 1003 --name", "option '--name' needs a value"),
    ("user add 1003 --pin 1234 --pin 5678", "option '--pin' given twice"),
])
def test_add_refuses_bad_input(pbx, cmd, error):
    assert pbx.fail(cmd) == f"Error: user add: {error}\n"
    assert list_json(pbx) == [], "a refused add must not create the user"


def test_add_never_echoes_a_bad_password(pbx):
    out = pbx.fail("user add 1003 --password tiny")
    assert "tiny" not in out


def test_add_accepts_boundary_values(pbx):
    pw = "p" * 128
    name = "n" * 64
    email = "a" * 116 + "@example.com"  # 128 characters
    assert len(email) == 128
    pbx.ok(f"user add 1001 --password {pw} --pin {'9' * 16} --name {name} --email {email} "
           f"--context {'c' * 64}")
    j = show_json(pbx, 1001)
    assert j["name"] == name and j["email"] == email and j["context"] == "c" * 64
    pbx.ok("user add 1002 --password sixsix --pin 0000")
    assert pbx.fail(f"user add 1003 --email a{email}") == \
        f"Error: user add: invalid email 'a{email}': too long (at most 128 characters)\n"
    assert pbx.fail(f"user add 1003 --context {'c' * 65}") == \
        f"Error: user add: invalid context '{'c' * 65}': must be 1 to 64 characters\n"


def test_names_with_quotes_backslashes_and_utf8_round_trip_as_json(pbx):
    name = "Zoë \\ O'Neil 東京"
    pbx.ok("user add 1005 --name \"Zoë \\\\ O'Neil 東京\"")
    assert show_json(pbx, 1005)["name"] == name
    assert list_json(pbx)[0]["name"] == name
    assert show(pbx, 1005)["Name"] == name


# ---- del -----------------------------------------------------------------------


def test_del(pbx):
    pbx.ok("user add 1001")
    pbx.ok("user add 1002")
    assert pbx.ok("user del 1001") == "User 1001 deleted.\n"
    assert [u["extension"] for u in list_json(pbx)] == ["1002"]
    assert pbx.fail("user show 1001") == "Error: user show: no such user '1001'\n"
    assert pbx.fail("user del 1001") == "Error: user del: no such user '1001'\n"
    assert pbx.fail("user del") == \
        "Error: user del: missing argument EXT (usage: user del EXT)\n"
    assert pbx.fail("user del 1002 1003") == "Error: user del: unexpected argument '1003'\n"
    # the extension can be used again
    assert pbx.ok("user add 1001").startswith("User 1001 added.")


# ---- list and show -------------------------------------------------------------------


def test_list_text_and_json(pbx):
    assert pbx.ok("user list") == (
        "Extension  Name                     Context      SRTP       Enabled  Password\n"
        "0 users\n")
    assert pbx.ok("user list --json") == "[]\n"
    pbx.ok("user add 1002 --password s3cret99 --pin 4711 --name Bob")
    assert pbx.ok("user list").endswith("1 user\n")
    pbx.ok("user add 1001 --name 'Alice Smith' --context office --srtp off")
    pbx.ok("user add 200")
    pbx.ok("user disable 200")
    lines = pbx.ok("user list").splitlines()
    assert lines[0].split() == ["Extension", "Name", "Context", "SRTP", "Enabled", "Password"]
    assert lines[-1] == "3 users"
    # ordered by length, then extension
    assert [line.split()[0] for line in lines[1:-1]] == ["200", "1001", "1002"]
    assert lines[1].split() == ["200", "default", "optional", "no", "none"]
    assert lines[2].split() == ["1001", "Alice", "Smith", "office", "off", "yes", "none"]
    assert lines[3].split() == ["1002", "Bob", "default", "optional", "yes", "set"]

    users = list_json(pbx)
    assert [u["extension"] for u in users] == ["200", "1001", "1002"]
    for u in users:
        assert set(u) == JSON_KEYS
    assert users[0]["enabled"] is False
    assert users[1]["name"] == "Alice Smith" and users[1]["srtp"] == "off"
    assert users[2]["has_password"] is True and users[2]["has_pin"] is True
    assert users[1]["has_password"] is False and users[1]["has_pin"] is False
    assert pbx.fail("user list --jsn") == \
        "Error: user list: unknown option '--jsn' (did you mean --json?)\n"
    assert pbx.fail("user list 1001") == "Error: user list: unexpected argument '1001'\n"


def test_no_secret_leaks_in_output(pbx):
    """Neither the password, its HA1s nor the PIN appear in any output."""
    pw, pin = "Sup3rSecretPw", "90817263"
    pbx.ok(f"user add 1001 --password {pw} --pin {pin}")
    ha1_md5 = hashlib.md5(f"1001:test.local:{pw}".encode()).hexdigest()
    ha1_sha = hashlib.sha256(f"1001:test.local:{pw}".encode()).hexdigest()
    outputs = [pbx.ok(c) for c in ("user list", "user list --json", "user show 1001",
                                   "user show 1001 --json", "core show settings")]
    outputs.append(pbx.fail("user passwd 1001 Sh0rt"))
    outputs.append(pbx.fail("user set 1001 password Sh0rt"))
    for out in outputs:
        for secret in (pw, pin, ha1_md5, ha1_sha, "Sh0rt"):
            assert secret not in out, f"{secret!r} leaked in:\n{out}"


def test_show(pbx):
    pbx.ok("user add 1001 --name Alice")
    f = show(pbx, 1001)
    assert f["Extension"] == "1001" and f["Name"] == "Alice"
    assert f["Password"] == "not set" and f["PIN"] == "not set" and f["E-mail"] == ""
    assert pbx.fail("user show 9999") == "Error: user show: no such user '9999'\n"
    assert pbx.fail("user show 9999 --json") == "Error: user show: no such user '9999'\n"
    assert pbx.fail("user show") == \
        "Error: user show: missing argument EXT (usage: user show EXT [--json])\n"
    assert pbx.fail("user show 1001 extra") == "Error: user show: unexpected argument 'extra'\n"
    assert pbx.fail("user show 1001 --json --json") == \
        "Error: user show: option '--json' given twice\n"
    # extensions are not patterns: no prefix or wildcard matching
    assert pbx.fail("user show 100") == "Error: user show: no such user '100'\n"
    assert pbx.fail("user show 100%") == "Error: user show: no such user '100%'\n"


# ---- passwd and set -------------------------------------------------------------------


def test_passwd(pbx):
    pbx.ok("user add 1001")
    assert show(pbx, 1001)["Password"] == "not set"
    assert pbx.ok("user passwd 1001 newpass1") == "Password of 1001 changed.\n"
    assert show(pbx, 1001)["Password"] == "set"
    assert pbx.fail("user passwd 1001 abc") == \
        "Error: user passwd: invalid password: too short (at least 6 characters)\n"
    assert pbx.fail("user passwd 1001 ''") == \
        "Error: user passwd: invalid password: must not be empty\n"
    assert pbx.fail("user passwd 9999 abcdefg") == "Error: user passwd: no such user '9999'\n"
    assert pbx.fail("user passwd 1001") == ("Error: user passwd: missing argument PASSWORD "
                                            "(usage: user passwd EXT PASSWORD)\n")
    assert pbx.fail("user passwd 1001 pass word") == \
        "Error: user passwd: unexpected argument 'word'\n"
    assert pbx.ok("user passwd 1001 'pass word'") == "Password of 1001 changed.\n"


@pytest.mark.parametrize("field, value, shown", [
    ("name", "'Bob Jones'", ("name", "Bob Jones")),
    ("name", "''", ("name", "")),
    ("password", "goodpass", ("has_password", True)),
    ("pin", "5678", ("has_pin", True)),
    ("email", "bob@example.org", ("email", "bob@example.org")),
    ("email", "''", ("email", "")),
    ("context", "sales-2_b", ("context", "sales-2_b")),
    ("srtp", "off", ("srtp", "off")),
    ("srtp", "mandatory", ("srtp", "mandatory")),
])
def test_set_field(pbx, field, value, shown):
    pbx.ok("user add 1002 --name Old --email old@example.com --srtp optional")
    before = show_json(pbx, 1002)
    assert pbx.ok(f"user set 1002 {field} {value}") == f"User 1002: {field} updated.\n"
    after = show_json(pbx, 1002)
    key, want = shown
    assert after[key] == want
    # nothing else changed
    for k in JSON_KEYS - {key, "updated"}:
        assert after[k] == before[k], k


@pytest.mark.parametrize("field, value, error", [
    ("name", "'Bad\"quote'", "invalid name 'Bad\"quote': contains control characters "
                             "or a double quote"),
    ("password", "short", "invalid password: too short (at least 6 characters)"),
    ("password", "''", "invalid password: must not be empty"),
    ("pin", "56x8", "invalid PIN '56x8': must be digits only"),
    ("pin", "12", "invalid PIN '12': must be 4 to 16 digits"),
    ("email", "bob@", "invalid email 'bob@': not an e-mail address"),
    ("email", "'<bob@example.org>'", "invalid email '<bob@example.org>': not an e-mail address"),
    ("context", "'bad ctx'", "invalid context 'bad ctx': may contain only letters, digits, - and _"),
    ("context", "''", "invalid context '': must be 1 to 64 characters"),
    ("srtp", "on", "invalid srtp 'on': must be one of off, optional, mandatory"),
    ("mwi", "maybe", "invalid mwi 'maybe': must be subscribe or unsolicited"),
    ("max_messages", "-1", "invalid max_messages '-1': must be a number from 0 "
                           "(voicemail.max_messages) to 9999"),
    ("max_messages", "12x", "invalid max_messages '12x': must be a number from 0 "
                            "(voicemail.max_messages) to 9999"),
])
def test_set_field_refuses_bad_value(pbx, field, value, error):
    pbx.ok("user add 1002 --name Old --password oldpass1 --pin 1111 --email old@example.com")
    before = show_json(pbx, 1002)
    assert pbx.fail(f"user set 1002 {field} {value}") == f"Error: user set: {error}\n"
    assert show_json(pbx, 1002) == before


def test_set_errors(pbx):
    pbx.ok("user add 1002")
    assert pbx.fail("user set 1002 color red") == \
        "Error: user set: 'color' is not one of " \
        "name|password|pin|email|context|message_context|srtp|auth|mwi|max_messages\n"
    assert pbx.fail("user set 9999 name x") == "Error: user set: no such user '9999'\n"
    assert pbx.fail("user set 1002 name") == \
        f"Error: user set: missing argument VALUE (usage: {SET_USAGE})\n"
    assert pbx.fail("user set 1002") == \
        "Error: user set: missing argument " \
        f"name|password|pin|email|context|message_context|srtp|auth|mwi|max_messages (usage: {SET_USAGE})\n"
    assert pbx.fail("user set 1002 name a b") == "Error: user set: unexpected argument 'b'\n"


def test_set_password_changes_ha1(pbx):
    pbx.ok("user add 1001 --password firstpw1")
    pbx.ok("user set 1001 password secondpw2")
    pbx.stop()
    with open_db(pbx) as db:
        md5, sha = db.execute("SELECT ha1_md5, ha1_sha256 FROM users WHERE extension='1001'"
                              ).fetchone()
    assert md5 == hashlib.md5(b"1001:test.local:secondpw2").hexdigest()
    assert sha == hashlib.sha256(b"1001:test.local:secondpw2").hexdigest()


def test_enable_disable(pbx):
    pbx.ok("user add 1001")
    assert pbx.ok("user disable 1001") == "User 1001 disabled.\n"
    assert show(pbx, 1001)["Enabled"] == "no"
    assert show_json(pbx, 1001)["enabled"] is False
    assert pbx.ok("user disable 1001") == "User 1001 disabled.\n"  # idempotent
    assert pbx.ok("user enable 1001") == "User 1001 enabled.\n"
    assert show(pbx, 1001)["Enabled"] == "yes"
    assert show_json(pbx, 1001)["enabled"] is True
    assert pbx.fail("user disable 9999") == "Error: user disable: no such user '9999'\n"
    assert pbx.fail("user enable 9999") == "Error: user enable: no such user '9999'\n"
    assert pbx.fail("user enable") == \
        "Error: user enable: missing argument EXT (usage: user enable EXT)\n"


# ---- persistence and what is stored ---------------------------------------------------


def test_user_survives_restart(pbx):
    pbx.ok("user add 1001 --name Alice --password s3cret99 --pin 1234 --email a@example.com "
           "--context office --srtp mandatory")
    pbx.ok("user add 1002")
    pbx.ok("user disable 1002")
    before = list_json(pbx)
    pbx.stop()
    pbx.start()
    assert list_json(pbx) == before
    f = show(pbx, 1001)
    assert (f["Name"], f["Context"], f["SRTP"], f["Password"], f["PIN"]) == \
        ("Alice", "office", "mandatory", "set", "set")
    assert show(pbx, 1002)["Enabled"] == "no"
    # and the restarted PBX still writes
    pbx.ok("user del 1002")
    pbx.stop()
    pbx.start()
    assert [u["extension"] for u in list_json(pbx)] == ["1001"]


def test_database_holds_ha1_never_the_password(pbx):
    pw = "Pl41nText!Pw"
    pbx.ok(f"user add 1001 --password '{pw}' --pin 2468")
    pbx.ok("user add 1002")
    pbx.ok("user passwd 1002 'An0ther pass'")
    pbx.stop()
    with open_db(pbx) as db:
        rows = db.execute("SELECT * FROM users").fetchall()
        cols = [d[0] for d in db.execute("SELECT * FROM users").description]
        u = dict(zip(cols, rows[0]))
        assert db.execute("PRAGMA user_version").fetchone()[0] == 8
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "password" not in " ".join(cols)
    for row in rows:
        for v in row:
            assert pw not in str(v) and "An0ther pass" not in str(v), row
    assert u["extension"] == "1001"
    assert u["realm"] == "test.local"
    assert u["ha1_md5"] == hashlib.md5(f"1001:test.local:{pw}".encode()).hexdigest()
    assert u["ha1_sha256"] == hashlib.sha256(f"1001:test.local:{pw}".encode()).hexdigest()
    # and the raw file, WAL included, never holds the password either
    for f in pbx.state_dir.iterdir():
        if f.is_file() and f.name.startswith("pbx.db"):
            data = f.read_bytes()
            assert pw.encode() not in data and b"An0ther pass" not in data, f


def test_realm_change_warns_at_start(pbx):
    pbx.ok("user add 1001 --password s3cret99")
    pbx.stop()
    pbx.sections["sip"]["domain"] = "other.example"
    pbx.write_config()
    pbx.start()
    assert ("1 user(s) have passwords hashed for another realm than sip.domain "
            "'other.example': set their passwords again (user passwd)") in pbx.log()
    pbx.ok("user passwd 1001 s3cret99")
    pbx.stop()
    with open_db(pbx) as db:
        realm, md5 = db.execute("SELECT realm, ha1_md5 FROM users").fetchone()
    assert realm == "other.example"
    assert md5 == hashlib.md5(b"1001:other.example:s3cret99").hexdigest()
    pbx.start()
    assert "another realm" not in pbx.log()
