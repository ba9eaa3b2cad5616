//! Schedules: fires `Schedule` (classic EventBridge rule) and `ScheduleV2` (EventBridge
//! Scheduler) events every period, first one period after start, with the payload each service
//! sends to a Lambda target.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::functions::Functions;
use crate::plan::{ScheduleBinding, ScheduleKind};
use crate::resolve::ACCOUNT_ID;

/// Formats `now` as RFC 3339 UTC with whole seconds (`2024-01-02T03:04:05Z`).
pub fn rfc3339_seconds(now: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// The name local schedules give their rule/schedule: `<stack>-<Function><Event>`.
pub fn rule_name(stack_name: &str, binding: &ScheduleBinding) -> String {
    format!("{stack_name}-{}{}", binding.function, binding.event_name)
}

/// The payload one firing of `binding` delivers.
pub fn schedule_event(binding: &ScheduleBinding, region: &str, stack_name: &str, now: time::OffsetDateTime) -> Value {
    let time = rfc3339_seconds(now);
    let name = rule_name(stack_name, binding);
    match binding.kind {
        ScheduleKind::Rule => match &binding.input {
            Some(input) => serde_json::from_str(input).unwrap_or_else(|_| json!(input)),
            None => json!({
                "version": "0",
                "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT_ID,
                "time": time,
                "region": region,
                "resources": [format!("arn:aws:events:{region}:{ACCOUNT_ID}:rule/{name}")],
                "detail": {},
            }),
        },
        ScheduleKind::Scheduler => match &binding.input {
            Some(input) => {
                let text = input
                    .replace("<aws.scheduler.scheduled-time>", &time)
                    .replace("<aws.scheduler.execution-id>", &uuid::Uuid::new_v4().to_string())
                    .replace(
                        "<aws.scheduler.schedule-arn>",
                        &format!("arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/default/{name}"),
                    )
                    .replace("<aws.scheduler.attempt-number>", "1");
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            None => json!({}),
        },
    }
}

/// Calls `fire` every `period`, the first time one period from now, until aborted.
pub async fn run_every<F, Fut>(period: Duration, mut fire: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let start = tokio::time::Instant::now() + period;
    let mut ticks = tokio::time::interval_at(start, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        fire().await;
    }
}

/// Starts firing `binding` into its function.
pub fn spawn_schedule(
    binding: ScheduleBinding,
    functions: Arc<Functions>,
    region: String,
    stack_name: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let period = binding.period;
        run_every(period, || {
            let event = schedule_event(&binding, &region, &stack_name, time::OffsetDateTime::now_utc());
            let functions = functions.clone();
            let function = binding.function.clone();
            let event_name = binding.event_name.clone();
            async move {
                match functions.invoke(&function, &event).await {
                    Ok(_) => tracing::info!(%function, %event_name, "schedule fired"),
                    Err(e) => {
                        tracing::warn!(%function, %event_name, error = %e, "scheduled invocation failed")
                    }
                }
            }
        })
        .await;
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn binding(kind: ScheduleKind, input: Option<&str>) -> ScheduleBinding {
        ScheduleBinding {
            function: "Fn".into(),
            event_name: "Every".into(),
            kind,
            expression: "rate(1 minute)".into(),
            period: Duration::from_secs(60),
            enabled: true,
            input: input.map(str::to_owned),
        }
    }

    #[test]
    fn when_a_rule_fires_without_input_should_send_the_scheduled_event() {
        let now = time::macros::datetime!(2024-05-06 07:08:09.5 UTC);
        let event = schedule_event(&binding(ScheduleKind::Rule, None), "eu-west-1", "st", now);
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        assert_eq!(event["account"], "000000000000");
        assert_eq!(event["time"], "2024-05-06T07:08:09Z");
        assert_eq!(event["region"], "eu-west-1");
        assert_eq!(event["resources"][0], "arn:aws:events:eu-west-1:000000000000:rule/st-FnEvery");
        assert_eq!(event["detail"], json!({}));
        let parsed: aws_lambda_events::eventbridge::EventBridgeEvent = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.source, "aws.events");
    }

    #[test]
    fn when_a_schedule_has_input_should_send_it_with_placeholders_replaced() {
        let now = time::macros::datetime!(2024-05-06 07:08:09 UTC);
        let rule = schedule_event(&binding(ScheduleKind::Rule, Some("{\"a\":1}")), "r", "st", now);
        assert_eq!(rule, json!({"a": 1}));
        let v2 = schedule_event(
            &binding(ScheduleKind::Scheduler, Some("{\"at\":\"<aws.scheduler.scheduled-time>\"}")),
            "r",
            "st",
            now,
        );
        assert_eq!(v2, json!({"at": "2024-05-06T07:08:09Z"}));
    }

    #[tokio::test]
    async fn when_running_every_period_should_fire_first_after_one_period_then_repeatedly() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let task = tokio::spawn(run_every(Duration::from_millis(200), move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(count.load(Ordering::SeqCst), 0, "fired before one period");
        tokio::time::sleep(Duration::from_millis(600)).await;
        task.abort();
        let fired = count.load(Ordering::SeqCst);
        assert!((2..=4).contains(&fired), "fired {fired} times in 700 ms");
    }
}
