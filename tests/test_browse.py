"""`wirewatch browse` in a real headless Chromium: dashboard charts, search, canned queries."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port
from tests.support.site import ROOT, SITE, outlets_config, wirewatch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WATCHES = """
[[watches]]
name = "S-400"
query = "S-400"
email = "analyst@example.org"
max_age = "10000d"
"""

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("datasette") is None, reason="datasette is not installed"
    ),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="no Chromium: install Debian's chromium and chromium-driver (make test does)",
    ),
]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, site) -> Path:
    """A database filled by a real crawl of the fixture outlets and a replay of their variants."""
    folder = tmp_path_factory.mktemp("archive")
    config = folder / "wirewatch.toml"
    config.write_text(outlets_config(site, folder / "archive.db", WATCHES))
    for args in (("crawl",), ("replay", str(ROOT / "tests" / "fixtures" / "variants"))):
        done = wirewatch("--config", str(config), *args)
        assert done.returncode == 0, done.stderr
    return config


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    from wirewatch.localsite import serve_folder

    with serve_folder(SITE) as base:
        yield base


@pytest.fixture(scope="module")
def server(archive: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "wirewatch", "--config", str(archive), "browse"]
    # Its log goes to a file: a pipe nobody reads fills up with uvicorn's access lines, and
    # then the server blocks on its next line.
    log = archive.parent / "browse.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [*command, "--no-open", "--port", str(port)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(base + "/-/versions.json")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text(errors="replace")) from None
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def browse_process(archive: Path, port: int, *args: str, **popen: Any) -> subprocess.Popen:
    """``wirewatch browse`` on ``port``, its output piped (read it only at its end)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wirewatch",
            "--config",
            str(archive),
            "browse",
            "--no-open",
            "--port",
            str(port),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1300",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)  # a page that never loads fails its test, not the next ones
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver, check, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(check)


def test_the_dashboard_renders_its_charts(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server + "/-/dashboards/wirewatch")

    def charts(driver):
        drawn = driver.find_elements(By.CSS_SELECTOR, ".vega-embed svg, .vega-embed canvas")
        return drawn if len(drawn) >= 3 else False

    assert len(wait_until(browser, charts)) >= 3
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Articles per outlet per day" in page
    assert "Alerts per watch per day" in page
    assert "Crawl errors per outlet" in page
    # The metric cards show the archive's counts: 6 articles, 2 alerts.
    assert re.search(r"^Articles\s+6$", page, re.MULTILINE), page
    assert re.search(r"^Alerts\s+2$", page, re.MULTILINE), page
    shot = os.environ.get("WIREWATCH_SCREENSHOT")
    browser.save_screenshot(shot or str(tmp_path / "dashboard.png"))


