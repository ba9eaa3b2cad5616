//! Queue SLA through the local stack: the per-session breach timer (SQS delays), the scheduled
//! evaluation with one alarm and one recovery e-mailed to the managers through the emulator's
//! SES, overlap idempotency, and the admin API's view.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, EXTENSION, SLA_MAIL_FROM, TestStack};

const SLA_TIME_SECS: u64 = 10;

fn second_of_minute() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() % 60
}

/// Sleeps until `second` seconds past the next minute (evaluation windows of 1 minute end on
/// minute boundaries).
async fn sleep_into_next_minute(second: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = now.as_millis() % 60_000;
    let wait = 60_000 - into + u128::from(second) * 1000;
    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap())).await;
}

fn of_type<'a>(events: &'a [Value], detail_type: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["detail-type"] == detail_type).collect()
}

#[tokio::test]
async fn unanswered_sessions_breach_on_time_and_the_queue_alarms_once_then_recovers_once() {
    let t = TestStack::start().await;
    let tap = t.stack.event_tap("EventBus").await.unwrap();
    let admin = t.admin_token().await;
    let agent_id = t.extension(&admin, "1000").await;
    let queue = t
        .queue_with(
            &admin,
            "Support",
            "manual",
            &[agent_id],
            json!({"sla_time": SLA_TIME_SECS, "evaluation_interval": 1, "alarm_threshold": 80,
                   "managers": [{"email": "lead@example.com"}, {"extension_id": agent_id}]}),
        )
        .await;
    let got = t.get("message_queue/get", &admin, &[("id", &queue.to_string())]).await;
    assert_eq!(got["data"]["sla_time"], SLA_TIME_SECS, "{got}");
    assert_eq!(got["data"]["evaluation_interval"], 1);
    assert_eq!(got["data"]["alarm_threshold"], 80);
    assert_eq!(got["data"]["managers"][0], json!({"email": "lead@example.com"}));
    assert_eq!(got["data"]["managers"][1]["extension_id"], agent_id);
    t.general_channel(&admin, 5, &[("+14102161183", "queue", queue)]).await;
    let agent = t.token("1000", AGENT_PASSWORD).await;

    // Both sessions enter the queue early in one minute (one evaluation window).
    if second_of_minute() > 25 {
        sleep_into_next_minute(1).await;
    }
    t.deliver("+8618012121222", "+14102161183", "anyone there?").await;
    t.deliver("+8618012121333", "+14102161183", "quick question").await;
    let waiting = t.wait_for_session(&agent, "1000", "+14102161183", "+8618012121222").await;
    let answered = t.wait_for_session(&agent, "1000", "+14102161183", "+8618012121333").await;
    let reply = t.send_text(&agent, EXTENSION, "1000", answered, "Hello, how can I help?").await;
    assert_eq!(reply["errcode"], 0, "{reply}");

    // The unanswered one breaches once, not before its sla_time; the answered one never.
    let mut events = tap.drain_until(1, Duration::from_secs(40)).await;
    let mut breaches = Vec::new();
    for _ in 0..40 {
        breaches = of_type(&events, "session.sla_breached").into_iter().cloned().collect::<Vec<_>>();
        if !breaches.is_empty() {
            break;
        }
        events.extend(tap.drain_until(1, Duration::from_secs(1)).await);
    }
    assert_eq!(breaches.len(), 1, "{events:?}");
    let breach = &breaches[0]["detail"];
    assert_eq!(breach["data"]["session_id"], waiting, "{breach}");
    assert_eq!(breach["data"]["queue_id"], queue);
    let entered = time_of(&breach["data"]["entered_queue_at"]);
    let occurred = time_of(&breach["occurred_at"]);
    assert!(occurred >= entered + SLA_TIME_SECS as f64, "breached at {occurred}, entered {entered}");
    tokio::time::sleep(Duration::from_secs(SLA_TIME_SECS)).await;
    events.extend(tap.drain().await);
    assert_eq!(of_type(&events, "session.sla_breached").len(), 1, "only the unanswered session breaches");

    // The window's figure: 1 of 2 in time = 50 % < 80 % → one alarm, one e-mail.
    sleep_into_next_minute(2).await;
    let report = t.stack.fire_schedule("QueueSlaFunction", "EveryMinute").await.unwrap();
    assert_eq!(report, json!({"queues": 1, "evaluated": 1, "notices": 1, "lost_races": 0}));
    let mails = t.sent_emails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["source"], SLA_MAIL_FROM);
    assert_eq!(mails[0]["destinations"]["ToAddresses"], json!(["lead@example.com"]), "the agent has no e-mail");
    assert_eq!(mails[0]["subject"], "SLA alarm: message queue \"Support\" at 50.00% (threshold 80%)");
    for _ in 0..15 {
        if !of_type(&events, "queue.sla_below_threshold").is_empty() {
            break;
        }
        events.extend(tap.drain_until(1, Duration::from_secs(1)).await);
    }
    let alarms = of_type(&events, "queue.sla_below_threshold");
    assert_eq!(alarms.len(), 1, "{events:?}");
    let alarm = alarms[0].clone();
    assert_eq!(alarm["detail"]["data"]["sla"], 50.0, "{alarm}");
    assert_eq!(alarm["detail"]["data"]["counted"], 2);

    // A retried (or overlapping) run in the same window changes nothing.
    let again = t.stack.fire_schedule("QueueSlaFunction", "EveryMinute").await.unwrap();
    assert_eq!(again["evaluated"], 0, "{again}");
    assert_eq!(t.sent_emails().await.len(), 1);

    // Next window: answered in time → 100 % → one recovery.
    t.deliver("+8618012121444", "+14102161183", "hi again").await;
    let third = t.wait_for_session(&agent, "1000", "+14102161183", "+8618012121444").await;
    let reply = t.send_text(&agent, EXTENSION, "1000", third, "Right here.").await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    sleep_into_next_minute(2).await;
    let report = t.stack.fire_schedule("QueueSlaFunction", "EveryMinute").await.unwrap();
    assert_eq!(report["notices"], 1, "{report}");
    let mails = t.sent_emails().await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_eq!(mails[1]["subject"], "SLA recovered: message queue \"Support\" at 100.00%");

    // The admin API shows the alarm state and the history, newest first.
    let sla = t.get("message_queue/sla", &admin, &[("id", &queue.to_string())]).await;
    assert_eq!(sla["errcode"], 0, "{sla}");
    assert_eq!(sla["data"]["alarm"], false, "{sla}");
    let history = sla["data"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{sla}");
    assert_eq!(history[0]["notice"], "recovery");
    assert_eq!(history[0]["sla"], 100.0);
    assert_eq!(history[1]["notice"], "alarm");
    assert_eq!(history[1]["sla"], 50.0);
    assert_eq!(history[1]["counted"], 2);

    let missing = t.get("message_queue/sla", &admin, &[("id", "999")]).await;
    assert_ne!(missing["errcode"], 0, "{missing}");
}

