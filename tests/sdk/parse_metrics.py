"""Parses Prometheus text (stdin) with prometheus_client's own parser and prints every sample.

Output: one JSON object {"families": [{"name", "type", "samples": [{"name", "labels", "value"}]}]}.
Any text the parser rejects ends the script with an exception (exit code 1).
Used by tests/tests/e2e/metrics.rs: the numbers it checks come from this parser, not from Rust.
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    text = sys.stdin.read()
    families = []
    for family in text_string_to_metric_families(text):
        samples = []
        for s in family.samples:
            value = s.value
            if math.isinf(value):
                value = "+Inf" if value > 0 else "-Inf"
            samples.append({"name": s.name, "labels": dict(s.labels), "value": value})
        families.append({"name": family.name, "type": family.type, "samples": samples})
    json.dump({"families": families}, sys.stdout)


if __name__ == "__main__":
    main()
