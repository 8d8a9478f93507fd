"""The progress bar a run shows on a terminal: one bar per strategy, a step per record."""

from __future__ import annotations

from collections.abc import Callable

import click


def progress_bars(per_strategy: int, prefix: str = "") -> Callable[[str], object]:
    """A factory: strategy -> a progress object (called with each record, closed at the
    strategy's end), drawn by click on stderr."""

    def factory(strategy: str):
        bar = click.progressbar(length=per_strategy, label=f"{prefix}{strategy:>16}", show_pos=True)
        bar.__enter__()

        class Progress:
            def __call__(self, rec):
                bar.update(1)

            def close(self):
                bar.__exit__(None, None, None)

        return Progress()

    return factory
