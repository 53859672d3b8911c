"""CDK synth time, resources per stack and cdk-nag findings before and after acknowledgements.

    .venv/bin/python -m bench.cdk_synth [--runs 2]

Synthesises with the real CDK CLI into temporary directories, offline. Baseline, measured in the
same run: the same CLI synthesising a one-stack app with nothing in it (the fixed cost of the
CLI, Node, jsii and Python start-up). Findings "before" come from a synth with
``-c nag-before=true``, which turns every acknowledgement off; "after" is the normal synth.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from infra_cdk.cloud_assembly import STACK_CONCERNS, CloudAssembly, synthesise
from infra_cdk.nag import BEFORE_ACKNOWLEDGEMENTS_CONTEXT_KEY

EMPTY_APP = (
    f'{sys.executable} -c "import aws_cdk as cdk; app = cdk.App(); '
    "cdk.Stack(app, 'Empty'); app.synth()\""
)


def _findings(assembly: CloudAssembly, key: str) -> Counter[str]:
    """Findings by rule, one per construct (as cdk-nag reports them)."""
    counts: Counter[str] = Counter()
    for finding in assembly.nag_report[key]:
        counts[finding["ruleName"]] += len(finding["violatingConstructs"])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        baseline = [
            synthesise(root / f"empty-{i}", app=EMPTY_APP).synth_seconds for i in range(runs)
        ]
        ours = [synthesise(root / f"k2-{i}") for i in range(runs)]
        before = synthesise(
            root / "before", f"{BEFORE_ACKNOWLEDGEMENTS_CONTEXT_KEY}=true", must_pass=False
        )
        report(ours, baseline, before)


def report(ours: list[CloudAssembly], baseline: list[float], before: CloudAssembly) -> None:
    runs = len(ours)
    assembly = ours[-1]
    median = statistics.median(run.synth_seconds for run in ours)
    empty = statistics.median(baseline)
    print(f"cdk synth, whole app: {median:.1f} s (median of {runs})")
    print(f"cdk synth, empty one-stack app (baseline): {empty:.1f} s; ratio {median / empty:.1f}x")
    print("\nresources per stack:")
    total = 0
    for concern in STACK_CONCERNS:
        count = len(assembly.resources(concern))
        total += count
        print(f"  {assembly.stack_name(concern):<22} {count:>4}")
    print(f"  {'total':<22} {total:>4}")
    unacknowledged = _findings(before, "violations")
    acknowledged = _findings(assembly, "suppressedViolations")
    remaining = _findings(assembly, "violations")
    print(
        f"\ncdk-nag AwsSolutions findings: before {sum(unacknowledged.values())} "
        f"(acknowledgements off), after {sum(remaining.values())} unacknowledged, "
        f"{sum(acknowledged.values())} acknowledged with a reason"
    )
    by_rule: Counter[str] = Counter()
    for finding, count in unacknowledged.items():
        by_rule[finding.split("[")[0]] += count
    print("  by rule: " + ", ".join(f"{rule} {count}" for rule, count in sorted(by_rule.items())))
    for finding, count in sorted(unacknowledged.items()):
        print(f"  {finding:<70} {count:>3}")


if __name__ == "__main__":
    main()
