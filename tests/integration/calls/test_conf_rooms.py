"""`confbridge room` console commands on the shipped config: define, show,
list, replace and delete conference rooms; bad arguments refused with the
argument named and nothing written; the PINs never printed; rooms kept in
the directory across a restart."""

import json
import sqlite3

import pytest

from test_shipped_defaults import shipped_config

JSON_KEYS = {"number", "pin_set", "admin_pin_set", "max", "record", "moh"}
ADD_USAGE = ("confbridge room add NUM [--pin N] [--admin-pin N] [--max N] "
             "[--record on|off] [--moh CLASS]")


@pytest.fixture
def rooms_pbx(pbx_factory):
    p = pbx_factory()
    p.write_config(shipped_config(p))
    return p.start()


def show(p, num):
    """`confbridge room show NUM` as a dict of its "Key : value" lines."""
    fields = {}
    for line in p.ok(f"confbridge room show {num}").splitlines():
        k, _, v = line.partition(" : ")
        fields[k.strip()] = v
    return fields


def show_json(p, num):
    out = p.ok(f"confbridge room show {num} --json")
    assert out.endswith("}\n") and out.count("\n") == 1, out
    return json.loads(out)


def list_json(p):
    return json.loads(p.ok("confbridge room list --json"))


def db_rows(p):
    """The conf_rooms rows, read beside the running PBX."""
    with sqlite3.connect(f"file:{p.db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT number, pin, admin_pin, max_members, record, moh "
                          "FROM conf_rooms ORDER BY number").fetchall()


def test_add_show_list(rooms_pbx):
    p = rooms_pbx
    assert p.ok("confbridge room add 800 --pin 1234") == "Room 800 added.\n"
    assert show(p, 800) == {"Room": "800", "PIN": "set", "Admin PIN": "none",
                            "Max members": "no limit", "Record": "off",
                            "Hold music": "default"}
    assert p.ok("confbridge room add 801 --admin-pin 9999 --max 10 --record on "
                "--moh default") == "Room 801 added.\n"
    assert show(p, 801) == {"Room": "801", "PIN": "none", "Admin PIN": "set",
                            "Max members": "10", "Record": "on, from the first join",
                            "Hold music": "default"}
    j = show_json(p, 800)
    assert set(j) == JSON_KEYS
    assert j == {"number": "800", "pin_set": True, "admin_pin_set": False, "max": 0,
                 "record": False, "moh": ""}
    raw = p.ok("confbridge room list --json")
    assert json.loads(raw) == [
        {"number": "800", "pin_set": True, "admin_pin_set": False, "max": 0,
         "record": False, "moh": ""},
        {"number": "801", "pin_set": False, "admin_pin_set": True, "max": 10,
         "record": True, "moh": "default"},
    ]
    text = p.ok("confbridge room list")
    assert text.splitlines()[0].split() == ["Room", "PIN", "Admin", "PIN", "Max", "Record",
                                            "Hold", "music"]
    assert text.splitlines()[1].split() == ["800", "set", "none", "no", "limit", "off",
                                            "default"]
    assert text.endswith("\n2 rooms\n"), text
    # The PINs are in the directory, never on the console.
    for out in (raw, text, p.ok("confbridge room show 800"), p.ok("confbridge room show 801"),
                p.ok("confbridge room show 801 --json")):
        assert "1234" not in out and "9999" not in out, out
    assert db_rows(p) == [("800", "1234", "", 0, 0, ""), ("801", "", "9999", 10, 1, "default")]


def test_add_existing_replaces(rooms_pbx):
    p = rooms_pbx
    p.ok("confbridge room add 800 --pin 1234 --record on --moh jazz")
    assert p.ok("confbridge room add 800 --max 5") == "Room 800 updated.\n"
    # Replaced as a whole: what the second add did not give is back at its default.
    assert show_json(p, 800) == {"number": "800", "pin_set": False, "admin_pin_set": False,
                                 "max": 5, "record": False, "moh": ""}
    assert len(list_json(p)) == 1


