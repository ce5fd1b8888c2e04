"""Cost of SigmaHQ-style vendor rules in the engine, against the shipped pack alone.

    .venv/bin/python bench/sigmahq.py [--events 100000] [--vendor-rules 300] [--rounds 5]

Two event mixes, both run through one Engine (what the runner does per batch, minus the
database read):

* CloudTrail: the real fixture records (Stratus detonations, Bedrock, SageMaker) through
  the CloudTrail adapter, repeated with fresh ids and times;
* Custody: the synthetic native events of bench/rules.py (no CloudTrail at all).

Rule sets: the shipped pack alone (the baseline), then the pack plus the 3 real SigmaHQ
rules, then the pack plus N vendor CloudTrail rules (variants of the real ones written to
a temporary directory for the run, standing in for an imported SigmaHQ cloud folder).
Prints events per CPU second (best of interleaved rounds) and the ratio to the baseline
measured in the same run.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.adapters import normalize  # noqa: E402
from service.rules import Engine, load_rules  # noqa: E402
from service.rules.bench import synthetic_events  # noqa: E402
from service.rules.model import Rule  # noqa: E402

REAL = ROOT / "tests" / "fixtures" / "real"
SIGMA = REAL / "sigma"


def cloudtrail_events(count: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in [*(REAL / "stratus").glob("*.json"), *(REAL / "cloudtrail-bedrock").glob("*"),
                 *(REAL / "cloudtrail-sagemaker").glob("*")]:  # fmt: skip
        data = json.loads(path.read_text())
        records.extend(data if isinstance(data, list) else data.get("Records", [data]))
    events = []
    for seq in range(1, count + 1):
        record = copy.deepcopy(records[seq % len(records)])
        record["eventID"] = f"e{seq}"
        record["eventTime"] = (
            f"2026-11-30T{seq // 3600 % 24:02d}:{seq // 60 % 60:02d}:{seq % 60:02d}Z"
        )
        (event,) = normalize(record)
        event["seq"] = seq
        events.append(event)
    return events


def vendor_rules(directory: Path, count: int) -> list[Rule]:
    """`count` CloudTrail rules shaped like SigmaHQ's (eventSource + eventName)."""
    for number in range(count):
        (directory / f"r{number}.yml").write_text(
            f"title: vendor {number}\nid: {uuid.uuid4()}\nlevel: low\n"
            "logsource: {product: aws, service: cloudtrail}\n"
            "detection:\n  selection:\n    eventSource: iam.amazonaws.com\n"
            f"    eventName: Call{number}\n  condition: selection\n"
        )
    rules, errors = load_rules(directory=directory)
    assert not errors, errors
    return rules


def rate(rules: list[Rule], events: list[dict[str, Any]]) -> float:
    """Events per CPU second of this process (other work on a shared machine then costs
    us only cache misses, not its whole time slice)."""
    engine = Engine(rules)
    began = time.process_time()
    for event in events:
        engine.process(event)
    return len(events) / (time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--vendor-rules", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pack, errors = load_rules(directory=ROOT / "rules")
    assert not errors, errors
    real, errors = load_rules(directory=SIGMA)
    assert not errors, errors
    with tempfile.TemporaryDirectory() as tmp:
        many = vendor_rules(Path(tmp), args.vendor_rules)
    mixes = {
        "CloudTrail": cloudtrail_events(args.events),
        "Custody": synthetic_events(count=args.events),
    }
    sets = {
        "pack (baseline)": pack,
        "pack + 3 SigmaHQ": [*pack, *real],
        f"pack + {args.vendor_rules} vendor": [*pack, *real, *many],
    }
    for mix, events in mixes.items():
        # Interleaved rounds, best of each: the machine is shared, and a slow spell then
        # hits every rule set alike instead of one of them.
        best = dict.fromkeys(sets, 0.0)
        for _ in range(args.rounds):
            for name, rules in sets.items():
                best[name] = max(best[name], rate(rules, events))
        base = best["pack (baseline)"]
        for name, value in best.items():
            print(f"{mix:10} {name:24} {value:10,.0f} events/s   ratio {value / base:.2f}")


if __name__ == "__main__":
    main()
