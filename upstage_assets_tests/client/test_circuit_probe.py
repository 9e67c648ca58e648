"""The circuit breaker's probe never leaves the others waiting forever.

When an endpoint's pause is over, one request goes through as the probe while the others wait
for its verdict. A probe answered 429 (the rate limit: no verdict on the outage) is sent again
as the probe; a probe that ends without a verdict (its retries exhausted, an error raised, a
cancellation) hands the probing on. Found as a hang of the chaos scenario (429s injected at 20%):
16 extractions waiting on a probe that had been answered 429 and was waiting for itself.
"""

from __future__ import annotations

import asyncio

from upstage_assets.upstage_api.circuit import BreakerSettings, CircuitBreaker

HANG_GUARD_S = 30  # a deadlock shows as this timeout, never a speed assertion


def test_a_probe_answered_429_is_sent_again_and_then_hands_the_probing_on():
    async def scenario() -> list[str]:
        breaker = CircuitBreaker(BreakerSettings(threshold=1, base_pause_s=0.01, max_pause_s=0.01, max_outage_s=60))
        assert breaker.record_failure("information-extraction", "HTTP 503")  # the endpoint is down: paused
        order: list[str] = []
        probing, answered_429 = asyncio.Event(), asyncio.Event()

        async def probe() -> None:
            await breaker.before("information-extraction")
            probing.set()
            await answered_429.wait()  # a 429: neither success nor failure of the endpoint
            await breaker.before("information-extraction")  # sent again, still the probe: it does not wait for itself
            order.append("probe sent again")
            breaker.release_probe("information-extraction")  # then it gives up (retries exhausted)

        async def waiting() -> None:
            await probing.wait()
            await breaker.before("information-extraction")
            order.append("waiting request sent")
            breaker.record_success("information-extraction")

        tasks = [asyncio.create_task(probe()), asyncio.create_task(waiting())]
        await probing.wait()
        await asyncio.sleep(0.05)  # the other request is waiting for the probe's verdict
        answered_429.set()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD_S)
        return order

    assert asyncio.run(scenario()) == ["probe sent again", "waiting request sent"]
