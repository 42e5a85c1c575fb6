"""``WriteTurns``: the outbox's short writes go between the intake's mails, not after its batch."""

from __future__ import annotations

import threading

from mailbot.adapters.db.turns import WriteTurns

WAIT = 30.0  # seconds; only a broken turn waits this long (the test then fails, not hangs)


def test_a_short_write_waits_for_the_long_one_to_give_way_and_goes_first() -> None:
    turns = WriteTurns(enabled=True, wait=WAIT, every=0.0)
    order: list[str] = []
    asked = threading.Event()

    def outbox() -> None:
        asked.set()
        with turns.short():
            order.append("short")

    with turns.long():
        order.append("long 1")
        short = threading.Thread(target=outbox)
        short.start()
        asked.wait(WAIT)
        while not turns.wanted():  # the thread is inside short(), waiting for its turn
            threading.Event().wait(0.001)
        assert order == ["long 1"]  # it does not write while the long one holds the turn
        turns.give_way()
        order.append("long 2")  # the long one resumes only after the short one ended
    short.join(WAIT)

    assert order == ["long 1", "short", "long 2"]
    assert not turns.wanted()


def test_the_long_write_gives_way_at_most_every_so_often() -> None:
    now = [100.0]
    turns = WriteTurns(enabled=True, wait=WAIT, every=0.02, monotonic=lambda: now[0])
    entered = threading.Event()
    release = threading.Event()

    def outbox() -> None:
        with turns.short():
            entered.set()
            release.wait(WAIT)

    with turns.long():
        short = threading.Thread(target=outbox)
        short.start()
        while turns._arrived == 0:  # the short write has asked
            threading.Event().wait(0.001)
        assert not turns.wanted()  # 0 ms since the long one took its turn
        now[0] += 0.019
        assert not turns.wanted()
        now[0] += 0.001
        assert turns.wanted()
        release.set()
        turns.give_way()
        assert entered.is_set()
    short.join(WAIT)


def test_a_turn_never_given_costs_a_bounded_wait_not_a_hang() -> None:
    turns = WriteTurns(enabled=True, wait=0.05, every=0.0)
    done = threading.Event()

    def outbox() -> None:
        with turns.short():
            done.set()

    with turns.long():  # and never gives way
        short = threading.Thread(target=outbox)
        short.start()
        assert done.wait(WAIT)  # went ahead after its bounded wait
    short.join(WAIT)


def test_disabled_turns_never_wait_nor_ask() -> None:
    turns = WriteTurns(enabled=False)
    with turns.long(), turns.short():
        assert not turns.wanted()
        turns.give_way()