def test_search_finds_s400(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/archive/articles?_search=S-400")
    rows = wait_until(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
    )
    text = " ".join(row.text for row in rows)
    assert len(rows) == 2, text
    assert "Russia-Iran military cooperation observing international law" in text
    assert "Russia voices commitment to military cooperation with Iran" in text


def test_the_canned_alerts_query_lists_the_alerts(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/archive")
    assert "Latest alerts" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(server + "/archive/latest_alerts")
    rows = wait_until(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
    )
    assert len(rows) == 2
    assert all("S-400" in row.text for row in rows)


def test_browsing_is_read_only_and_never_blocks_the_crawler(server, archive):
    sql = urllib.parse.quote("delete from articles")
    with pytest.raises(urllib.error.HTTPError) as refused:
        fetch(f"{server}/archive.json?sql={sql}")
    refused.value.close()
    assert refused.value.code == 400
    count = json.loads(
        fetch(f"{server}/archive.json?sql=select+count(*)+as+n+from+articles&_shape=array")
    )
    assert count == [{"n": 6}]
    # The crawler writes while Datasette has the file open.
    done = wirewatch("--config", str(archive), "replay", str(SITE))
    assert done.returncode == 0, done.stderr


# -- a browser that is not open by accident (#20) --------------------------------------------


def test_browse_beyond_this_machine_needs_the_choice_and_a_password(archive):
    refused = wirewatch("--config", str(archive), "browse", "--host", "0.0.0.0", "--no-open")
    assert refused.returncode == 2
    assert "--public" in refused.stderr and "wirewatch archive at" not in refused.stdout
    no_password = wirewatch(
        "--config",
        str(archive),
        "browse",
        "--host",
        "0.0.0.0",
        "--public",
        "--no-open",
        WIREWATCH_BROWSE_PASSWORD_HASH="",
    )
    assert no_password.returncode == 2
    assert "WIREWATCH_BROWSE_PASSWORD_HASH" in no_password.stderr


def test_a_public_archive_asks_for_the_password(archive, browser):
    from datasette_auth_passwords.utils import hash_password
    from selenium.webdriver.common.by import By

    password = "correct horse battery"
    port = free_port()
    process = browse_process(
        archive,
        port,
        "--host",
        "0.0.0.0",
        "--public",
        env={**os.environ, "WIREWATCH_BROWSE_PASSWORD_HASH": hash_password(password)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(base + "/-/versions.json")
                raise AssertionError("answered without a password")
            except urllib.error.HTTPError as exc:
                exc.close()
                assert exc.code == 401
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.communicate()[1]) from None
                time.sleep(0.3)
        for path in ("/", "/-/dashboards/wirewatch", "/test/alerts.json"):
            with pytest.raises(urllib.error.HTTPError) as denied:
                fetch(base + path)
            denied.value.close()
            assert denied.value.code == 401
        wrong = urllib.request.Request(
            base + "/", headers={"Authorization": "Basic d2lyZXdhdGNoOm5v"}
        )
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(wrong, timeout=10)
        denied.value.close()
        assert denied.value.code == 401
        # Chromium, with the credentials: the dashboard and its charts.
        browser.get(
            f"http://wirewatch:{urllib.parse.quote(password)}@127.0.0.1:{port}/-/dashboards/wirewatch"
        )

        def charts(driver):
            drawn = driver.find_elements(By.CSS_SELECTOR, ".vega-embed svg, .vega-embed canvas")
            return drawn if len(drawn) >= 3 else False

        assert wait_until(browser, charts)
    finally:
        process.terminate()
        process.communicate(timeout=30)


# -- the reading view (#17) -------------------------------------------------------------------


def test_the_home_page_leads_to_the_reading_pages(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server + "/")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")}
    for name, path in (
        ("Dashboard", "/-/dashboards/wirewatch"),
        ("Latest alerts", "/-/wirewatch/alerts"),
        ("Stories", "/-/wirewatch/stories"),
    ):
        assert links.get(name, "").endswith(path), links
    box = browser.find_element(By.CSS_SELECTOR, "form.ww-search input[type=search]")
    box.send_keys("S-400 OR snapback", Keys.ENTER)  # (WebElement.submit() hangs chromedriver)
    wait_until(browser, lambda d: "/-/wirewatch/search" in d.current_url)
    assert "Russia voices commitment" in browser.find_element(By.TAG_NAME, "body").text


def test_alerts_read_as_highlighted_text_not_json(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server + "/-/wirewatch/alerts")
    marks = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "p.snippet mark"))
    assert {m.text for m in marks} == {"S-400"}
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Matched: S-400 (1)" in body and "[[" not in body
    shot = os.environ.get("WIREWATCH_SCREENSHOT_ALERTS")
    browser.save_screenshot(shot or str(tmp_path / "alerts.png"))
    # The canned query and the alerts table render their snippets the same way.
    browser.get(server + "/archive/latest_alerts")
    assert wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "td p.snippet mark"))
    assert "[[" not in browser.find_element(By.TAG_NAME, "body").text


def test_an_article_page_reads_like_an_article(server, browser, tmp_path):
    """Title, outlet, dates, link, the text in paragraphs within a reading width at 1280 px,
    the story's other outlets, and its earlier versions (the corrected Al Mayadeen page of
    the variants is one)."""
    from selenium.webdriver.common.by import By

    browser.get(server + "/-/wirewatch/alerts")
    first = browser.find_element(By.CSS_SELECTOR, ".ww-card h2 a")
    title = first.text
    browser.get(first.get_attribute("href"))
    heading = wait_until(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".ww-article h1"))
    assert heading.text == title
    paragraphs = browser.find_elements(By.CSS_SELECTOR, ".ww-text p")
    assert len(paragraphs) >= 5
    assert all(p.rect["x"] + p.rect["width"] <= 1280 for p in paragraphs)
    assert browser.find_elements(By.CSS_SELECTOR, ".ww-meta a[href^='https://']")
    # Every term of the watch that fired is marked in the text, with a jump to each mark.
    marks = browser.find_elements(By.CSS_SELECTOR, ".ww-text mark")
    assert marks and all(mark.text.upper().replace("С", "S") == "S-400" for mark in marks)
    jumps = browser.find_elements(By.CSS_SELECTOR, ".ww-jumps a")
    assert [jump.get_attribute("href").rsplit("#", 1)[1] for jump in jumps] == [
        mark.get_attribute("id") for mark in marks
    ]
    assert "S-400" in browser.find_element(By.CSS_SELECTOR, ".ww-jumps").text
    jumps[-1].click()
    target = f"#{marks[-1].get_attribute('id')}"
    assert wait_until(browser, lambda d: d.execute_script("return location.hash") == target)
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", marks[-1])
    assert -2 < top < browser.execute_script("return innerHeight")  # scrolled into view
    browser.execute_script("window.scrollTo(0, 0)")  # for the screenshot
    shot = os.environ.get("WIREWATCH_SCREENSHOT_ARTICLE")
    browser.save_screenshot(shot or str(tmp_path / "article.png"))
    # Some article has another outlet's copy and some has an earlier version.
    rows = json.loads(fetch(f"{server}/archive/articles.json?_shape=array&_col=id"))
    pages = [fetch(f"{server}/-/wirewatch/article/{row['id']}").decode() for row in rows]
    assert any("The same story elsewhere" in page for page in pages)
    assert any("Earlier versions" in page for page in pages)
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(server + "/-/wirewatch/article/999999")
    missing.value.close()
    assert missing.value.code == 404


