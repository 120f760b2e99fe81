"""The loop's turns (awsspawner.loop_turns): a burst is spread over loop iterations, in order,
and a cancelled waiter gives its turn away. Pure asyncio, no AWS."""

from __future__ import annotations

import asyncio

from awsspawner import loop_turns


async def iteration_counter(counts: list[int], stop: asyncio.Event) -> None:
    """Counts loop iterations (one sleep(0) per iteration)."""
    while not stop.is_set():
        counts[0] += 1
        await asyncio.sleep(0)


async def test_a_burst_gets_a_few_turns_per_iteration_in_arrival_order() -> None:
    counts = [0]
    stop = asyncio.Event()
    ticker = asyncio.ensure_future(iteration_counter(counts, stop))
    await asyncio.sleep(0)
    order: list[tuple[int, int]] = []  # (caller, iteration it got its turn)

    async def caller(number: int) -> None:
        await loop_turns.turn()
        order.append((number, counts[0]))

    await asyncio.gather(*(caller(n) for n in range(40)))
    stop.set()
    await ticker
    assert [number for number, _ in order] == list(range(40))  # first come, first served
    per_iteration: dict[int, int] = {}
    for _, iteration in order:
        per_iteration[iteration] = per_iteration.get(iteration, 0) + 1
    assert max(per_iteration.values()) <= loop_turns.MAX_PER_ITERATION
    assert len(per_iteration) >= 40 // loop_turns.MAX_PER_ITERATION


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    got: list[int] = []

    async def caller(number: int) -> None:
        await loop_turns.turn()
        got.append(number)

    tasks = [asyncio.ensure_future(caller(n)) for n in range(3 * loop_turns.MAX_PER_ITERATION)]
    await asyncio.sleep(0)  # the first share has passed, the rest wait
    tasks[-1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(got) == 3 * loop_turns.MAX_PER_ITERATION - 1
    # Nothing is left waiting: a later caller passes at once.
    await asyncio.wait_for(loop_turns.turn(), timeout=1)
