"""Summary of a py-spy profile (raw collapsed stacks: `frame;frame;... count` per line).

Prints where the sampled time goes: the leaf functions (self time) and the functions on
the stack (inclusive time), as shares of all samples of all threads, idle waits included
(so "share of samples" across threads is not CPU: a thread blocked in epoll counts too).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"epoll|select|_worker \(concurrent|wait \(threading|sleep|_bootstrap")
TOP = 25


def _clean(frame: str) -> str:
    # "compose (mcu/layout/compose.py:88)" -> "compose (mcu/layout/compose.py)"
    return re.sub(r":\d+\)$", ")", frame.strip())


def summarize(path: Path, top: int = TOP) -> dict[str, object]:
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_clean(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        leaf[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in c.most_common(top)] if total else []
    return {"samples": total, "self_percent": share(leaf), "inclusive_percent": share(inclusive),
            "file": str(path)}


def format_summary(summary: dict[str, object]) -> str:
    lines = [f"py-spy: {summary['samples']} samples ({summary['file']})", "  self time:"]
    lines += [f"    {pct:5.1f}%  {name}" for name, pct in summary["self_percent"]]  # type: ignore[attr-defined]
    lines.append("  inclusive:")
    lines += [f"    {pct:5.1f}%  {name}" for name, pct in summary["inclusive_percent"]]  # type: ignore[attr-defined]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(format_summary(summarize(Path(sys.argv[1]))))
