"""The page's rows for issue 17's two comparing targets, from synthetic runs: every
run's figure, the medians, and the verdict taken from the medians."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cpu import CpuUse
from bench.pipeline import RunResult
from bench.report import Results, write
from bench.stages import Limits


def intake(db: str, mails: int, rate: float, *, startup: float = 1.0, contracts: int = 2,
           restart: float | None = None, error: str = "") -> RunResult:  # fmt: skip
    """A run of 1 instance whose intake after the start-up is ``rate`` mails/s."""
    return RunResult(
        db, 1, mails, seconds=startup + mails / rate * 1.5, empty_after=startup + mails / rate,
        startup=startup, contracts=contracts, restart=restart,
        restart_skipped_import=restart is not None, error=error,
    )  # fmt: skip


def contract_runs(base: list[float], big: list[float], *, mails: int = 3_000) -> list[RunResult]:
    """Interleaved rounds: 10 contracts, 20,000 contracts, 10, 20,000, ..."""
    runs = []
    for ours, theirs in zip(base, big, strict=True):
        runs.append(intake("sqlite", mails, ours, contracts=10, restart=1.2))
        runs.append(intake("sqlite", mails, theirs, startup=3.9, contracts=20_000, restart=1.7))
    return runs


def row(
    runs: list[RunResult], target: str, tmp_path: Path, limits: Limits | None = None
) -> list[str]:
    """The cells of the Targets table's row that starts with ``target``."""
    page = tmp_path / "benchmarks.md"
    results = Results(command="python -m bench", date="today", machine={}, runs=runs)
    results.limits = limits
    write(results, page)
    found = [line for line in page.read_text().splitlines() if line.startswith(f"| {target}")]
    assert len(found) == 1
    return [cell.strip() for cell in found[0].strip("|").split("|")]


CONTRACT_RATE = "20,000 contracts: ingest at least 90 %"
RESTART = "20,000 contracts: a start with an unchanged"
IMPORT = "20,000 contracts: importing them"
POSTGRESQL = "PostgreSQL ingest at least 60 %"


@pytest.mark.parametrize(
    ("base", "big", "measured", "verdict"),
    [
        # One disturbed base run (181) and one fast one: the medians decide.
        ([300.0, 181.0, 320.0], [280.0, 290.0, 250.0], "280 vs 300 mails/s", "pass"),
        ([315.0, 300.0, 320.0], [211.0, 230.0, 205.0], "211 vs 315 mails/s", "**fail**"),
    ],
)
def test_the_contract_rate_is_judged_from_the_medians(
    tmp_path: Path, base: list[float], big: list[float], measured: str, verdict: str
) -> None:
    _, text, result = row(contract_runs(base, big), CONTRACT_RATE, tmp_path)
    assert text.startswith(measured + " after the start-up")
    assert "(3,000 mails, median of 3 runs;" in text
    assert "provisional" not in text
    # Every run's figure, in the runs' order.
    assert f"20,000 contracts: {', '.join(f'{r:.0f}' for r in big)};" in text
    assert f"10: {', '.join(f'{r:.0f}' for r in base)};" in text
    assert result == verdict


def test_one_run_of_each_is_a_provisional_verdict(tmp_path: Path) -> None:
    runs = contract_runs([300.0], [280.0])
    _, text, result = row(runs, CONTRACT_RATE, tmp_path)
    assert "3,000 mails, median of 1 runs;" in text
    assert result == "pass, provisional (fewer than 3 runs)"
    runs += contract_runs([150.0, 310.0], [280.0, 285.0])
    assert row(runs, CONTRACT_RATE, tmp_path)[2] == "pass"
    runs += [intake("sqlite", 10_000, lite, startup=0.0) for lite in (200.0, 210.0)]
    runs += [intake("postgresql", 10_000, 100.0, startup=0.0)]
    assert row(runs, POSTGRESQL, tmp_path)[2] == "**fail**, provisional (fewer than 3 runs)"


def test_a_failed_run_leaves_the_median(tmp_path: Path) -> None:
    runs = contract_runs([300.0, 310.0, 305.0], [280.0, 285.0, 290.0])
    runs.append(intake("sqlite", 3_000, 50.0, contracts=20_000, error="a daemon exited"))
    _, text, result = row(runs, CONTRACT_RATE, tmp_path)
    assert "20,000 contracts: 280, 285, 290;" in text
    assert result == "pass"


def test_without_the_big_runs_nothing_is_judged(tmp_path: Path) -> None:
    runs = [intake("sqlite", 3_000, 300.0, contracts=10, restart=1.2)]
    assert row(runs, CONTRACT_RATE, tmp_path)[1:] == ["-", "not measured"]
    assert row(runs, RESTART, tmp_path)[1:] == ["-", "not measured"]


def test_the_start_up_targets_take_the_medians(tmp_path: Path) -> None:
    runs = contract_runs([300.0, 310.0, 305.0], [280.0, 285.0, 290.0])
    runs[1].restart, runs[3].restart, runs[5].restart = 1.5, 3.5, 2.0
    runs[3].startup = 12.0  # one slow first start; the median stays under 10 s
    _, restart, restart_result = row(runs, RESTART, tmp_path)
    assert restart.startswith('2.0 s, process start to "mailbot running" (median of 3 runs:'
                              " 1.5, 3.5, 2.0 s")  # fmt: skip
    assert restart_result == "pass"
    _, started, started_result = row(runs, IMPORT, tmp_path)
    assert started.startswith("3.9 s (median of 3 runs: 3.9, 12.0, 3.9 s;")
    assert started_result == "pass"