def test_browser_search_and_the_command_line_agree(server, archive):
    query = "S-400 OR snapback"
    page = fetch(f"{server}/-/wirewatch/search?q={urllib.parse.quote(query)}").decode()
    shown = set(re.findall(r"/-/wirewatch/article/(\d+)", page))
    listed = wirewatch("--config", str(archive), "search", query, "--json")
    assert shown == {str(json.loads(line)["id"]) for line in listed.stdout.splitlines()}
    assert shown
    bad = fetch(f"{server}/-/wirewatch/search?q=%28S-400").decode()
    assert "Bad query" in bad and "never closed" in bad
    # A hostile query, 5,000 parentheses deep, is a message too (#31), not an HTTP 500.
    deep = urllib.parse.quote("(" * 5000 + "S-400" + ")" * 5000)
    refused = fetch(f"{server}/-/wirewatch/search?q={deep}").decode()
    assert "Bad query" in refused and "nested" in refused


def test_the_browser_serves_each_watch_as_atom(server):
    import feedparser

    parsed = feedparser.parse(fetch(server + "/-/wirewatch/feed/S-400.atom"))
    assert not parsed.bozo and parsed.feed.title == "wirewatch: S-400"
    assert len(parsed.entries) == 2 and all(e.link.startswith("https://") for e in parsed.entries)
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(server + "/-/wirewatch/feed/nope.atom")
    missing.value.close()
    assert missing.value.code == 404


def test_the_dashboard_filters_by_date(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/-/dashboards/wirewatch")
    assert browser.find_elements(By.CSS_SELECTOR, "input#date_start[type=date]")
    assert browser.find_elements(By.CSS_SELECTOR, "input#date_end[type=date]")
    # Everything was first seen today: a window in the past holds nothing.
    browser.get(server + "/-/dashboards/wirewatch?date_start=2000-01-01&date_end=2000-01-02")

    def metric(driver):
        text = driver.find_element(By.TAG_NAME, "body").text
        return re.search(r"^Articles\s+(\d+)$", text, re.MULTILINE)

    assert wait_until(browser, metric).group(1) == "0"


def test_ctrl_c_stops_browse_cleanly(archive):
    """As a terminal does: SIGINT to the whole foreground group."""
    import signal

    port = free_port()
    process = browse_process(archive, port, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            fetch(f"http://127.0.0.1:{port}/-/versions.json")
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
    for path in ("/", "/-/dashboards/wirewatch", "/-/wirewatch/alerts"):
        fetch(f"http://127.0.0.1:{port}{path}")
    time.sleep(1)  # served and idle, as when someone stops it
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr


def test_browse_refuses_a_foreign_host_odd_paths_and_functions_outside_its_allow_list(server):
    """DNS rebinding, path tricks and the SQL box's dangerous functions (#34), raw requests
    against the real server."""
    import http.client

    address = urllib.parse.urlsplit(server)

    def get(path: str, host: str | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host or address.netloc)
        connection.endheaders()
        response = connection.getresponse()
        try:
            return response.status, response.read()
        finally:
            connection.close()

    assert get("/")[0] == 200
    assert get("/", host=f"localhost:{address.port}")[0] == 200
    assert get("/", host="evil.example")[0] == 421
    assert get("/", host=f"evil.example:{address.port}")[0] == 421
    for path in (
        "/-/wirewatch/article/../../etc/passwd",
        "/-/wirewatch/article/./1",
        "/-/wirewatch/article/99999999999999999999999",
    ):
        assert get(path)[0] == 404, path
    sql = urllib.parse.quote("select fts3_tokenizer('simple')")
    _, body = get(f"/archive.json?sql={sql}")
    answer = json.loads(body)
    assert not answer["ok"] and "not authorized" in answer["error"], answer
    sql = urllib.parse.quote("select load_extension('/tmp/x')")
    assert "not authorized" in json.loads(get(f"/archive.json?sql={sql}")[1])["error"]
    sql = urllib.parse.quote("select count(*), max(length(text)) from articles")
    assert json.loads(get(f"/archive.json?sql={sql}")[1])["ok"]
