"""The one ask → evaluate → tell loop: order of steps, batches left from a crash, asking
ahead, stopping early."""

from __future__ import annotations

from concurrent.futures import Future

from electroloop.ask_tell import AskTell, run_ask_tell


class Script:
    """Numbers in batches of two up to `budget`; records every step in order."""

    def __init__(self, budget: int) -> None:
        self.budget, self.next, self.steps = budget, 0, []

    def ask(self) -> list[int]:
        batch = list(range(self.next, min(self.next + 2, self.budget)))
        self.next += len(batch)
        self.steps.append(("ask", batch))
        return batch

    def evaluate(self, batch: list[int]) -> list[int]:
        self.steps.append(("evaluate", batch))
        return [n * n for n in batch]

    def tell(self, batch: list[int], results: list[int]) -> None:
        self.steps.append(("tell", results))


def test_batches_are_asked_evaluated_and_told_until_none_is_left() -> None:
    script = Script(budget=5)
    told = run_ask_tell(AskTell(script.ask, script.evaluate, script.tell))
    assert told == 3
    assert script.steps[:3] == [("ask", [0, 1]), ("evaluate", [0, 1]), ("tell", [0, 1])]
    assert ("tell", [16]) in script.steps and script.steps[-1] == ("ask", [])


def test_batches_left_from_a_crash_come_first_and_nothing_is_asked_meanwhile() -> None:
    script = Script(budget=2)
    run_ask_tell(AskTell(script.ask, script.evaluate, script.tell), [[7], [8]])
    assert script.steps[:4] == [
        ("evaluate", [7]),
        ("tell", [49]),
        ("evaluate", [8]),
        ("tell", [64]),
    ]


def test_a_batch_asked_ahead_is_asked_after_the_review_and_before_the_evaluation() -> None:
    script = Script(budget=4)

    def ahead() -> Future[list[int]]:
        future: Future[list[int]] = Future()
        future.set_result(script.ask())
        return future

    def review(batch: list[int]) -> None:
        script.steps.append(("review", batch))

    steps = AskTell(script.ask, script.evaluate, script.tell, ahead, before_evaluate=review)
    run_ask_tell(steps)
    assert script.steps[:5] == [
        ("ask", [0, 1]),
        ("review", [0, 1]),
        ("ask", [2, 3]),  # while [0, 1] is evaluated
        ("evaluate", [0, 1]),
        ("tell", [0, 1]),
    ]
    assert ("evaluate", [2, 3]) in script.steps


def test_stop_ends_the_loop_after_the_tell_that_made_it_true() -> None:
    script = Script(budget=10)
    told = run_ask_tell(
        AskTell(script.ask, script.evaluate, script.tell, stop=lambda: len(script.steps) >= 3)
    )
    assert told == 1 and script.steps[-1] == ("tell", [0, 1])
