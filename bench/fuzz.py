"""Long black-box fuzz run against a real `mcu serve` (tests/fuzz/fuzzer.py), 127.0.0.1 only.

    .venv/bin/python -m bench.fuzz                          # seed 1, 20000 inputs, at most 600 s
    .venv/bin/python -m bench.fuzz --seed 7 --count 50000 --seconds 1200
    .venv/bin/python -m bench.fuzz --seed 7 --index 1234    # replay one input (and its checks)
    python bench/fuzz.py ...                                # the same

Prints the inputs sent by kind, the answers by status, the notes and every finding with its
seed, index and input bytes; writes them to bench/results/fuzz-<timestamp>/ (summary.txt,
mcu.log, the MCU's config, findings/<n>-<index>.bin with the exact bytes of each suspect input).
Exit status 1 when there is a finding.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fuzz.fuzzer import run_fuzz

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--seed", type=int, default=1, help="run seed (default 1)")
    parser.add_argument("--count", type=int, default=20000, help="inputs at most (default 20000)")
    parser.add_argument("--seconds", type=float, default=600.0, help="sending time at most (default 600)")
    parser.add_argument("--index", type=int, action="append", metavar="I",
                        help="send only input I of the seed (repeatable): replay a finding")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/fuzz-<timestamp>)")
    args = parser.parse_args(argv)

    out = args.out or RESULTS / datetime.now().strftime("fuzz-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    indexes = sorted(set(args.index)) if args.index else None
    print(f"[fuzz {time.strftime('%H:%M:%S')}] seed {args.seed}, "
          + (f"inputs {indexes}" if indexes else f"{args.count} inputs within {args.seconds:.0f} s")
          + f"; results in {out}", flush=True)
    report = run_fuzz(out / "mcu", args.seed, len(indexes) if indexes else args.count, args.seconds, indexes)
    summary = report.summary()
    (out / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    (out / "mcu" / "mcu.log").write_text(report.mcu_log, encoding="utf-8")
    findings = out / "findings"
    for n, finding in enumerate(report.findings, start=1):
        findings.mkdir(exist_ok=True)
        for suspect in finding.suspects:
            (findings / f"{n}-{suspect.index}.bin").write_bytes(suspect.data)
    print(summary, flush=True)
    return 1 if report.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
