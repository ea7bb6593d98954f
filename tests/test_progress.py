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


def folder_of_pages(tmp_path, copies=12):
    pages = tmp_path / "pages"
    for n in range(copies):
        shutil.copytree(SITE, pages / f"copy{n}")
    return pages


def test_replay_in_a_pipe_logs_plain_progress_lines(tmp_path):
    pages = folder_of_pages(tmp_path)
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db"))
    done = subprocess.run(
        [sys.executable, "-m", "wirewatch", "--config", str(config), "replay", str(pages)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr  # no bar redrawing itself
    assert "replay: 72/72 files" in done.stderr  # 12 copies of 6 pages
    assert "files/s" in done.stderr
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


def test_replay_on_a_terminal_draws_a_bar_with_rate_and_eta(tmp_path):
    pages = folder_of_pages(tmp_path, copies=4)
    config = tmp_path / "w.toml"
    config.write_text(outlets_config("http://127.0.0.1:9", tmp_path / "w.db"))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "wirewatch", "--config", str(config), "replay", str(pages)],
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
    assert "100%" in text and "24/24" in text
    assert "files/s" in text
    assert "replay: 24/24 files" not in text  # the plain log line is for pipes only
