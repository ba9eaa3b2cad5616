//! Message queues through the admin API: update (left-out fields kept, lists replaced), search and
//! query, and delete refused while a number routes to the queue or sessions wait in it.

use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, EXTENSION, TestStack};

async fn queue_detail(t: &TestStack, admin: &str, id: u64) -> Value {
    t.get("message_queue/get", admin, &[("id", &id.to_string())]).await
}

#[tokio::test]
async fn queues_are_updated_searched_and_deleted_only_when_nothing_needs_them() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let first = t.extension(&admin, "1000").await;
    let second = t.extension(&admin, "1001").await;
    let support = t
        .queue_with(&admin, "Support", "manual", &[first], json!({"sla_time": 30, "managers": [{"email": "a@b.co"}]}))
        .await;
    let sales = t.queue(&admin, "Sales desk", "auto", &[second]).await;

    // Update: members replaced, SLA threshold and mode changed, everything else kept.
    let reply = t
        .post(
            "message_queue/update",
            Some(&admin),
            &json!({"id": support, "members": [{"extension_id": first}, {"extension_id": second}],
                    "alarm_threshold": 90, "assignment_mode": "auto"}),
        )
        .await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let detail = queue_detail(&t, &admin, support).await["data"].clone();
    assert_eq!(detail["name"], "Support");
    assert_eq!(detail["assignment_mode"], "auto");
    assert_eq!(detail["members"].as_array().unwrap().len(), 2, "{detail}");
    assert_eq!((detail["sla_time"].clone(), detail["alarm_threshold"].clone()), (json!(30), json!(90)));
    assert_eq!(detail["managers"], json!([{"email": "a@b.co"}]));

    // A bad update names the field and changes nothing.
    let bad = t
        .post(
            "message_queue/update",
            Some(&admin),
            &json!({"id": support, "members": [{"extension_id": 4242}], "evaluation_interval": 0}),
        )
        .await;
    assert_ne!(bad["errcode"], 0, "{bad}");
    assert!(bad.to_string().contains("evaluation_interval"), "{bad}");
    assert_eq!(queue_detail(&t, &admin, support).await["data"], detail);
    let unknown = t.post("message_queue/update", Some(&admin), &json!({"id": 999, "name": "x"})).await;
    assert_eq!(unknown["errcode"], 60001, "{unknown}");

    // Search and query in Yeastar's shapes.
    let found =
        t.get("message_queue/search", &admin, &[("page", "1"), ("page_size", "10"), ("search_value", "DESK")]).await;
    assert_eq!(found["total_number"], 1, "{found}");
    assert_eq!(found["list"][0], json!({"id": sales, "name": "Sales desk"}));
    let both = t.get("message_queue/query", &admin, &[("ids", &format!("{support},{sales},999"))]).await;
    assert_eq!(both["list"].as_array().unwrap().len(), 2, "{both}");

    // A number routes to the queue: deleting it is refused, saying why.
    let (channel, _) = t.general_channel(&admin, 1, &[("+14102161183", "queue", support)]).await;
    let found = t
        .get(
            "message_channel/search",
            &admin,
            &[("page", "1"), ("page_size", "10"), ("time_range", "all"), ("search_value", "4102161183")],
        )
        .await;
    assert_eq!(found["total_number"], 1, "channels are found by number: {found}");
    assert_eq!(found["list"][0]["id"], channel);
    let refused = t.get("message_queue/delete", &admin, &[("id", &support.to_string())]).await;
    assert_eq!(refused["errcode"], 70084, "{refused}");
    assert!(refused.to_string().contains("+14102161183"), "{refused}");

    // A session waits in it: still refused after the number is routed elsewhere.
    t.deliver("+8618012121222", "+14102161183", "hello?").await;
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let waiting = t.wait_for_session(&agent, "1000", "+14102161183", "+8618012121222").await;
    let rerouted = t
        .post(
            "message_channel/update",
            Some(&admin),
            &json!({"id": channel, "dids": [{"did_number": "+14102161183", "destination_type": "extension",
                                             "destination_id": first.to_string()}]}),
        )
        .await;
    assert_eq!(rerouted["errcode"], 0, "{rerouted}");
    let refused = t.get("message_queue/delete", &admin, &[("id", &support.to_string())]).await;
    assert_eq!(refused["errcode"], 70084, "{refused}");
    assert!(refused.to_string().contains("waiting"), "{refused}");
    assert_eq!(queue_detail(&t, &admin, support).await["errcode"], 0, "nothing was deleted");

    // Once the session is closed, the docs' `message_queues/delete` spelling deletes it.
    let closed = t.close_session(&agent, Some((EXTENSION, "1000")), waiting).await;
    assert_eq!(closed["errcode"], 0, "{closed}");
    let deleted = t.get("message_queues/delete", &admin, &[("id", &support.to_string())]).await;
    assert_eq!(deleted["errcode"], 0, "{deleted}");
    assert_eq!(queue_detail(&t, &admin, support).await["errcode"], 60001);
    let list = t.get("message_queue/list", &admin, &[("page", "1"), ("page_size", "10")]).await;
    assert_eq!(list["total_number"], 1, "{list}");
}

#[tokio::test]
async fn the_plan_allows_sixteen_queues_by_default_and_refuses_the_seventeenth() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    for i in 0..16 {
        t.queue(&admin, &format!("Queue {i}"), "manual", &[]).await;
    }
    let refused = t
        .post(
            "message_queue/create",
            Some(&admin),
            &json!({"name": "One too many", "assignment_mode": "manual", "members": []}),
        )
        .await;
    assert_eq!(refused["errcode"], 70084, "{refused}");
    assert_eq!(refused["reason"], "queue_limit_reached");
    let list = t.get("message_queue/list", &admin, &[("page", "1"), ("page_size", "100")]).await;
    assert_eq!(list["total_number"], 16, "nothing was created: {list}");
}
