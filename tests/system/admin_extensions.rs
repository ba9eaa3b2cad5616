//! Extensions through the admin API: update (left-out fields kept, a new password is the new
//! login, a taken number refused) and delete refused while a queue, a number or an open session
//! needs the extension; a deleted agent's token does not pass for a new extension with its number.

use serde_json::json;
use system_tests::{AGENT_PASSWORD, EXTENSION, TestStack};

#[tokio::test]
async fn extensions_are_updated_and_deleted_only_when_nothing_needs_them() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let agent_id = t.extension(&admin, "1000").await;
    let other = t.extension(&admin, "1001").await;

    // Update: e-mail and password change, the rest is kept; the new password is the login.
    let reply = t
        .post(
            "extension/update",
            Some(&admin),
            &json!({"id": agent_id, "email_addr": "leo@example.com", "user_password": "NewSecret99"}),
        )
        .await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let detail = t.get("extension/get", &admin, &[("id", &agent_id.to_string())]).await["data"].clone();
    assert_eq!(detail["email_addr"], "leo@example.com");
    assert_eq!(detail["number"], "1000");
    assert_eq!(detail["caller_id_name"], "Agent 1000");
    let old_login = t.post("get_token", None, &json!({"username": "1000", "password": AGENT_PASSWORD})).await;
    assert_ne!(old_login["errcode"], 0, "the old password no longer works: {old_login}");
    let agent = t.token("1000", "NewSecret99").await;

    // A taken number and a bad field are refused and change nothing.
    let taken = t.post("extension/update", Some(&admin), &json!({"id": agent_id, "number": "1001"})).await;
    assert_eq!(taken["errcode"], 40003, "{taken}");
    let bad = t.post("extension/update", Some(&admin), &json!({"id": agent_id, "email_addr": "nope"})).await;
    assert_ne!(bad["errcode"], 0, "{bad}");
    assert!(bad.to_string().contains("email_addr"), "{bad}");
    assert_eq!(t.get("extension/get", &admin, &[("id", &agent_id.to_string())]).await["data"], detail);

    // A queue needs it: refused; a number needs it: refused; an open session: refused.
    let queue = t.queue(&admin, "Support", "manual", &[agent_id]).await;
    let refused = t.get("extension/delete", &admin, &[("id", &agent_id.to_string())]).await;
    assert_eq!(refused["errcode"], 70084, "{refused}");
    assert!(refused.to_string().contains(&format!("message queue {queue}")), "{refused}");
    let emptied = t.post("message_queue/update", Some(&admin), &json!({"id": queue, "members": []})).await;
    assert_eq!(emptied["errcode"], 0, "{emptied}");
    let (channel, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", agent_id)]).await;
    let refused = t.get("extension/delete", &admin, &[("id", &agent_id.to_string())]).await;
    assert_eq!(refused["errcode"], 70084, "{refused}");
    assert!(refused.to_string().contains("+14102161183"), "{refused}");
    t.deliver("+8618012121222", "+14102161183", "hi").await;
    let session = t.wait_for_session(&agent, "1000", "+14102161183", "+8618012121222").await;
    let rerouted = t
        .post(
            "message_channel/update",
            Some(&admin),
            &json!({"id": channel, "dids": [{"did_number": "+14102161183", "destination_type": "extension",
                                             "destination_id": other.to_string()}]}),
        )
        .await;
    assert_eq!(rerouted["errcode"], 0, "{rerouted}");
    let refused = t.get("extension/delete", &admin, &[("id", &agent_id.to_string())]).await;
    assert_eq!(refused["errcode"], 70084, "{refused}");
    assert!(refused.to_string().contains("open sessions"), "{refused}");

    // Closed: deleted. Its number is free again, and its old token does not pass for the new owner.
    let closed = t.close_session(&agent, Some((EXTENSION, "1000")), session).await;
    assert_eq!(closed["errcode"], 0, "{closed}");
    let deleted = t.get("extension/delete", &admin, &[("id", &agent_id.to_string())]).await;
    assert_eq!(deleted["errcode"], 0, "{deleted}");
    assert_eq!(t.get("extension/get", &admin, &[("id", &agent_id.to_string())]).await["errcode"], 60001);
    let successor = t.extension(&admin, "1000").await;
    assert_ne!(successor, agent_id);
    let stale = t.list_sessions(&agent, EXTENSION, "1000", &[]).await;
    assert_ne!(stale["errcode"], 0, "a deleted agent's token acts for nobody: {stale}");
}
