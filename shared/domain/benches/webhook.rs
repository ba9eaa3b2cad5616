//! Benchmark: verify and parse one General SMS API webhook (the webhook function's hot path).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use domain::secret::Secret;
use domain::webhook::{Headers, general};

const BODY: &str = include_str!("../../../events/fixtures/general-inbound-body.json");

fn verify_and_parse(c: &mut Criterion) {
    let secret = Secret::new("sandbox-webhook-secret");
    let body = BODY.as_bytes();
    let headers = Headers::from_pairs([("X-Signature-256", general::sign(&secret, body))]);
    c.bench_function("general_webhook_verify_and_parse", |b| {
        b.iter(|| {
            general::verify_signature(&secret, &headers, std::hint::black_box(body)).unwrap();
            general::parse(std::hint::black_box(body)).unwrap()
        })
    });
}

criterion_group!(benches, verify_and_parse);
criterion_main!(benches);
