//! The token lifecycle through the routes and DynamoDB: `get_token`, `refresh_token` (a refresh
//! token works once), `del_token` (a revoked token is refused everywhere), and the block of an
//! address after five failed logins in a row.

use serde_json::json;
use system_tests::{ADMIN_ID, ADMIN_SECRET, AGENT_PASSWORD, EXTENSION, TestStack};

#[tokio::test]
async fn tokens_refresh_once_and_a_revoked_token_is_refused() {
    let t = TestStack::start().await;
    let issued = t.post("get_token", None, &json!({"username": ADMIN_ID, "password": ADMIN_SECRET})).await;
    assert_eq!(issued["errcode"], 0, "{issued}");
    let refresh = json!({"refresh_token": issued["refresh_token"]});
    let renewed = t.post("refresh_token", None, &refresh).await;
    assert_eq!(renewed["errcode"], 0, "{renewed}");
    assert_eq!(renewed["access_token_expire_time"], 1800);
    let replay = t.post("refresh_token", None, &refresh).await;
    assert_eq!(replay["errcode"], 10004, "{replay}");
    let admin = renewed["access_token"].as_str().unwrap().to_owned();
    t.extension(&admin, "1000").await;

    // An agent revokes its token: every later call with it is refused.
    let agent = t.token("1000", AGENT_PASSWORD).await;
    assert_eq!(t.list_sessions(&agent, EXTENSION, "1000", &[]).await["errcode"], 0);
    let revoked = t.get("del_token", &agent, &[]).await;
    assert_eq!(revoked["errcode"], 0, "{revoked}");
    assert_eq!(t.list_sessions(&agent, EXTENSION, "1000", &[]).await["errcode"], 10004);
    assert_eq!(t.get("del_token", &agent, &[]).await["errcode"], 10004);

    // Five failed logins in a row from this address: refused for a quarter hour, even when right.
    for _ in 0..5 {
        let wrong = t.post("get_token", None, &json!({"username": "1000", "password": "wrong-pass-1"})).await;
        assert_eq!(wrong["errcode"], -1, "{wrong}");
    }
    let blocked = t.post("get_token", None, &json!({"username": "1000", "password": AGENT_PASSWORD})).await;
    assert_eq!(blocked["errcode"], 10005, "{blocked}");
    assert_eq!(blocked["reason"], "auth_blocked");
    // Tokens already held keep working.
    assert_eq!(t.get("extension/list", &admin, &[]).await["errcode"], 0);
}
