//! Fixture hygiene: every sample event in events/ parses into its function's event type, so the
//! samples used by `cargo lambda invoke` / `sam local invoke` cannot rot.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

#[test]
fn every_sample_event_parses_as_its_functions_event_type() {
    let dir = system_tests::workspace_root().join("events");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".credentials.json") {
            // the provider credentials a signed sample was made with (read by the domain's tests)
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let function = name.split('.').next().unwrap();
        match function {
            "webhook-ingest" | "admin-api" | "agent-api" => {
                lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            "router" | "sender" | "sla-timer" => {
                let event: SqsEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!event.records.is_empty(), "{name} has no records");
            }
            "campaign-worker" if name.ends_with(".scheduled.json") => {
                let _: EventBridgeEvent<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            "campaign-worker" => {
                let event: SqsEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!event.records.is_empty(), "{name} has no records");
            }
            "outbox-reconciler" | "auto-close" | "channel-health" | "queue-sla" | "template-sync" => {
                let _: EventBridgeEvent<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            other => panic!("{name}: no function named {other}; name samples <function>.<case>.json"),
        }
        let package = system_tests::workspace_root().join("functions").join(function).join("Cargo.toml");
        assert!(package.exists(), "{name}: functions/{function} does not exist");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} samples found");
}
