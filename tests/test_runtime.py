"""The runtime's rules, object by object, without a daemon: the settle path's verdicts
(``monitor.outcomes``), the pipe's messages (``workers.protocol``), the per-site slots and the
workers' backoff. The daemons themselves are tried in test_scheduler, test_workers and
test_cluster."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cluster.home import LOST
from monitor.outcomes import QUARANTINE_AFTER, Outcomes, judge
from storage.db import open_db
from storage.health import health_state
from storage.runs import FAILED, KILLED, TIMEOUT, start_run
from wirewatch.config import load_config
from workers.outcome import Outcome
from workers.processes import Backoff
from workers.protocol import Beat, Done, Drain, ProtocolError, Run, decode, encode
from workers.slots import Slots, route, sites_of

# -- the verdicts ----------------------------------------------------------------------------


def test_a_run_its_worker_answered_is_closed_as_the_crawl_closed_it() -> None:
    verdict = judge(Outcome(12, "finished"), stopping=False)
    assert (verdict.ended, verdict.exit_code, verdict.error, verdict.again) == (None, 0, "", False)
    # Its crawl closed it at its deadline: still the crawl's own verdict, not the monitor's.
    assert judge(Outcome(12, "closespider_timeout"), stopping=False).ended is None


def test_a_run_the_monitors_stop_ended_is_killed_not_failed() -> None:
    assert judge(Outcome(12, "shutdown"), stopping=True).ended == KILLED
    # A worker that ended its run as shutdown on its own (SIGTERM from elsewhere) is no stop.
    assert judge(Outcome(12, "shutdown"), stopping=False).ended is None
    # A child process terminated by the stop, whatever its clock said.
    verdict = judge(Outcome(12, "shutdown", exit_code=-15, overdue=True), stopping=True)
    assert verdict.ended == KILLED and not verdict.again


def test_a_run_whose_worker_died_under_it_fails_and_goes_again() -> None:
    verdict = judge(Outcome(12, died=True, exit_code=-9), stopping=False)
    assert verdict.ended is None and verdict.again
    assert verdict.exit_code == -9 and verdict.error == "its crawl worker died"
    # Not while the monitor stops: that death is the stop's.
    stopped = judge(Outcome(12, died=True, exit_code=-9), stopping=True)
    assert stopped.ended == KILLED and not stopped.again


def test_a_run_over_its_deadline_is_a_timeout_and_does_not_go_again() -> None:
    worker = judge(Outcome(12, died=True, exit_code=-9, overdue=True), stopping=False)
    assert worker.ended == TIMEOUT and not worker.again
    child = judge(Outcome(12, exit_code=-15, overdue=True), stopping=False)
    assert child.ended == TIMEOUT and child.exit_code == -15


def test_a_run_no_worker_took_fails_once_without_a_strike() -> None:
    verdict = judge(Outcome(error="no crawl worker is running"), stopping=False)
    assert verdict.ended is None and not verdict.again
    assert verdict.error == "no crawl worker is running"
    assert judge(Outcome(error="no crawl worker is running"), stopping=True).ended == KILLED


def test_a_crashed_child_keeps_its_exit_code_and_last_line() -> None:
    verdict = judge(Outcome(12, exit_code=1, error="ConfigError: no such outlet"), stopping=False)
    assert (verdict.ended, verdict.exit_code, verdict.again) == (None, 1, False)
    assert verdict.error == "ConfigError: no such outlet"


# -- the settle path, on a real database -------------------------------------------------------


class Recorded(Outcomes):
    """The settle path on a real SQLite file, keeping what it told the operator."""

    def __init__(self, config, database: Path) -> None:
        self.database = database
        self.told: list = []
        super().__init__(config, lambda: open_db(database), self.told.append)

    def runs(self) -> list[dict]:
        db = open_db(self.database)
        try:
            return list(db.query("select * from crawl_runs order by id"))
        finally:
            db.close()


@pytest.fixture
def settle(tmp_path: Path) -> Recorded:
    database = tmp_path / "runs.db"
    config_file = tmp_path / "wirewatch.toml"
    config_file.write_text(
        f'[storage]\ndatabase = "{database}"\n\n'
        '[[outlets]]\nname = "wire"\nfeeds = ["http://127.0.0.1:9/feed.xml"]\n'
    )
    return Recorded(load_config(config_file), database)


def _died(pid: int) -> Outcome:
    return Outcome(pid, died=True, exit_code=-9)


def test_an_outlet_whose_runs_keep_killing_their_worker_is_quarantined(settle) -> None:
    began = datetime.now(UTC)
    for pid in range(1, QUARANTINE_AFTER):
        assert settle.settle("wire", _died(pid), began, 1.0, lag=None, stopping=False)
    assert "wire" not in settle.quarantined
    assert not settle.settle("wire", _died(99), began, 1.0, lag=None, stopping=False)
    assert "killed their crawl worker 3 times" in settle.quarantined["wire"]
    runs = settle.runs()
    assert [r["status"] for r in runs] == [FAILED] * QUARANTINE_AFTER
    assert all("its crawl worker died" in r["reason"] for r in runs)
    db = open_db(settle.database)
    try:
        state = health_state(db, "wire")
    finally:
        db.close()
    assert state is not None and state["state"] == "unhealthy"
    assert "quarantined" in state["reason"]
    assert settle.told[-1] is not None and settle.told[-1].state == "unhealthy"
    settle.lift(settle.config)
    assert not settle.quarantined


def test_a_run_that_finishes_clears_the_strikes(settle) -> None:
    began = datetime.now(UTC)
    for pid in range(1, QUARANTINE_AFTER):
        settle.settle("wire", _died(pid), began, 1.0, lag=None, stopping=False)
    settle.settle("wire", Outcome(50, "finished"), began, 1.0, lag=None, stopping=False)
    for pid in range(60, 60 + QUARANTINE_AFTER - 1):
        assert settle.settle("wire", _died(pid), began, 1.0, lag=None, stopping=False)
    assert not settle.quarantined


def test_the_lag_is_recorded_on_the_run(settle) -> None:
    settle.settle("wire", Outcome(7, "finished"), datetime.now(UTC), 1.0, lag=2.5, stopping=False)
    assert settle.runs()[-1]["lag"] == 2.5


def test_a_cluster_run_lost_with_redis_goes_again_once(settle) -> None:
    db = open_db(settle.database)
    first, second = (start_run(db, "wire", cluster=True) for _ in range(2))
    db.close()
    began = datetime.now(UTC)
    lost = Outcome(run_id=first, error=LOST, lost=True)
    assert settle.settle("wire", lost, began, 1.0, lag=1.0, stopping=False)
    again = Outcome(run_id=second, error=LOST, lost=True)
    assert not settle.settle("wire", again, began, 1.0, lag=None, stopping=False, attempt=1)
    runs = settle.runs()
    assert [(r["status"], r["reason"]) for r in runs] == [(FAILED, LOST)] * 2
    assert runs[0]["lag"] == 1.0
    assert not settle.quarantined


def test_a_cluster_run_the_workers_abandoned_quarantines_its_outlet(settle) -> None:
    abandoned = {
        "id": 1,
        "outlet": "wire",
        "status": FAILED,
        "reason": "abandoned: handed to 4 crawl workers, each gone holding it",
        "pages_fetched": 0,
        "articles_new": 0,
        "articles_updated": 0,
        "errors": 0,
        "stats": None,
    }
    assert not settle.settle(
        "wire", Outcome(run=abandoned, run_id=1), datetime.now(UTC), 1.0, lag=None, stopping=False
    )
    assert "crawl workers in a row" in settle.quarantined["wire"]


def test_a_run_that_left_no_row_of_its_own_still_gets_one(settle) -> None:
    # Its crawl never opened a run (a broken install, a bad database): every crawl the
    # monitor started is in crawl_runs, as failed; one failure tells no one yet.
    assert not settle.settle(
        "wire", Outcome(7, "finished"), datetime.now(UTC), 1.0, lag=None, stopping=False
    )
    (run,) = settle.runs()
    assert (run["status"], run["pid"]) == (FAILED, 7)
    assert settle.told == [None]


# -- the pipe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message", [Run("7", "Тасс — ذ", 600.0), Drain(), Done("7", "finished"), Beat(2, 0)]
)
def test_every_message_reads_back_as_written(message) -> None:
    line = encode(message)
    assert "\n" not in line
    assert decode(line) == message


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "[1, 2]",
        '{"op": "explode"}',
        '{"op": "run", "id": "1", "outlet": "wire"}',
        '{"op": "run", "id": 1, "outlet": "wire", "deadline": 60}',
        '{"op": "run", "id": "1", "outlet": "wire", "deadline": true}',
        '{"op": "beat", "active": "2", "waiting": 0}',
    ],
)
def test_a_line_that_is_no_message_is_refused_by_name(line: str) -> None:
    with pytest.raises(ProtocolError):
        decode(line)


def test_a_whole_number_is_a_deadline() -> None:
    assert decode('{"op": "run", "id": "1", "outlet": "w", "deadline": 60}') == Run("1", "w", 60.0)


# -- the slots and the backoff -----------------------------------------------------------------


def test_two_runs_of_one_site_never_hold_it_at_once() -> None:
    slots = Slots()
    one = sites_of(["https://Example.org/feed", "https://example.org:8443/sitemap.xml"])
    assert one == {"example.org", "example.org:8443"}
    assert slots.take("a", one)
    assert not slots.take("b", sites_of(["https://example.org/other"]))
    assert slots.take("c", sites_of(["https://other.org/feed"]))
    slots.release("a")
    assert slots.take("b", sites_of(["https://example.org/other"]))


def test_the_runs_of_one_site_go_to_one_worker() -> None:
    workers = [101, 102, 103]
    chosen = {route("example.org", workers) for _ in range(5)}
    assert len(chosen) == 1
    assert len({route(f"site{n}.org", workers) for n in range(30)}) == 3


def test_workers_dying_at_start_wait_longer_each_time_and_one_that_settled_resets_it() -> None:
    backoff = Backoff(settled=30.0)
    assert [backoff.died(1.0) for _ in range(7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert not backoff.ready()
    assert backoff.died(31.0) == 0.0 and backoff.ready()
    # The supervisor lets the first quick death go.
    supervisor = Backoff(settled=60.0)
    assert [supervisor.died(1.0, free=2) for _ in range(3)] == [0.0, 4.0, 8.0]
    assert supervisor.next_start > time.monotonic()
