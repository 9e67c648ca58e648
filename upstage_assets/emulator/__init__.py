"""An Upstage-compatible document API on loopback: real HTTP, real results, injectable trouble.

Start it with ``python -m upstage_assets.emulator`` or, in tests and benchmarks,
``upstage_assets.emulator.server.run_emulator_in_thread(settings)``.
"""
