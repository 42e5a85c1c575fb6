"""The order of the benchmark's end-to-end runs: the configurations a target compares
come in interleaved rounds (A B A B A B), so that a drift of the machine's load touches
both alike."""

from __future__ import annotations

from bench.__main__ import Planned, parse_args, plan

BOTH = ["sqlite", "postgresql"]


def planned(*argv: str) -> list[Planned]:
    args = parse_args(list(argv))
    return plan(args, BOTH if args.db == "both" else [args.db])


def test_all_runs_the_contract_scale_in_three_rounds_of_3000_mails() -> None:
    contracts = [(mails, db, n) for mails, db, _, n, _ in planned("--all") if n]
    assert contracts == [(3_000, "sqlite", n) for n in (10, 2_000, 20_000)] * 3


def test_all_runs_sqlite_and_postgresql_in_turn_three_times_at_10000() -> None:
    one = [db for mails, db, instances, n, history in planned("--all")
           if (mails, instances, n, history) == (10_000, 1, 0, 0)]  # fmt: skip
    assert one == BOTH * 3


def test_all_keeps_the_other_runs() -> None:
    runs = planned("--all")
    assert runs.count((1_000, "postgresql", 2, 0, 0)) == 1 + 10  # the duplicates target
    assert runs.count((10_000, "sqlite", 2, 0, 0)) == 1
    assert runs[-4:] == [(1_000, db, 1, 0, n) for db in BOTH for n in (0, 1_000_000)]
    assert len(runs) == 8 + 4 + 10 + 9 + 4


def test_contract_runs_take_the_smallest_mails_unless_told() -> None:
    assert planned("--contracts", "10,2000", "--mails", "300", "--contract-rounds", "2") == [
        (300, "sqlite", 1, 0, 0),
        *[(300, "sqlite", 1, n, 0) for n in (10, 2_000)] * 2,
    ]
    assert planned("--contracts", "10", "--contract-mails", "500") == [(500, "sqlite", 1, 10, 0)]


def test_repeats_come_in_rounds() -> None:
    runs = planned("--mails", "300", "--db", "both", "--instances", "both", "--repeat", "2")
    assert [(db, i) for _, db, i, _, _ in runs] == [
        ("sqlite", 1), ("postgresql", 1), ("sqlite", 2), ("postgresql", 2),
    ] * 2  # fmt: skip


def test_intake_rounds_add_to_the_repeats_of_the_largest_n() -> None:
    runs = planned("--mails", "300,600", "--db", "both", "--repeat", "2", "--intake-rounds", "3")
    assert [(n, db) for n, db, _, _, _ in runs] == [
        *[(n, db) for n in (300, 600) for db in BOTH] * 2,
        (600, "sqlite"), (600, "postgresql"),
    ]  # fmt: skip


def test_intake_rounds_need_runs_of_one_instance() -> None:
    runs = planned("--mails", "300", "--db", "both", "--instances", "2", "--intake-rounds", "3")
    assert runs == [(300, db, 2, 0, 0) for db in BOTH]
