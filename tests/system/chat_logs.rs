//! External chat logs through the HTTP routes (`chat_log/*`): search by each filter with paging
//! and order, the operation timeline, the chat history paged, deleting messages (a system message
//! refused) and sessions (an open one refused), the streamed zip export downloaded through its
//! link, and agent tokens refused.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapters::dynamodb::items::{MessageItem, to_item};
use domain::chat_log::{CHAT_DATA_RECORD_HEADER, SESSION_RECORD_HEADER};
use domain::ids::{ChannelId, MessageId, SessionId};
use domain::message::{DeliveryState, Direction, Message, Origin, Sender};
use domain::time::Timestamp;
use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, EXTENSION, SETTLE, TestStack, eventually};

/// Routes to the manual queue (agent 1000).
const QUEUED: &str = "+14102161183";
/// Routes to extension 1001.
const DIRECT: &str = "+14102161184";
const ALICE: &str = "+15005550101";
const BOB: &str = "+15005550102";

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

async fn search(t: &TestStack, token: &str, query: &[(&str, &str)]) -> Value {
    let reply = t.get("chat_log/search", token, query).await;
    assert_eq!(reply["errcode"], 0, "chat_log/search {query:?}: {reply}");
    reply
}

async fn search_ids(t: &TestStack, token: &str, query: &[(&str, &str)]) -> Vec<u64> {
    let reply = search(t, token, query).await;
    reply["list"].as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect()
}