@pytest.mark.parametrize("args, error", [
    ("800 --pin 12a4", "--pin: digits only, at most 16"),
    ("800 --pin 12345678901234567", "--pin: digits only, at most 16"),
    ("800 --pin 1234 --admin-pin x1", "--admin-pin: digits only, at most 16"),
    ("800 --max 10001", "--max '10001': a number from 0 (no limit) to 10000"),
    ("800 --max -1", "--max '-1': a number from 0 (no limit) to 10000"),
    ("800 --max ten", "--max 'ten': a number from 0 (no limit) to 10000"),
    ("800 --record yes", "--record 'yes': on or off"),
    ("800 --moh a/b", "--moh 'a/b': must be one folder name (no '/', not . or ..)"),
    ("800 --moh ..", "--moh '..': must be one folder name (no '/', not . or ..)"),
    ("800 --moh " + "m" * 64, f"--moh '{'m' * 64}': too long (at most 63 characters)"),
    ("'8 0'", "NUM '8 0': 1 to 32 letters, digits, - or _"),
    ("8.0 --pin 1234", "NUM '8.0': 1 to 32 letters, digits, - or _"),
    ("9" * 33, f"NUM '{'9' * 33}': 1 to 32 letters, digits, - or _"),
])
def test_bad_argument_refused_and_nothing_written(rooms_pbx, args, error):
    p = rooms_pbx
    p.ok("confbridge room add 800 --pin 4321 --max 3")
    before = db_rows(p)
    out = p.fail(f"confbridge room add {args}")
    assert out == f"Error: confbridge room add: {error}\n"
    assert "12a4" not in out and "x1" not in out  # a PIN is not echoed, not even a bad one
    # Neither a new room nor a change to the one there.
    assert db_rows(p) == before
    assert show_json(p, 800) == {"number": "800", "pin_set": True, "admin_pin_set": False,
                                 "max": 3, "record": False, "moh": ""}


def test_usage_errors(rooms_pbx):
    p = rooms_pbx
    assert p.fail("confbridge room add") == \
        f"Error: confbridge room add: missing argument NUM (usage: {ADD_USAGE})\n"
    assert p.fail("confbridge room add 800 --pn 1") == \
        "Error: confbridge room add: unknown option '--pn' (did you mean --pin?)\n"
    out = p.fail("confbridge room")
    for cmd in ("add NUM", "del NUM", "list [--json]", "show NUM [--json]"):
        assert f"  confbridge room {cmd}" in out, out
    assert db_rows(p) == []


def test_del(rooms_pbx):
    p = rooms_pbx
    p.ok("confbridge room add 800 --pin 1234")
    p.ok("confbridge room add 801")
    assert p.ok("confbridge room del 800") == "Room 800 deleted.\n"
    assert [r["number"] for r in list_json(p)] == ["801"]
    assert p.fail("confbridge room del 800") == \
        "Error: confbridge room del: no such room '800'\n"
    assert p.fail("confbridge room del 999") == \
        "Error: confbridge room del: no such room '999'\n"
    assert p.fail("confbridge room show 800") == \
        "Error: confbridge room show: no such room '800'\n"
    assert p.fail("confbridge room show 8/0") == \
        "Error: confbridge room show: NUM '8/0': 1 to 32 letters, digits, - or _\n"
    assert db_rows(p) == [("801", "", "", 0, 0, "")]


def test_tab_completes_room_numbers(rooms_pbx):
    p = rooms_pbx
    for num in ("800", "801", "900"):
        p.ok(f"confbridge room add {num}")
    with p.console() as c:
        assert c.complete("confbridge room ") == ["add", "del", "list", "show"]
        assert c.complete("confbridge room show 80") == ["800", "801"]


def test_rooms_survive_a_restart(rooms_pbx):
    p = rooms_pbx
    p.ok("confbridge room add 800 --pin 1234 --admin-pin 5678 --max 20 --record on "
         "--moh default")
    p.ok("confbridge room add conf-b")
    before = list_json(p)
    p.stop()
    p.start()
    assert list_json(p) == before
    assert show_json(p, 800) == {"number": "800", "pin_set": True, "admin_pin_set": True,
                                 "max": 20, "record": True, "moh": "default"}
