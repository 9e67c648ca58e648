"""Run the Upstage-compatible emulator: ``python -m upstage_assets.emulator``.

It speaks the Upstage document API contract (sections 0-7 of the shared contract notes, upstage-api.md)
over real HTTP, answering with real results from the local engine, so the production client,
its rate limiter and every failure path can be exercised offline.

Start it::

    .venv/bin/python -m upstage_assets.emulator                # http://127.0.0.1:8765, the client's default
    .venv/bin/python -m upstage_assets.emulator --port 0          # free port; prints the URL
    # -> emulator listening on http://127.0.0.1:PORT

Call it like the real API (any non-empty key unless --api-key is set)::

    curl -H "Authorization: Bearer up_test" -F document=@invoice.pdf -F model=document-parse \\
         -F 'output_formats=["html","markdown"]' http://127.0.0.1:8765/v1/document-digitization
    curl -H "Authorization: Bearer up_test" http://127.0.0.1:8765/v1/document-digitization/requests
    curl http://127.0.0.1:8765/__emulator__/stats                 # what the emulator saw
    curl 'http://127.0.0.1:8765/__emulator__/stats?per_document=false'   # the counters only
    curl -X POST http://127.0.0.1:8765/__emulator__/stats/reset

Knobs (every one also from the environment as UPSTAGE_EMULATOR_<NAME>, e.g.
UPSTAGE_EMULATOR_FAULT_RATE_5XX=0.1; command-line flags win)::

    --api-key KEY                 require exactly this key (401 otherwise)
    --latency-s / --latency-per-page-s / --latency-jitter-s
                                  response time floor: base + per page + U(0, jitter)
    --rps-limits "document-parse=3,ocr=3,document-parse-async=6"
    --ppm-limits "document-parse=300,document-parse-async=1200"
    --documented-limits           switch on Upstage's published RPS/PPM limits
        endpoint groups: document-parse ocr document-parse-async requests information-extraction
                         information-extraction-async schema-generation prebuilt-extraction
    --seed N                      make fault injection and jitter repeatable
    --fault-rate-429 / --fault-rate-5xx / --fault-rate-timeout / --fault-rate-truncated /
    --fault-rate-malformed / --fault-rate-job-failure   probabilities per request (per batch)
    --timeout-hold-s 30 --timeout-mode hold|close
    --max-bytes / --async-max-bytes / --sync-max-pages 100 / --async-max-pages 2000 / ...
    --async-batch-pages 10 --async-queue-s 0.2 --async-batch-s 0.2 --download-url-ttl-s 900
    --engine-workers 2 --engine-executor thread|process --result-cache-size 64
                                  (process: engine work never holds the server loop's GIL)
    --benchmark-mode true         every answer kept by content; POST /__emulator__/warm/<API path>
                                  computes them outside limits, latency and stats (warm up first)

In Python (tests, benchmarks)::

    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings
    with run_emulator_in_thread(EmulatorSettings(seed=1, fault_rate_5xx=0.2)) as emulator:
        ...  # emulator.url
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from upstage_assets.emulator.settings import EmulatorSettings, parse_setting
from upstage_assets.settings import EMULATOR_URL

DEFAULT_PORT = int(EMULATOR_URL.rsplit(":", 1)[1])  # one default for the emulator, the client and the README


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m upstage_assets.emulator",
                                     description="Upstage-compatible document API emulator",
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"default {DEFAULT_PORT}, where the client's emulator backend looks (UPSTAGE_API_BASE_URL); "
                             "0 picks a free port")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--documented-limits", action="store_true",
                        help="apply Upstage's published RPS/PPM limits (explicit limits win)")
    for f in fields(EmulatorSettings):
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None,
                            help=f"(env UPSTAGE_EMULATOR_{f.name.upper()})")
    return parser


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    overrides = {f.name: parse_setting(f.name, getattr(args, f.name))
                 for f in fields(EmulatorSettings) if getattr(args, f.name) is not None}
    settings = EmulatorSettings.from_env(**overrides)
    return settings.with_documented_limits() if args.documented_limits else settings


def main(argv: list[str] | None = None) -> int:
    from upstage_assets.emulator.server import bind, build_server

    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    sock = bind(args.host, args.port)
    server, _ = build_server(settings, args.host, sock, log_level=args.log_level)
    print(f"emulator listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
