//! Routing by the number's rule (extension or queue), follow-ups joining the open session, and
//! simultaneous first messages of one customer opening exactly one session.

use std::time::Duration;

use sandbox_provider::InboundSpec;
use serde_json::Value;
use system_tests::{AGENT_PASSWORD, TestStack, eventually};

async fn sessions_of(t: &TestStack, token: &str, number: &str) -> Vec<Value> {
    let list =
        t.get("message_session/list", token, &[("page_size", "50"), ("user_type", "1"), ("user_no", number)]).await;
    assert_eq!(list["errcode"], 0, "{list}");
    list["list"].as_array().cloned().unwrap_or_default()
}

fn from(customer: &str, to: &str, text: &str) -> InboundSpec {
    InboundSpec { from: customer.into(), to: to.into(), text: Some(text.into()), ..InboundSpec::default() }
}

#[tokio::test]
async fn numbers_route_to_their_extension_or_queue_and_only_the_right_agents_see_them() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let owner = t.extension(&admin, "1000").await;
    let queue_agent = t.extension(&admin, "1001").await;
    t.extension(&admin, "1002").await;
    let queue = t.queue(&admin, "Tech Support", "manual", &[owner, queue_agent]).await;
    t.general_channel(&admin, 1, &[("+14102161183", "extension", owner), ("+14102161184", "queue", queue)]).await;

    assert_eq!(
        t.sandbox.deliver_inbound(from("+8618012121222", "+14102161183", "to the extension")).await.unwrap().status,
        204
    );
    assert_eq!(
        t.sandbox.deliver_inbound(from("+8618012121222", "+14102161184", "to the queue")).await.unwrap().status,
        204
    );

    let leo = t.token("1000", AGENT_PASSWORD).await;
    let mine = eventually(Duration::from_secs(15), "both sessions for 1000", || async {
        let s = sessions_of(&t, &leo, "1000").await;
        (s.len() == 2).then_some(s)
    })
    .await;
    let assigned = mine.iter().find(|s| s["did_number"] == "+14102161183").unwrap();
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(assigned["assignment"]["id"], owner);
    let queued = mine.iter().find(|s| s["did_number"] == "+14102161184").unwrap();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["assignment"]["type"], "queue");

    let queue_member = t.token("1001", AGENT_PASSWORD).await;
    let theirs = sessions_of(&t, &queue_member, "1001").await;
    assert_eq!(theirs.len(), 1, "the queue agent sees only the queued session");
    assert_eq!(theirs[0]["did_number"], "+14102161184");

    let outsider = t.token("1002", AGENT_PASSWORD).await;
    assert!(sessions_of(&t, &outsider, "1002").await.is_empty());
    // and cannot read it directly either
    let id = theirs[0]["id"].as_u64().unwrap().to_string();
    assert_eq!(t.get("message_session/get", &outsider, &[("id", &id)]).await["errcode"], 60001);
}

#[tokio::test]
async fn follow_ups_join_the_open_session_and_simultaneous_first_messages_open_one() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let owner = t.extension(&admin, "1000").await;
    t.general_channel(&admin, 1, &[("+14102161183", "extension", owner)]).await;

    // five first messages of one new customer, all at once
    let deliveries = futures::future::join_all(
        (0..5).map(|i| t.sandbox.deliver_inbound(from("+8618012121222", "+14102161183", &format!("part {i}")))),
    )
    .await;
    assert!(deliveries.iter().all(|d| d.as_ref().unwrap().status == 204));
    // then a follow-up
    assert_eq!(
        t.sandbox.deliver_inbound(from("+8618012121222", "+14102161183", "and one more")).await.unwrap().status,
        204
    );
    // another customer gets their own session
    assert_eq!(t.sandbox.deliver_inbound(from("+8618012121299", "+14102161183", "hi")).await.unwrap().status, 204);

    let leo = t.token("1000", AGENT_PASSWORD).await;
    let sessions = eventually(Duration::from_secs(20), "two sessions with all messages", || async {
        let s = sessions_of(&t, &leo, "1000").await;
        let first = s.iter().find(|x| x["to"]["user_no"] == "+8618012121222")?;
        (s.len() == 2 && first["unread_count"] == 6).then_some(s)
    })
    .await;
    let first = sessions.iter().find(|x| x["to"]["user_no"] == "+8618012121222").unwrap();
    let history =
        t.get("message/get", &leo, &[("id", &first["id"].as_u64().unwrap().to_string()), ("page_size", "50")]).await;
    assert_eq!(history["data"]["records"].as_array().unwrap().len(), 6);
    assert_eq!(t.items_with_prefix("ConversationTable", "OPEN#").await, 2, "one open-session lock per customer");
}