def test_a_restart_that_imported_again_fails(tmp_path: Path) -> None:
    runs = contract_runs([300.0, 310.0, 305.0], [280.0, 285.0, 290.0])
    runs[3].restart_skipped_import = False
    _, text, result = row(runs, RESTART, tmp_path)
    assert text.endswith("it imported the file again in 1 of them")
    assert result == "**fail**"


def intake_rounds(sqlite: list[float], postgresql: list[float]) -> list[RunResult]:
    """Interleaved rounds of N = 10,000: SQLite, PostgreSQL, SQLite, ... (this target
    takes the rate with the start-up, here none)."""
    runs = []
    for lite, pg in zip(sqlite, postgresql, strict=True):
        runs.append(intake("sqlite", 10_000, lite, startup=0.0))
        runs.append(intake("postgresql", 10_000, pg, startup=0.0))
    return runs


@pytest.mark.parametrize(
    ("sqlite", "postgresql", "measured", "verdict"),
    [
        # SQLite's one fast run (274) no longer decides: 146 / 230 = 63 %.
        ([274.0, 200.0, 230.0], [146.0, 150.0, 140.0], "146 vs 230 mails/s = 63%", "pass"),
        ([274.0, 260.0, 250.0], [146.0, 150.0, 140.0], "146 vs 260 mails/s = 56%", "**fail**"),
    ],
)
def test_postgresql_against_sqlite_is_judged_from_the_medians(
    tmp_path: Path, sqlite: list[float], postgresql: list[float], measured: str, verdict: str
) -> None:
    runs = intake_rounds(sqlite, postgresql)
    runs.append(intake("sqlite", 1_000, 999.0))  # another N: not compared
    _, text, result = row(runs, POSTGRESQL, tmp_path)
    assert text == (
        f"{measured} (N = 10,000, median of 3 runs; PostgreSQL:"
        f" {', '.join(f'{r:.0f}' for r in postgresql)};"
        f" SQLite: {', '.join(f'{r:.0f}' for r in sqlite)})"
    )
    assert result == verdict


def test_the_raw_rate_targets_take_sqlites_median_too(tmp_path: Path) -> None:
    """The PostgreSQL target's rounds give SQLite three runs at N = 10,000: the targets
    against the raw fetch + parse rate take their median as well, not the first."""
    limits = Limits(10_000, fetch=1_000.0, parse=1_000.0)  # fetch + parse: 500 mails/s
    runs = intake_rounds([274.0, 200.0, 310.0], [146.0, 150.0, 140.0])
    _, text, result = row(runs, "Ingest at least 60 % of the raw", tmp_path, limits)
    assert text == (
        "274 of 500 mails/s = 55% (to the last acknowledgement: 183 mails/s;"
        " median of 3 runs: 274, 200, 310)"
    )
    assert result == "**fail**"
    _, text, _ = row(runs, "To the last acknowledgement: at least 60 %", tmp_path, limits)
    assert text == "183 of 500 mails/s = 37% (N = 10,000; median of 3 runs: 183, 133, 207)"


def test_the_page_says_how_the_verdict_is_taken(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    write(Results(command="python -m bench", date="today", machine={}), page)
    how = " ".join(page.read_text().split("## How it is measured", 1)[1].split())
    assert "The share is the median of one side divided by the median of the other" in how
    assert "`--all` runs each configuration 3 times, in rounds" in how


def test_the_cpu_a_run_used_bounds_its_rate(tmp_path: Path) -> None:
    """3,000 mails in 15 s that took 24 s of CPU on 2 cores: had every core been busy, 12 s,
    250 mails/s, half of the fetch + parse rate; the target's row says so."""
    cpu = CpuUse(daemons=15.0, workers=4.5, bench=3.0, machine=24.0, cores=2, seconds=15.0)
    assert (cpu.others, cpu.per_mail_ms(3_000), cpu.busy()) == (1.5, 8.0, 0.8)
    assert cpu.bound(3_000) == 250.0
    run = RunResult("sqlite", 1, 3_000, seconds=15.0, empty_after=10.0, startup=1.0, cpu=cpu)
    limits = Limits(3_000, fetch=1_000.0, parse=1_000.0)  # fetch + parse: 500 mails/s
    _, text, result = row([run], "To the last acknowledgement: at least 60 %", tmp_path, limits)
    assert text == (
        "200 of 500 mails/s = 40% (N = 3,000); the CPU the runs used allows at most"
        " 250 mails/s = 50% with every core busy (see Where the CPU went)"
    )
    assert result == "**fail**"
    page = (tmp_path / "benchmarks.md").read_text()
    assert (
        "| sqlite | 1 | 3,000 | 2 | 0 | 15.0 s | 15.0 | 4.5 | 3.0 | 1.5 | 8.0 | 80% of 2 | 250 | 50% |"
        in page
    )
