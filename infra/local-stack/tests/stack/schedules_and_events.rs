//! Schedules fired on demand and the event tap.

use std::time::Duration;

use local_stack::InvokeError;
use serde_json::json;

use crate::common::{http_config, start};

#[tokio::test]
async fn when_a_rule_schedule_fires_should_invoke_with_the_scheduled_event() {
    let config = http_config().await;
    let stack_name = config.resource_prefix.trim_end_matches('-').to_owned();
    let stack = start(config).await;
    let event = stack.fire_schedule("TickFunction", "EveryMinute").await.unwrap();
    assert_eq!(event["version"], "0");
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
    assert_eq!(event["account"], "000000000000");
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["detail"], json!({}));
    assert_eq!(
        event["resources"],
        json!([format!("arn:aws:events:us-east-1:000000000000:rule/{stack_name}-TickFunctionEveryMinute")])
    );
    let time = event["time"].as_str().unwrap();
    assert_eq!(time.len(), "2024-01-01T00:00:00Z".len(), "{time}");
    assert!(time.ends_with('Z'));
    assert_eq!(event["id"].as_str().unwrap().len(), 36);
    let typed: aws_lambda_events::eventbridge::EventBridgeEvent = serde_json::from_value(event).unwrap();
    assert_eq!(typed.detail_type, "Scheduled Event");
    stack.shutdown().await;
}

#[tokio::test]
async fn when_a_scheduler_schedule_fires_should_send_its_input_with_the_time() {
    let stack = start(http_config().await).await;
    let event = stack.fire_schedule("TickFunction", "WithInput").await.unwrap();
    assert_eq!(event["kind"], "v2");
    let at = event["at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == 20, "{at}");
    let err = stack.fire_schedule("TickFunction", "Nope").await.unwrap_err();
    assert!(matches!(err, InvokeError::UnknownEvent { .. }), "{err}");
    stack.shutdown().await;
}

#[tokio::test]
async fn when_events_are_put_on_the_bus_should_arrive_in_the_tap() {
    let stack = start(http_config().await).await;
    let tap = stack.event_tap("Bus").await.unwrap();
    assert!(tap.drain().await.is_empty());
    let bus = stack.event_bus_name("Bus").unwrap();
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(&bus)
        .source("switchboard.test")
        .detail_type("message.routed")
        .detail(json!({"conversation": "c1", "n": 1}).to_string())
        .build();
    let out = stack.clients().events.put_events().entries(entry.clone()).entries(entry).send().await.unwrap();
    assert_eq!(out.failed_entry_count, 0);
    let events = tap.drain_until(2, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert_eq!(event["source"], "switchboard.test");
        assert_eq!(event["detail-type"], "message.routed");
        assert_eq!(event["detail"], json!({"conversation": "c1", "n": 1}));
        assert_eq!(event["region"], "us-east-1");
        assert_eq!(event["version"], "0");
        assert_eq!(event["id"].as_str().map(str::len), Some(36));
        // moto's SQS delivery leaves `account` out of the envelope (AWS includes it); the
        // rule's `account` pattern still matched, or nothing would have arrived.
        assert!(event.get("account").is_none_or(|a| a == "000000000000"), "{event}");
    }
    assert!(tap.drain().await.is_empty(), "drain deletes what it returns");
    // Events on another bus (the default one) are not tapped.
    let other = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("elsewhere")
        .detail_type("x")
        .detail("{}")
        .build();
    stack.clients().events.put_events().entries(other).send().await.unwrap();
    assert!(tap.drain_until(1, Duration::from_millis(500)).await.is_empty());
    let err = stack.event_tap("Nope").await.unwrap_err();
    assert!(err.to_string().contains("Nope"), "{err}");
    stack.shutdown().await;
}
