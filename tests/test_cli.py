import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from tests.support.site import PAGES, ROOT, SITE, expected_text, normal, outlets_config, wirewatch
from wirewatch.cli import cli


def all_commands(group=cli, prefix=()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(all_commands()), ids=" ".join)
def test_every_command_has_help(path):
    command = cli
    for name in path:
        command = command.commands[name]
    assert command.help and len(command.help) > 20
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{path} {param.name} has no help"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0


def test_extract_prints_one_json_object_per_file(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    files = [str(SITE / PAGES[n][0]) for n in sorted(PAGES)] + [str(empty)]
    result = wirewatch("--config", str(tmp_path / "none.toml"), "extract", *files)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 6
    for name, line in zip(sorted(PAGES), lines, strict=False):
        assert set(line) == {
            "file",
            "url",
            "url_from",
            "canonical_url",
            "title",
            "author",
            "published",
            "language",
            "sitename",
            "doubt",
            "text",
        }
        assert line["url_from"] == "canonical"
        assert normal(line["text"]) == normal(expected_text(name))
    assert lines[-1]["file"] == str(empty)
    assert lines[-1]["error"].startswith("empty")


def test_extract_with_url(tmp_path):
    file = SITE / PAGES["presstv-lavrov-2020"][0]
    result = wirewatch("extract", str(file), "--url", "https://mirror.example/a")
    line = json.loads(result.stdout)
    assert line["url"] == "https://mirror.example/a"
    assert line["canonical_url"].startswith("https://www.presstv.ir/Detail/2020/11/10/")


def test_extract_a_saved_page_that_names_no_url_of_its_own(tmp_path):
    page = (SITE / PAGES["presstv-lavrov-2020"][0]).read_text(encoding="utf-8")
    bare = re.sub(r"<link[^>]*canonical[^>]*>|<meta[^>]*og:url[^>]*>", "", page)
    assert "canonical" not in bare and "og:url" not in bare
    file = tmp_path / "saved page.html"
    file.write_text(bare, encoding="utf-8")
    result = wirewatch("--config", str(tmp_path / "none.toml"), "extract", str(file))
    line = json.loads(result.stdout)
    assert line["url_from"] == "file"
    assert line["url"] == file.resolve().as_uri()
    assert "S-400" in line["text"] or len(line["text"]) > 500


def test_search_after_replay(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "s.db"}"\n')
    assert wirewatch("--config", str(config), "replay", str(SITE)).returncode == 0
    result = wirewatch("--config", str(config), "search", "S-400", "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert {h["outlet"] for h in hits} == {"tehrantimes.com", "english.almayadeen.net"}
    assert all(["S-400", True] in h["snippets"][0] for h in hits)
    assert all(h["terms"] == [["S-400", 1]] for h in hits)
    plain = wirewatch("--config", str(config), "search", "snapback")
    assert "Russia voices commitment" in plain.stdout
    assert "matched: snapback (2)" in plain.stdout
    # The id shown leads to the article's story.
    article = re.search(r"article (\d+) · story (\d+)", plain.stdout)
    assert article, plain.stdout
    story = wirewatch("--config", str(config), "story", article.group(1), "--article")
    assert story.returncode == 0 and f"story {article.group(2)}:" in story.stdout
    bad = wirewatch("--config", str(config), "search", "(S-400")
    assert bad.returncode == 2 and "never closed" in bad.stderr


def test_search_and_a_watch_find_the_same_articles(tmp_path):
    """``search`` answers with the watch matcher: on the fixture archive it finds exactly the
    articles a watch with the same query matches, each checked here against every article."""
    from alerts.query import parse_query
    from alerts.watches import Watch, document
    from extractors.article import Article
    from storage.articles import articles_by_date
    from storage.db import open_db

    config = tmp_path / "w.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "s.db"}"\n')
    assert wirewatch("--config", str(config), "replay", str(SITE)).returncode == 0
    db = open_db(tmp_path / "s.db")
    stored = [(row, db["articles"].get(row["id"])) for row in articles_by_date(db)]
    queries = [
        '"arms embargo"',
        "S-400 OR snapback",
        "sanction*",
        "S-400 Iran -Venezuela",
        "S400",
        "snapback OR (sanctions Iran -Venezuela)",
        "outlet:presstv.ir Lavrov",
        "site:tehrantimes.com Iran",
        "lang:en -Iran",
    ]
    for query in queries:
        watch = Watch("w", parse_query(query))
        expected = set()
        for row, full in stored:
            article = Article(
                row["url"],
                row["url"],
                row["title"],
                None,
                None,
                full["language"],
                None,
                row["text"],
            )
            if watch.matches(document(article, row["outlet"])):
                expected.add(row["id"])
        result = wirewatch("--config", str(config), "search", query, "--json", "--limit", "500")
        found = {json.loads(line)["id"] for line in result.stdout.splitlines()}
        assert found == expected, query
        assert expected or query in {'"arms embargo"', "lang:en -Iran"}, query


def test_config_error_is_one_clear_line(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(
        '[[outlets]]\nname = "a"\nfeeds = ["https://a.example/rss"]\nevery = "soon"\n'
    )
    result = wirewatch("--config", str(config), "crawl")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {config}:4: outlets.0.every: not a duration: 'soon' "
        '(use e.g. "30s", "15m", "1h30m", "3d")'
    )


def test_config_from_environment(tmp_path):
    config = tmp_path / "env.toml"
    config.write_text('[[outlets]]\nname = "a"\nfeeds = ["https://a.example/rss"]\n')
    result = wirewatch("check", WIREWATCH_CONFIG=str(config), WIREWATCH_DB=str(tmp_path / "x.db"))
    assert result.returncode == 0
    assert "1 outlet(s)" in result.stdout and str(tmp_path / "x.db") in result.stdout


def test_demo_runs_offline(tmp_path):
    result = wirewatch("demo", "--keep", str(tmp_path / "demo"), timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n#") == 5
    assert "Russia voices commitment to military cooperation with Iran" in result.stdout
    # The alerts that fire, none from IFP's "Recent Posts" chrome, delivered to the Maildir.
    alerts = result.stdout.split("Alerts (")[1]
    assert alerts.count("  [S-400] ") == 2 and "[Pezeshkian]" not in alerts
    assert "6 email(s) sent (6 alert(s)) via Maildir" in result.stdout
    assert len(list((tmp_path / "demo" / "maildir" / "new").iterdir())) == 6


def test_browse_without_datasette_says_what_to_install(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "x.db"))
    (tmp_path / "x.db").write_bytes(b"")
    script = (
        "import sys; sys.modules['datasette'] = None; from wirewatch.cli import main; "
        "sys.argv = ['wirewatch', '--config', sys.argv[1], 'browse', '--no-open']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "make install-browse" in done.stderr and "pip install 'wirewatch[browse]'" in done.stderr
    # Nothing is announced before the check: no address it will not serve.
    assert "http://" not in done.stdout + done.stderr


def test_status_before_anything_ran_says_so_and_creates_nothing(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(
        f'[storage]\ndatabase = "{tmp_path / "none.db"}"\n'
        '[[outlets]]\nname = "a"\nfeeds = ["https://a.example/feed"]\n'
    )
    result = wirewatch("--config", str(config), "status")
    assert result.returncode == 0
    assert "nothing has been crawled" in result.stdout
    assert not (tmp_path / "none.db").exists()


def test_init_writes_a_valid_commented_config_and_its_database(tmp_path):
    folder = tmp_path / "newsroom"
    result = wirewatch("init", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = folder / "wirewatch.toml"
    assert config.read_text(encoding="utf-8").startswith("# wirewatch configuration")
    assert (folder / "wirewatch.db").exists()
    assert "next:" in result.stdout and "check" in result.stdout
    checked = wirewatch("--config", str(config), "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "1 outlet(s), 1 watch(es)" in checked.stdout
    again = wirewatch("init", str(folder), cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_status_columns_fit_their_cells_and_unknown_health_is_explained(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(
        f'[storage]\ndatabase = "{tmp_path / "s.db"}"\n'
        '[[outlets]]\nname = "a-rather-long-outlet-name"\nfeeds = ["https://a.example/feed"]\n'
        'cron = "0 */2 * * *"\n'
        '[[outlets]]\nname = "b"\nfeeds = ["https://b.example/feed"]\n'
    )
    assert wirewatch("init", str(tmp_path / "x")).returncode == 0  # any database will do
    (tmp_path / "x" / "wirewatch.db").rename(tmp_path / "s.db")
    result = wirewatch("--config", str(config), "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("outlet"))
    first = next(line for line in lines if line.startswith("a-rather"))
    # Every cell starts under its header: the cron schedule does not push "never" along.
    assert first.index("cron 0 */2 * * *") == header.index("schedule")
    assert first.index("never") == header.index("last run")
    assert "health unknown: not judged yet" in result.stdout
