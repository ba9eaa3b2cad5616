//! Benchmark: verify and parse one inbound webhook per provider (the webhook function's hot path).
//!
//! One benchmark `webhook_verify_and_parse/<slug>` per signed sample
//! `events/webhook-ingest.<slug>-inbound.json` (API Gateway HTTP API v2 events), measuring
//! [`domain::webhook::verify_and_parse`] with the credentials the sample was made with
//! (`events/<slug>.credentials.json`, through [`Credentials::from_values`]). The input is rebuilt
//! from the event the way webhook-ingest does: public URL `https://{domainName}{rawPath}`
//! (`?{rawQueryString}` when non-empty), the event's headers, the raw body bytes. Everything is
//! built, and checked once, outside the timed loop. `infra/bench_report.py` reads the estimates.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use domain::channel::Provider;
use domain::credentials::{Credentials, KeyValues};
use domain::time::Timestamp;
use domain::webhook::{Headers, WebhookInput, verify_and_parse};
use serde_json::Value;

/// The `now` every sample is checked at: the time Telnyx's sample was signed at
/// (`telnyx-timestamp: 1795000000`, within its 300 s window); the other schemes sign no time.
const NOW: Timestamp = Timestamp::from_unix_seconds(1_795_000_000);

/// The General sample has no credentials file: it is signed with the test-only secret
/// `sandbox-webhook-secret` (events/README.md); the other keys are only needed to build the set.
const GENERAL_CONTRACT_VALUES: &[(&str, &str)] = &[
    ("api_key", "sandbox-api-key"),
    ("api_secret", "sandbox-webhook-secret"),
    ("api_send_url", "https://sp.example.com/send"),
];

/// One provider's sample, ready to be verified and parsed.
struct Sample {
    slug: &'static str,
    credentials: Credentials,
    public_url: String,
    headers: Headers,
    body: Vec<u8>,
}

impl Sample {
    fn input(&self) -> WebhookInput<'_> {
        WebhookInput { public_url: &self.public_url, headers: &self.headers, body: &self.body, now: NOW }
    }
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every provider that has a sample in `events/`, General first, then in slug order. A sample
/// whose slug is not a provider fails loudly rather than being skipped.
fn sample_providers() -> Vec<Provider> {
    let dir = events_dir();
    let mut providers: Vec<Provider> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| Some(name.strip_prefix("webhook-ingest.")?.strip_suffix("-inbound.json")?.to_owned()))
        .map(|slug| {
            Provider::from_slug(&slug).unwrap_or_else(|| panic!("events/ has a sample for unknown provider {slug:?}"))
        })
        .collect();
    providers.sort_by_key(|p| (*p != Provider::General, p.slug()));
    assert!(providers.contains(&Provider::General), "events/webhook-ingest.general-inbound.json is missing");
    providers
}

fn load(provider: Provider) -> Sample {
    let slug = provider.slug();
    let dir = events_dir();
    let event = read_json(&dir.join(format!("webhook-ingest.{slug}-inbound.json")));
    let credentials_path = dir.join(format!("{slug}.credentials.json"));
    let values: KeyValues = if credentials_path.exists() {
        serde_json::from_value(read_json(&credentials_path)).unwrap()
    } else {
        assert!(provider.is_general_contract(), "{} is missing", credentials_path.display());
        GENERAL_CONTRACT_VALUES.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let credentials = Credentials::from_values(provider, &values)
        .unwrap_or_else(|problems| panic!("{slug}: the sample's credentials are refused: {problems:?}"));
    if provider.is_general_contract() {
        // Without a secret only the URL token protects the webhook; the benchmark measures the
        // signed path.
        assert!(credentials.webhook_signing_secret().is_some(), "{slug}: the sample's credentials have no api_secret");
    }

    let mut public_url = format!(
        "https://{}{}",
        event["requestContext"]["domainName"].as_str().unwrap(),
        event["rawPath"].as_str().unwrap()
    );
    if let Some(query) = event["rawQueryString"].as_str().filter(|q| !q.is_empty()) {
        public_url.push('?');
        public_url.push_str(query);
    }
    let headers = Headers::from_pairs(
        event["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
    );
    let raw_body = event["body"].as_str().unwrap();
    let body = if event["isBase64Encoded"].as_bool().unwrap_or(false) {
        STANDARD.decode(raw_body).unwrap()
    } else {
        raw_body.as_bytes().to_vec()
    };
    Sample { slug, credentials, public_url, headers, body }
}

fn verify_and_parse_per_provider(c: &mut Criterion) {
    let samples: Vec<Sample> = sample_providers().into_iter().map(load).collect();
    // A broken sample (signature, credentials, body) fails here, before anything is timed.
    for sample in &samples {
        match verify_and_parse(&sample.credentials, &sample.input()) {
            Ok(events) => assert!(!events.is_empty(), "{}: the sample yields no event", sample.slug),
            Err(rejection) => panic!("{}: the sample is rejected: {rejection}", sample.slug),
        }
    }
    let mut group = c.benchmark_group("webhook_verify_and_parse");
    for sample in &samples {
        let input = sample.input();
        group.bench_function(sample.slug, |b| {
            b.iter(|| verify_and_parse(std::hint::black_box(&sample.credentials), std::hint::black_box(&input)))
        });
    }
    group.finish();
}

criterion_group!(benches, verify_and_parse_per_provider);
criterion_main!(benches);
