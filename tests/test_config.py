from pathlib import Path

import pytest

from core.errors import ConfigError
from wirewatch.config import load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
[crawl]
delay = "1s"

[[outlets]]
name = "a"
feeds = ["https://a.example/feed"]

[[outlets]]
name = "b"
start_urls = ["https://b.example/world"]
follow = ["/news/\\\\d+"]
every = "15m"
"""


def test_sample_config_is_valid():
    config = load_config(ROOT / "wirewatch.toml")
    assert [o.name for o in config.outlets] == ["almayadeen", "tehrantimes", "presstv", "ifpnews"]
    assert {w.name for w in config.watches} == {"S-400", "snapback"}
    assert config.crawl.obey_robots is True
    assert "http" in config.crawl.user_agent


def test_defaults_and_units():
    config = parse_config(GOOD)
    a, b = config.outlets
    assert a.max_age == 3 * 86400
    assert b.every == 900
    assert b.domains == ["b.example"]
    assert config.crawl.delay == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('every = "15m"', 'every = "15 minutes"'),
            r"<config>:13: outlets\.1\.every: not a duration",
        ),
        (('delay = "1s"', 'dealy = "1s"'), r"<config>:3: crawl\.dealy: unknown key"),
        (
            ('follow = ["/news/\\\\d+"]', 'follow = ["(unclosed"]'),
            r"<config>:12: outlets\.1\.follow\.0: bad regular expression",
        ),
        (('name = "b"', 'name = "a"'), r"<config>:10: outlets\.1\.name: duplicate name 'a'"),
        (
            ('name = "b"', 'name = "b"\ncolour = "red"'),
            r"<config>:11: outlets\.1\.colour: unknown key",
        ),
        (
            ('feeds = ["https://a.example/feed"]', 'feeds = ["ftp://a.example/feed"]'),
            r"<config>:7: outlets\.0\.feeds\.0: not an http\(s\) URL",
        ),
        (
            ('every = "15m"', 'every = "15m"\ncron = "*/5 * * * *"'),
            r"outlets\.1: give either every or cron",
        ),
        (
            ('every = "15m"', 'cron = "61 * * * *"'),
            r"<config>:13: outlets\.1\.cron: bad cron expression",
        ),
    ],
)
def test_errors_name_key_and_line(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        parse_config(GOOD.replace(old, new))


def test_toml_syntax_error():
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        parse_config("[crawl]\ndelay = \n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_env_var_names_the_file(tmp_path, monkeypatch):
    file = tmp_path / "other.toml"
    file.write_text(GOOD)
    monkeypatch.setenv("WIREWATCH_CONFIG", str(file))
    assert load_config().path == file.resolve()


def test_database_relative_to_config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("WIREWATCH_DB", raising=False)
    file = tmp_path / "w.toml"
    file.write_text('[storage]\ndatabase = "data/w.db"\n')
    assert load_config(file).database_path() == tmp_path / "data" / "w.db"
    monkeypatch.setenv("WIREWATCH_DB", "/x/y.db")
    assert load_config(file).database_path() == Path("/x/y.db")
    assert load_config(file).database_path("/z.db") == Path("/z.db")


def test_user_agent_needs_contact():
    with pytest.raises(ConfigError, match="contact"):
        parse_config('[crawl]\nuser_agent = "bot"\n')


# -- a strict config: each mistake a one-line message at the line at fault (#18) -------------

BASE = '[[outlets]]\nname = "a"\nfeeds = ["https://a.example/feed"]\n'
WATCH = '[[watches]]\nname = "w"\nemail = "x@example.org"\n'


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (BASE + 'depth = "1"\n', 4, "outlets.0.depth: Input should be a valid integer"),
        ("[crawl]\nmin_text = true\n" + BASE, 2, "crawl.min_text: Input should be a valid integer"),
        ('[crawl]\nobey_robots = "yes"\n', 2, "crawl.obey_robots: Input should be a valid boolean"),
        (
            BASE + "every = 30\n",
            4,
            'outlets.0.every: 30 has no unit: write "30s" for seconds or "30m" for minutes',
        ),
        (BASE + 'every = "0s"\n', 4, "outlets.0.every: more than 0s (given '0s')"),
        ('[schedule]\nnotify = "0s"\n', 2, "schedule.notify: more than 0s (given '0s')"),
        (BASE + 'evry = "15m"\n', 4, "outlets.0.evry: unknown key (did you mean 'every'?)"),
        ('[[outlet]]\nname = "a"\n', 1, "outlet: unknown key (did you mean 'outlets'?)"),
        (
            '[crawl]\nuser_agnt = "x"\n',
            2,
            "crawl.user_agnt: unknown key (did you mean 'user_agent'?)",
        ),
        ('[cluster]\nredis = "redis://:pw@h/0"\n', 2, "cluster.redis: a password in the file"),
        (
            BASE + WATCH + 'query = "S-400"\noutlets = ["b"]\n',
            8,
            "watches.0.outlets: watch 'w': no outlet named 'b'",
        ),
        (BASE + WATCH + "query = '\"S-400'\n", 7, "watches.0.query: watch 'w': bad query"),
    ],
)
def test_each_mistake_is_one_line_at_the_line_at_fault(text, line, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("w.toml"))
    said = str(caught.value)
    assert "\n" not in said
    assert said.startswith(f"w.toml:{line}: {message}"), said


def test_a_mistake_exits_2_with_its_line(tmp_path):
    from tests.support.site import wirewatch

    config = tmp_path / "w.toml"
    config.write_text(BASE + "every = 30\n")
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f'error: {config}:4: outlets.0.every: 30 has no unit: write "30s" for seconds or "30m" for minutes'
    )


def test_a_key_written_by_its_alias_is_never_suggested_by_its_field_name():
    # [email] from is the field "sender": "sender" itself is unknown, not "did you mean 'sender'".
    with pytest.raises(ConfigError) as caught:
        parse_config('[email]\nsender = "x@example.org"\n', Path("w.toml"))
    assert str(caught.value) == "w.toml:2: email.sender: unknown key"
    with pytest.raises(ConfigError) as caught:
        parse_config('[email]\nfrm = "x@example.org"\n', Path("w.toml"))
    assert str(caught.value) == "w.toml:2: email.frm: unknown key (did you mean 'from'?)"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('[crawl]\ndelay = "99999999999d"', 'crawl.delay: at most 1h (given "99999999999d")'),
        ('[crawl]\ntimeout = "2h"', 'crawl.timeout: at most 1h (given "2h")'),
        ('[crawl]\nmax_size = "10"', 'crawl.max_size: at least 1,000 bytes (given "10")'),
        (
            '[schedule]\nevery = "99999999999999999999999d"',
            'schedule.every: at most 100000d (given "99999999999999999999999d")',
        ),
        ('[storage]\nkeep_runs = "1h"', 'storage.keep_runs: at least 1d (given "1h")'),
    ],
)
def test_values_out_of_sane_bounds_are_refused_with_the_range(tmp_path, section, expected):
    from tests.support.site import wirewatch

    config = tmp_path / "wirewatch.toml"
    config.write_text(section + "\n")
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2
    assert expected.replace('"', "'") in result.stderr
    assert "Traceback" not in result.stderr


def test_a_query_nested_past_the_documented_depth_is_refused_with_a_message(tmp_path):
    from alerts.query import MAX_NESTING
    from tests.support.site import wirewatch

    deep = "(" * 5000 + "x" + ")" * 5000
    config = tmp_path / "wirewatch.toml"
    config.write_text(f'[[watches]]\nname = "deep"\nquery = "{deep}"\nemail = "a@example.org"\n')
    result = wirewatch("--config", str(config), "check")
    assert result.returncode == 2
    assert f"nested deeper than {MAX_NESTING} groups" in result.stderr
    assert len(result.stderr) < 600  # the query is clipped, not echoed whole
    assert "Traceback" not in result.stderr
    # As deep as the limit is fine.
    fine = "(" * MAX_NESTING + "x" + ")" * MAX_NESTING
    config.write_text(f'[[watches]]\nname = "deep"\nquery = "{fine}"\nemail = "a@example.org"\n')
    assert wirewatch("--config", str(config), "check").returncode == 0