fn csv_rows(zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<String>> {
    let mut text = String::new();
    zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// Requests an export with `filter`, waits until it is done and downloads the zip.
async fn export(t: &TestStack, admin: &str, filter: Value) -> (Value, zip::ZipArchive<std::io::Cursor<Vec<u8>>>) {
    let reply = t.post("chat_log/export", Some(admin), &filter).await;
    assert_eq!(reply["errcode"], 0, "chat_log/export: {reply}");
    let id = reply["id"].as_str().unwrap().to_owned();
    let status = eventually(Duration::from_secs(60), "the export to finish", || async {
        let status = t.get("chat_log/export_status", admin, &[("id", &id)]).await;
        assert_eq!(status["errcode"], 0, "{status}");
        assert_ne!(status["state"], "failed", "{status}");
        (status["state"] == "done").then_some(status)
    })
    .await;
    let url = status["download_url"].as_str().unwrap();
    let response = t.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "download {url}");
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(status["size"].as_u64(), Some(bytes.len() as u64));
    (status, zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap())
}

#[tokio::test]
async fn chat_logs_search_show_delete_and_export_sessions() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let a = t.extension(&admin, "1000").await;
    let b = t.extension(&admin, "1001").await;
    let queue = t.queue(&admin, "Tech Support", "manual", &[a]).await;
    t.general_channel(&admin, 10, &[(QUEUED, "queue", queue), (DIRECT, "extension", b)]).await;
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let started = now_secs();

    // Alice writes to the queue; agent 1000 picks her session up, replies and closes it.
    t.deliver(ALICE, QUEUED, "hello queue").await;
    let alice = eventually(SETTLE, "Alice's session in the chat log", || async {
        search_ids(&t, &admin, &[("sender", ALICE)]).await.first().copied()
    })
    .await;
    assert_eq!(t.pickup(&agent, "1000", alice).await["errcode"], 0);
    let reply = t.send_text(&agent, EXTENSION, "1000", alice, "agent reply").await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let reply_id = reply["msg_id"].as_u64().unwrap();
    t.wait_sent("agent reply").await;
    let closed = t.close_session(&agent, Some((EXTENSION, "1000")), alice).await;
    assert_eq!(closed["errcode"], 0, "{closed}");
    // Bob writes to extension 1001's number; his session stays open.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.deliver(BOB, DIRECT, "hello direct").await;
    let bob = eventually(SETTLE, "Bob's session in the chat log", || async {
        search_ids(&t, &admin, &[("sender", BOB)]).await.first().copied()
    })
    .await;

    // ---- search, by each filter
    let all = search(&t, &admin, &[]).await;
    assert_eq!(all["total_number"], 2, "{all}");
    assert_eq!(search_ids(&t, &admin, &[]).await, vec![bob, alice], "newest first");
    let alice_row = &all["list"][1];
    assert_eq!(alice_row["sender"], ALICE);
    assert_eq!(alice_row["recipient"], "Agent 1000<1000>", "handled by whoever picked it up");
    assert_eq!((alice_row["channel_type"].as_str(), alice_row["channel_number"].as_str()), (Some("sms"), Some(QUEUED)));
    assert_eq!(alice_row["status"], "closed");
    assert!(alice_row["close_time"].as_i64().is_some());
    assert_eq!(search_ids(&t, &admin, &[("order_by", "asc")]).await, vec![alice, bob]);
    assert_eq!(search_ids(&t, &admin, &[("order_by", "asc"), ("page", "2"), ("page_size", "1")]).await, vec![bob]);
    let paged = search(&t, &admin, &[("page", "2"), ("page_size", "1"), ("sort_by", "create_time")]).await;
    assert_eq!((paged["total_number"].as_u64(), paged["list"][0]["id"].as_u64()), (Some(2), Some(alice)));
    assert_eq!(search_ids(&t, &admin, &[("recipient", "1001")]).await, vec![bob]);
    assert_eq!(search_ids(&t, &admin, &[("recipient", "agent 1000")]).await, vec![alice], "case-insensitive");
    assert_eq!(search_ids(&t, &admin, &[("channel_type", "sms")]).await.len(), 2);
    assert!(search_ids(&t, &admin, &[("channel_type", "whatsapp")]).await.is_empty());
    assert_eq!(search_ids(&t, &admin, &[("channel_number", DIRECT)]).await, vec![bob]);
    assert_eq!(search_ids(&t, &admin, &[("status", "closed")]).await, vec![alice]);
    assert_eq!(search_ids(&t, &admin, &[("status", "open")]).await, vec![bob]);
    assert_eq!(search_ids(&t, &admin, &[("session_id", &alice.to_string())]).await, vec![alice]);
    let (from, to) = ((started - 60).to_string(), (now_secs() + 60).to_string());
    assert_eq!(search_ids(&t, &admin, &[("start_time", &from), ("end_time", &to)]).await.len(), 2);
    let later = (now_secs() + 3600).to_string();
    assert!(search_ids(&t, &admin, &[("start_time", &later)]).await.is_empty());
    let before = (started - 3600).to_string();
    assert!(search_ids(&t, &admin, &[("end_time", &before)]).await.is_empty());
    let bad = t.get("chat_log/search", &admin, &[("channel_type", "telegram"), ("order_by", "up")]).await;
    assert_eq!(bad["errcode"], 40002, "{bad}");

    // ---- timeline: created (routed to the queue), picked up, closed, with who
    let timeline = t.get("chat_log/timeline", &admin, &[("id", &alice.to_string())]).await;
    assert_eq!(timeline["errcode"], 0, "{timeline}");
    let ops: Vec<&str> =
        timeline["list"].as_array().unwrap().iter().map(|e| e["operation"].as_str().unwrap()).collect();
    assert_eq!(ops, ["created", "picked_up", "closed"], "{timeline}");
    assert_eq!(timeline["list"][0]["to"]["name"], "Tech Support");
    assert_eq!(timeline["list"][1]["by"]["name"], "Agent 1000<1000>");
    assert_eq!(timeline["list"][1]["from"]["name"], "Tech Support");
    assert_eq!(timeline["list"][2]["by"]["name"], "Agent 1000<1000>");
    assert_eq!(timeline["list"][2]["automatic"], false);
    assert!(timeline["list"][2]["description"].as_str().unwrap().contains("closed the session"));

    // ---- messages, paged oldest first
    let page = |n: &'static str| {
        let t = &t;
        let admin = &admin;
        async move {
            t.get("chat_log/messages", admin, &[("id", &alice.to_string()), ("page", n), ("page_size", "1")]).await
        }
    };
    let first = page("1").await;
    assert_eq!((first["errcode"].as_i64(), first["total_number"].as_u64()), (Some(0), Some(2)), "{first}");
    assert_eq!(first["list"][0]["msg_body"], "hello queue");
    assert_eq!(first["list"][0]["sender_type"], "customer");
    let second = page("2").await;
    assert_eq!(second["list"][0]["msg_body"], "agent reply");
    assert_eq!(second["list"][0]["sender_name"], "Agent 1000<1000>");
    assert!(page("3").await["list"].as_array().unwrap().is_empty());

    // ---- deleting messages: the system's refused, the agent's deleted
    // No feature of the product writes a system message yet (auto-replies are not built), so the
    // test stores one as the system would.
    let system_id = reply_id + 1000;
    let system = Message {
        session_id: SessionId::new(alice).unwrap(),
        msg_id: MessageId::new(system_id).unwrap(),
        channel_id: ChannelId::new(1).unwrap(),
        direction: Direction::Outbound,
        sender: Sender::System,
        origin: Origin::Api,
        text: Some("Thanks for your message; an agent will answer shortly.".into()),
        media: Vec::new(),
        created_at: Timestamp::from_unix_seconds(now_secs()),
        delivery: DeliveryState::Sent {
            provider_message_id: "auto-1".into(),
            at: Timestamp::from_unix_seconds(now_secs()),
        },
        attempts: 1,
        provider_message_id: None,
        events_published: true,
        receipt: None,
        template: None,
    };
    let item = to_item("message", &MessageItem::from_domain(&system, None)).unwrap();
    let table = t.stack.table_name("ConversationTable").unwrap();
    t.dynamodb.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    let listed = t.get("chat_log/messages", &admin, &[("id", &alice.to_string())]).await;
    assert_eq!(listed["total_number"], 3);
    assert_eq!(listed["list"][2]["system"], true);

    let refused = t
        .post("chat_log/delete_messages", Some(&admin), &json!({"session_id": alice, "ids": [reply_id, system_id]}))
        .await;
    assert_eq!(
        (refused["errcode"].as_i64(), refused["reason"].as_str()),
        (Some(70084), Some("system_message")),
        "{refused}"
    );
    assert_eq!(
        t.get("chat_log/messages", &admin, &[("id", &alice.to_string())]).await["total_number"],
        3,
        "nothing deleted"
    );
    let missing =
        t.post("chat_log/delete_messages", Some(&admin), &json!({"session_id": alice, "ids": [999_999]})).await;
    assert_eq!(missing["errcode"], 60001, "{missing}");
    let deleted =
        t.post("chat_log/delete_messages", Some(&admin), &json!({"session_id": alice, "ids": [reply_id]})).await;
    assert_eq!((deleted["errcode"].as_i64(), deleted["deleted"].as_u64()), (Some(0), Some(1)), "{deleted}");
    let left = t.get("chat_log/messages", &admin, &[("id", &alice.to_string())]).await;
    let bodies: Vec<&str> = left["list"].as_array().unwrap().iter().map(|m| m["msg_body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hello queue", "Thanks for your message; an agent will answer shortly."]);

    // ---- export everything, then only the closed sessions
    let (status, mut zip) = export(&t, &admin, json!({})).await;
    assert_eq!((status["sessions_done"].as_u64(), status["messages_done"].as_u64()), (Some(2), Some(3)), "{status}");
    let sessions = csv_rows(&mut zip, "Session_Record.csv");
    assert_eq!(sessions[0], SESSION_RECORD_HEADER.map(str::to_owned).to_vec());
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let row = |id: u64| sessions.iter().find(|r| r[0] == id.to_string()).unwrap().clone();
    let (alice_csv, bob_csv) = (row(alice), row(bob));
    assert_eq!((alice_csv[3].as_str(), alice_csv[7].as_str(), alice_csv[10].as_str()), (ALICE, QUEUED, "closed"));
    assert_eq!(
        (alice_csv[12].as_str(), alice_csv[13].as_str(), alice_csv[15].as_str()),
        ("Agent 1000<1000>", "manual", "2")
    );
    assert_eq!((bob_csv[4].as_str(), bob_csv[10].as_str(), bob_csv[15].as_str()), ("Agent 1001<1001>", "open", "1"));
    let messages = csv_rows(&mut zip, "Chat_Data_Record.csv");
    assert_eq!(messages[0], CHAT_DATA_RECORD_HEADER.map(str::to_owned).to_vec());
    let texts: Vec<(&str, &str, &str)> =
        messages[1..].iter().map(|r| (r[0].as_str(), r[4].as_str(), r[8].as_str())).collect();
    let (alice_s, bob_s) = (alice.to_string(), bob.to_string());
    assert_eq!(
        texts,
        [
            (bob_s.as_str(), "customer", "hello direct"),
            (alice_s.as_str(), "customer", "hello queue"),
            (alice_s.as_str(), "system", "Thanks for your message; an agent will answer shortly."),
        ]
    );

    let (status, mut zip) = export(&t, &admin, json!({"status": "closed"})).await;
    assert_eq!(status["sessions_total"], 1);
    assert_eq!(csv_rows(&mut zip, "Session_Record.csv").len(), 2);
    assert_eq!(csv_rows(&mut zip, "Chat_Data_Record.csv").len(), 3);
    let unknown = t.get("chat_log/export_status", &admin, &[("id", &"0".repeat(32))]).await;
    assert_eq!(unknown["errcode"], 60001);

    // ---- agents are refused every chat-log call
    for (path, query) in [("chat_log/search", vec![]), ("chat_log/timeline", vec![("id", alice.to_string())])] {
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(t.get(path, &agent, &query).await["errcode"], 10005, "{path}");
    }
    let as_agent = t.post("chat_log/delete", Some(&agent), &json!({"ids": [alice]})).await;
    assert_eq!(as_agent["errcode"], 10005);
    assert_eq!(t.post("chat_log/export", Some(&agent), &json!({})).await["errcode"], 10005);

    // ---- deleting sessions: an open one refuses the request, a closed one goes with its history
    let open = t.post("chat_log/delete", Some(&admin), &json!({"ids": [alice, bob]})).await;
    assert_eq!((open["errcode"].as_i64(), open["reason"].as_str()), (Some(70084), Some("session_open")), "{open}");
    assert_eq!(search(&t, &admin, &[]).await["total_number"], 2, "nothing deleted");
    let gone = t.post("chat_log/delete", Some(&admin), &json!({"ids": [alice]})).await;
    assert_eq!((gone["errcode"].as_i64(), gone["deleted"].as_u64()), (Some(0), Some(1)), "{gone}");
    assert_eq!(search_ids(&t, &admin, &[]).await, vec![bob]);
    assert_eq!(t.get("chat_log/timeline", &admin, &[("id", &alice.to_string())]).await["errcode"], 60001);
    assert_eq!(
        t.items_with_prefix("ConversationTable", &format!("SESSION#{alice}")).await,
        0,
        "its messages and timeline too"
    );
    let again = t.post("chat_log/delete", Some(&admin), &json!({"ids": [alice]})).await;
    assert_eq!(again["errcode"], 60001);
}
