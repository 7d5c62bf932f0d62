"""An injected ``sleep`` for the engine: records each wait instead of waiting, so retry and
poll timing is asserted exactly and tests stay fast."""

from __future__ import annotations


class Sleeps:
    """Callable like ``asyncio.sleep``; ``calls`` lists the seconds it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
