//! Auto-close through the local stack: the scheduled function closes sessions silent for their
//! channel's `session_expired_time`, leaves active ones alone, and reads only the sessions due.

use std::time::Duration;

use adapters::dynamodb::items::{SessionItem, to_item};
use adapters::dynamodb::keys;
use adapters::dynamodb::{DynamoStore, Tables};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use domain::channel::{Destination, Provider};
use domain::ids::{ChannelId, ExtensionId, MessageId, SessionId};
use domain::phone::{BusinessNumber, CustomerAddress};
use domain::ports::InactiveSessions;
use domain::services::auto_close::PAGE_SIZE;
use domain::session::{LastMessage, Session, SessionKey};
use domain::time::Timestamp;
use serde_json::json;
use system_tests::{AGENT_PASSWORD, EXTENSION, TestStack};

const NUMBER: &str = "+14102161183";

fn now() -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc())
}

/// An auto-close channel (1 day) whose number routes to extension 1000; returns (channel, ext).
async fn auto_close_channel(t: &TestStack, admin: &str) -> (u64, u64) {
    let ext = t.extension(admin, "1000").await;
    let extra = json!({"auto_close_session": 1, "session_expired_time": 1});
    let (channel, _) = t.general_channel_with(admin, 10, &[(NUMBER, "extension", ext)], extra).await;
    (channel, ext)
}

/// Moves a session's last activity `age` into the past, as if nobody had written since.
async fn age_session(t: &TestStack, session: u64, age: Duration) {
    let at = now().minus(age);
    let (pk, sk) = keys::session(SessionId::new(session).unwrap());
    t.dynamodb
        .update_item()
        .table_name(t.stack.table_name("ConversationTable").unwrap())
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk))
        .update_expression("SET last_activity_at = :at, activity_sort = :sort")
        .expression_attribute_values(":at", AttributeValue::N(at.as_micros().to_string()))
        .expression_attribute_values(":sort", AttributeValue::S(keys::pad_time(at)))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_session_silent_past_the_channels_expiry_closes_automatically_and_an_active_one_stays_open() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    auto_close_channel(&t, &admin).await;
    let agent = t.token("1000", AGENT_PASSWORD).await;
    t.deliver("+8618012121222", NUMBER, "anyone there?").await;
    t.deliver("+8618012121333", NUMBER, "hello").await;
    let silent = t.wait_for_session(&agent, "1000", NUMBER, "+8618012121222").await;
    let active = t.wait_for_session(&agent, "1000", NUMBER, "+8618012121333").await;
    age_session(&t, silent, Duration::from_secs(86_400 + 60)).await;
    age_session(&t, active, Duration::from_secs(86_400 - 3600)).await;

    let report = t.stack.fire_schedule("AutoCloseFunction", "EveryMinute").await.unwrap();
    assert_eq!(report, json!({"channels": 1, "examined": 1, "closed": 1, "kept": 0}));
    let closed = t.session_get(&agent, silent).await;
    assert_eq!(closed["list"]["status"], "closed", "{closed}");
    let close = closed["list"]["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(close["operation"], "closed", "{closed}");
    assert_eq!(close["automatic"], true, "{closed}");
    assert_eq!(t.session_get(&agent, active).await["list"]["status"], "assigned");

    // an overlapping or retried run changes nothing more
    let again = t.stack.fire_schedule("AutoCloseFunction", "EveryMinute").await.unwrap();
    assert_eq!(again["closed"], 0, "{again}");
    // no more sending in the closed session; the customer's next message opens a new one
    let reply = t.send_text(&agent, EXTENSION, "1000", silent, "sorry for the wait").await;
    assert_ne!(reply["errcode"], 0, "{reply}");
    t.deliver("+8618012121222", NUMBER, "still there?").await;
    let next = t.wait_for_session(&agent, "1000", NUMBER, "+8618012121222").await;
    assert_ne!(next, silent);
}

/// 10,000 open sessions on an auto-close channel, 10 of them due: the query the job runs
/// (`InactiveSessions`, on the store the function uses) returns the 10 and reads nothing else.
/// The closing itself is shown through the function above: moto copies the whole table for every
/// transaction, so closing inside a 10,000-session table is too slow for the emulator, not for
/// DynamoDB.
#[tokio::test]
async fn auto_close_reads_on_the_order_of_the_sessions_due_not_of_the_sessions_open() {
    const OPEN: u64 = 10_000;
    const DUE: u64 = 10;
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let (channel, ext) = auto_close_channel(&t, &admin).await;
    let table = t.stack.table_name("ConversationTable").unwrap();
    let recent = now().minus(Duration::from_secs(3600));
    let old = now().minus(Duration::from_secs(2 * 86_400));
    let mut requests = Vec::new();
    for i in 0..OPEN {
        let at = if i < DUE { old.plus(Duration::from_secs(i)) } else { recent };
        let key = SessionKey {
            channel_id: ChannelId::new(channel).unwrap(),
            business_number: BusinessNumber::parse(NUMBER).unwrap(),
            customer: CustomerAddress::parse(&format!("+1555{i:07}")).unwrap(),
        };
        let first = LastMessage::new(MessageId::new(1_000_000 + i).unwrap(), Some("hi"), true, at);
        let session = Session::open_from_inbound(
            SessionId::new(1_000_000 + i).unwrap(),
            key,
            Provider::General,
            Destination::Extension(ExtensionId::new(ext).unwrap()),
            first,
            None,
        );
        let item = to_item("session", &SessionItem::from_domain(&session)).unwrap();
        requests.push(
            WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build(),
        );
    }
    for batch in requests.chunks(25) {
        let mut pending = batch.to_vec();
        while !pending.is_empty() {
            let out = t.dynamodb.batch_write_item().request_items(&table, pending).send().await.unwrap();
            pending = out.unprocessed_items.and_then(|mut u| u.remove(&table)).unwrap_or_default();
        }
    }

    let store = DynamoStore::new(t.dynamodb.clone(), Tables { conversation: table.clone(), ..Tables::default() });
    let cutoff = now().minus(Duration::from_secs(86_400));
    let due = store.inactive_sessions(ChannelId::new(channel).unwrap(), cutoff, PAGE_SIZE).await.unwrap();
    let ids: Vec<u64> = due.iter().map(|s| s.id.get()).collect();
    assert_eq!(
        ids,
        (1_000_000..1_000_000 + DUE).collect::<Vec<_>>(),
        "exactly the due sessions, least recently active first"
    );
    // the same query as the store issues it: DynamoDB evaluated (read) only those items
    let raw = t
        .dynamodb
        .query()
        .table_name(&table)
        .index_name("InactivityIndex")
        .key_condition_expression("open_channel = :c AND activity_sort <= :cutoff")
        .expression_attribute_values(":c", AttributeValue::S(keys::open_channel(ChannelId::new(channel).unwrap())))
        .expression_attribute_values(":cutoff", AttributeValue::S(keys::pad_time(cutoff)))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.scanned_count(), DUE as i32);
}
