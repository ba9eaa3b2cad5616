#!/usr/bin/env python3
"""Assembles docs/benchmarks.md from the outputs of `make bench` (criterion's estimates and the
system benchmark's markdown). Run by `make bench`; prints the document on stdout."""
import datetime
import json
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rustc_version():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def criterion(name):
    path = os.path.join(ROOT, "target", "criterion", name, "new", "estimates.json")
    with open(path) as f:
        est = json.load(f)
    mean = est["mean"]
    return mean["point_estimate"], mean["confidence_interval"]["lower_bound"], mean["confidence_interval"]["upper_bound"]


def main():
    mean, lo, hi = criterion("general_webhook_verify_and_parse")
    with open(os.path.join(ROOT, "target", "bench", "system.md")) as f:
        system = f.read()
    body_bytes = os.path.getsize(os.path.join(ROOT, "events", "fixtures", "general-inbound-body.json"))
    print(f"""# Benchmarks

Produced by `make bench` (which runs `cargo bench -p domain --bench webhook` and
`cargo bench -p system-tests --bench system`, then `python3 infra/bench_report.py`).
Speed and size targets are checked here, never by timing assertions in tests.

- Date: {datetime.date.today().isoformat()}
- Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}
- Toolchain: {rustc_version()}

### Webhook verify and parse (criterion)

`domain::webhook::general::verify_signature` + `parse` on the {body_bytes}-byte sample body
(`events/fixtures/general-inbound-body.json`), one call each per iteration.

| metric | value |
|---|---|
| mean | {mean / 1000:.2f} µs |
| 95% confidence interval | {lo / 1000:.2f} – {hi / 1000:.2f} µs |
| throughput on one core | {1e9 / mean:,.0f} webhooks/s |

{system}""")


if __name__ == "__main__":
    main()
