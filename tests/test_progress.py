"""Progress output: a bar on a terminal, plain lines in a pipe, nothing with --json."""

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios

from tests.support.site import ROOT, SITE, outlets_config


def folder_of_pages(tmp_path, copies=100):
    """``copies`` copies of the 6 seed pages: 100 (600 files, about 3 s in one process here)
    last well past progress.LONG, on a loaded machine too (240 files took 1.0-1.2 s)."""
    pages = tmp_path / "pages"
    for n in range(copies):
        shutil.copytree(SITE, pages / f"copy{n}")
    return pages


def test_replay_in_a_pipe_logs_plain_progress_lines_at_info(tmp_path):
    pages = folder_of_pages(tmp_path)
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db"))
    command = [sys.executable, "-m", "wirewatch", "--config", str(config), "replay"]
    done = subprocess.run(
        [*command, "--jobs", "1", "-v", str(pages)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr  # no bar redrawing itself
    assert "INFO" in done.stderr and "replay: 600/600 files" in done.stderr
    assert "files/s" in done.stderr
    quiet = subprocess.run([*command, str(pages)], capture_output=True, text=True, cwd=ROOT)
    assert quiet.returncode == 0, quiet.stderr
    assert "replay:" not in quiet.stderr  # without -v: no progress lines
    json_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "wirewatch",
            "--config",
            str(config),
            "replay",
            "--json",
            str(pages),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert json_run.returncode == 0
    assert "replay:" not in json_run.stderr


def test_search_on_a_small_archive_says_nothing_of_its_progress(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db"))
    wirewatch = [sys.executable, "-m", "wirewatch", "--config", str(config)]
    stored = subprocess.run([*wirewatch, "replay", str(SITE)], capture_output=True, cwd=ROOT)
    assert stored.returncode == 0
    for command in (["search", "S-400"], ["-v", "search", "S-400"]):
        found = subprocess.run([*wirewatch, *command], capture_output=True, text=True, cwd=ROOT)
        assert found.returncode == 0, found.stderr
        assert "russia" in found.stdout.lower()
        assert "search:" not in found.stderr and "WARNING" not in found.stderr, found.stderr


def test_replay_on_a_terminal_draws_a_bar_with_rate_and_eta(tmp_path):
    pages = folder_of_pages(tmp_path)
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db"))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    command = [sys.executable, "-m", "wirewatch", "--config", str(config), "replay"]
    process = subprocess.Popen(
        [*command, "--jobs", "1", str(pages)],
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = output.decode("utf-8", "replace")
    assert "\r" in text  # the bar redraws itself in place
    assert "100%" in text and "600/600" in text
    assert "files/s" in text
    assert "replay: 600/600 files" not in text  # the plain log line is for pipes only
