//! Stored work whose queue message was lost is handed on by the scheduled reconciler.

use std::time::Duration;

use adapters::dynamodb::{DynamoStore, Tables};
use adapters::memory::fixtures::pending_inbound;
use domain::ports::Inbox;
use domain::time::Timestamp;
use system_tests::{AGENT_PASSWORD, TestStack, eventually};

#[tokio::test]
async fn a_stored_message_that_never_reached_the_router_is_routed_after_the_schedule_fires() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (channel_id, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", ext)]).await;

    // A delivery stored two minutes ago whose queue message was lost (SQS was unreachable).
    let store = DynamoStore::new(
        t.dynamodb.clone(),
        Tables { conversation: t.stack.table_name("ConversationTable").unwrap(), ..Tables::default() },
    );
    let accepted = Timestamp::from_datetime(time::OffsetDateTime::now_utc()).minus(Duration::from_secs(120));
    let record = pending_inbound("lost-1", "+8618012121222", "+14102161183", "did anyone get this?", accepted);
    assert_eq!(record.key.channel_id.get(), channel_id);
    store.insert_pending(&record).await.unwrap();

    let report = t.stack.fire_schedule("OutboxReconcilerFunction", "EveryMinute").await.unwrap();
    assert_eq!(report["handed_on"], 1, "{report}");

    let agent = t.token("1000", AGENT_PASSWORD).await;
    let session = eventually(Duration::from_secs(15), "the recovered message in a session", || async {
        let list =
            t.get("message_session/list", &agent, &[("page_size", "5"), ("user_type", "1"), ("user_no", "1000")]).await;
        list["list"].as_array().and_then(|l| l.first()).cloned()
    })
    .await;
    assert_eq!(session["last_msg"]["preview"], "did anyone get this?");

    // once routed and announced it leaves the outbox: a later run finds nothing
    eventually(Duration::from_secs(10), "the outbox to be empty", || async {
        let r = t.stack.fire_schedule("OutboxReconcilerFunction", "EveryMinute").await.unwrap();
        (r["due"] == 0).then_some(())
    })
    .await;
}
