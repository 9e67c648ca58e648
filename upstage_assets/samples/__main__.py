"""``python -m upstage_assets.samples OUT_DIR [--seed N]``: write the sample documents."""

from __future__ import annotations

import argparse
from pathlib import Path

from upstage_assets.samples import generate_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--invoices", type=int, default=3)
    parser.add_argument("--receipts", type=int, default=3)
    args = parser.parse_args(argv)
    samples = generate_samples(args.out_dir, seed=args.seed, invoices=args.invoices, receipts=args.receipts)
    for sample in samples:
        print(sample.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
