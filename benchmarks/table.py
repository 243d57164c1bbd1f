"""The benchmark driver's last word: every measured row of a results file (JSON lines) as one Markdown table.

python benchmarks/table.py RESULTS.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(records: list[dict]) -> str:
    lines = [
        "| benchmark | stock | align | ratio | peak memory stock / align (GiB) | device |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["skipped"]:
            lines.append(f"| {r['row']} | skipped: {r['skipped']} | | | | {r['device']} |")
            continue
        stock, align = r["stock"], r["align"]
        lines.append(
            f"| {r['row']} | {stock['throughput']:.2f} {stock['unit']} ({stock['note']}) "
            f"| {align['throughput']:.2f} {align['unit']} ({align['note']}) | **{r['ratio']:.2f}** "
            f"| {stock['peak_gib']:.2f} / {align['peak_gib']:.2f} | {r['device']} |"
        )
    if records:
        versions = ", ".join(f"{k} {v}" for k, v in records[0]["versions"].items())
        lines.append(f"\nVersions: {versions}.")
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1])
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    print(table(records) if records else "no benchmark finished")


if __name__ == "__main__":
    main()