#[tokio::test]
async fn invalid_sla_settings_are_refused_field_by_field_and_create_nothing() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let reply = t
        .post(
            "message_queue/create",
            Some(&admin),
            &json!({"name": "Bad", "assignment_mode": "manual", "members": [], "sla_time": 0, "evaluation_interval": 2000,
                    "alarm_threshold": 101, "managers": [{"email": "not-an-address"}, {"extension_id": 4242}]}),
        )
        .await;
    assert_ne!(reply["errcode"], 0, "{reply}");
    let text = reply.to_string();
    for field in ["sla_time", "evaluation_interval", "alarm_threshold", "managers[0].email"] {
        assert!(text.contains(field), "{field} is named: {text}");
    }
    // A manager extension that does not exist is refused too.
    let reply = t
        .post(
            "message_queue/create",
            Some(&admin),
            &json!({"name": "Bad", "assignment_mode": "manual", "members": [], "managers": [{"extension_id": 4242}]}),
        )
        .await;
    assert_ne!(reply["errcode"], 0, "{reply}");
    assert!(reply.to_string().contains("managers[0].extension_id"), "{reply}");
    let list = t.get("message_queue/list", &admin, &[("page", "1"), ("page_size", "10")]).await;
    assert_eq!(list["total_number"], 0, "{list}");
}

fn time_of(v: &Value) -> f64 {
    let text = v.as_str().unwrap();
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    parsed.unix_timestamp_nanos() as f64 / 1e9
}
