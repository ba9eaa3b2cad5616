#!/usr/bin/env python3
"""Assembles docs/benchmarks.md from the outputs of `make bench` (criterion's estimates and the
system benchmark's markdown). Run by `make bench`; prints the document on stdout."""
import base64
import datetime
import json
import os
import platform
import re
import subprocess
import sys

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


def fail(message):
    """Stops with a message on stderr and a non-zero exit (`make bench` stops too)."""
    sys.exit(f"bench_report.py: {message}")


def criterion(name):
    """(mean, lower, upper) of a criterion benchmark's mean, in nanoseconds."""
    path = os.path.join(ROOT, "target", "criterion", name, "new", "estimates.json")
    try:
        with open(path) as f:
            est = json.load(f)
        mean = est["mean"]
        ci = mean["confidence_interval"]
        return mean["point_estimate"], ci["lower_bound"], ci["upper_bound"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LookupError(f"{os.path.relpath(path, ROOT)}: {e}") from e


# Provider slug -> (name, how `verify_and_parse` authenticates its webhooks). General first, then
# in slug order, as the benchmark runs them.
PROVIDERS = {
    "general": ("General SMS API", "HMAC-SHA256 of the body, `X-Signature-256`"),
    "apidaze": ("Apidaze", "URL token only"),
    "bandwidth": ("Bandwidth", "HTTP Basic auth (`Authorization`)"),
    "facebook": ("Facebook Messenger", "Meta `X-Hub-Signature-256` (HMAC-SHA256 of the body)"),
    "flowroute": ("Flowroute", "URL token only"),
    "siptrunk": ("SIPTRUNK", "URL token only"),
    "skyetel": ("Skyetel", "URL token only"),
    "telnyx": ("Telnyx", "Ed25519 over timestamp and body (`telnyx-signature-ed25519`, 300 s window)"),
    "twilio": ("Twilio", "HMAC-SHA1 over URL + sorted form params (`X-Twilio-Signature`)"),
    "voicemeup": ("VoiceMeUp", "URL token only"),
    "whatsapp": ("WhatsApp Cloud API", "Meta `X-Hub-Signature-256` (HMAC-SHA256 of the body)"),
}


def sample_slugs():
    """Slugs of the providers with a sample `events/webhook-ingest.<slug>-inbound.json` (the
    benchmark runs one per sample)."""
    slugs = []
    for name in os.listdir(os.path.join(ROOT, "events")):
        m = re.fullmatch(r"webhook-ingest\.(.+)-inbound\.json", name)
        if m:
            slugs.append(m.group(1))
    unknown = sorted(s for s in slugs if s not in PROVIDERS)
    if unknown:
        fail(f"no signature scheme recorded in infra/bench_report.py for the sample(s) of {', '.join(unknown)}")
    if "general" not in slugs:
        fail("events/webhook-ingest.general-inbound.json is missing")
    return sorted(slugs, key=lambda s: (s != "general", s))


def sample_body_bytes(slug):
    """Size of the raw body the benchmark verifies (Base64-decoded when the event says so)."""
    with open(os.path.join(ROOT, "events", f"webhook-ingest.{slug}-inbound.json")) as f:
        event = json.load(f)
    body = event["body"]
    return len(base64.b64decode(body)) if event.get("isBase64Encoded") else len(body.encode("utf-8"))


def webhook_table():
    rows, missing = [], []
    for slug in sample_slugs():
        try:
            mean, lo, hi = criterion(f"webhook_verify_and_parse/{slug}")
        except LookupError as e:
            missing.append(str(e))
            continue
        name, scheme = PROVIDERS[slug]
        rows.append(
            f"| {name} (`{slug}`) | {scheme} | {sample_body_bytes(slug):,} | {mean / 1000:.2f} µs "
            f"| {lo / 1000:.2f} – {hi / 1000:.2f} µs | {1e9 / mean:,.0f} |"
        )
    if missing:
        fail(
            "missing or unreadable criterion estimates (run `cargo bench -p domain --bench webhook` first):\n  "
            + "\n  ".join(missing)
        )
    return "\n".join(rows)


def main():
    table = webhook_table()
    system_path = os.path.join(ROOT, "target", "bench", "system.md")
    try:
        with open(system_path) as f:
            system = f.read()
    except OSError as e:
        fail(f"{e} (run `cargo bench -p system-tests --bench system` first)")
    print(f"""# Benchmarks

Produced by `make bench` (which runs `cargo bench -p domain --bench webhook` and
`cargo bench -p system-tests --bench system`, then `python3 infra/bench_report.py`).
Speed and size targets are checked here, never by timing assertions in tests.

- Date: {datetime.date.today().isoformat()}
- Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}
- Toolchain: {rustc_version()}

### Webhook verify and parse per provider (criterion)

`domain::webhook::verify_and_parse` on each provider's sample event
`events/webhook-ingest.<slug>-inbound.json` (benchmark `webhook_verify_and_parse/<slug>`), with the
credentials it was made with (`events/<slug>.credentials.json` through `Credentials::from_values`;
General: the test secret `sandbox-webhook-secret`) and the input webhook-ingest rebuilds from the
event (public URL from `domainName` and `rawPath`, the event's headers, the raw body): one call per
iteration, verification and parsing into `WebhookEvent`s. athena, IXICA, Vetta and VoIP.ms speak
the General SMS API contract and take General's code path: the `general` row stands for them.
"URL token only" providers sign nothing; their token is matched when the channel is looked up,
before this call, so their row is parsing alone.

| provider | signature scheme | sample body bytes | mean | 95% CI | webhooks/s on one core |
|---|---|---|---|---|---|
{table}

{system}""")


if __name__ == "__main__":
    main()
