//! Message campaigns through the local stack (issue 7): SMS campaigns in both send modes with
//! every recipient's outcome (sent, failed, opted out) and a retry; a WhatsApp template campaign
//! from an uploaded CSV; refusals that store nothing; a crash-injection run (the worker is killed
//! mid-batch and its job redelivered) in which every recipient gets exactly one message; and
//! pacing beside agent replies.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::pacing::max_calls_in_any_second;
use domain::time::Timestamp;
use sandbox_provider::ScriptedResponse;
use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, Conversation, EXTENSION, Options, TestStack, eventually};

const NUMBER: &str = "+14102161183";

fn options(slice_seconds: u32, visibility_seconds: u32) -> Options {
    let mut o = Options::default();
    o.parameters.push(("CampaignSliceSeconds", slice_seconds.to_string()));
    o.parameters.push(("CampaignQueueVisibilitySeconds", visibility_seconds.to_string()));
    o
}

fn customers(count: usize, base: u64) -> Vec<String> {
    (0..count as u64).map(|i| format!("+1555{:07}", base + i)).collect()
}

async fn create(t: &TestStack, admin: &str, body: Value) -> u64 {
    let reply = t.post("message_campaign/create", Some(admin), &body).await;
    assert_eq!(reply["errcode"], 0, "message_campaign/create: {reply}");
    reply["id"].as_u64().unwrap()
}

async fn campaign(t: &TestStack, admin: &str, id: u64) -> Value {
    let reply = t.get("message_campaign/get", admin, &[("id", &id.to_string())]).await;
    assert_eq!(reply["errcode"], 0, "message_campaign/get: {reply}");
    reply["data"].clone()
}

async fn wait_status(t: &TestStack, admin: &str, id: u64, status: &str, timeout: Duration) -> Value {
    eventually_or_dump(t, timeout, &format!("campaign {id} to be {status}"), || async {
        let c = campaign(t, admin, id).await;
        (c["status"] == status).then_some(c)
    })
    .await
}

async fn eventually_or_dump<T, F, Fut>(t: &TestStack, timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            t.dump_logs();
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn recipients(t: &TestStack, admin: &str, id: u64, extra: &[(&str, &str)]) -> Value {
    let id = id.to_string();
    let mut query = vec![("id", id.as_str()), ("page_size", "1000")];
    query.extend_from_slice(extra);
    let reply = t.get("message_campaign/recipients", admin, &query).await;
    assert_eq!(reply["errcode"], 0, "message_campaign/recipients: {reply}");
    reply
}

/// How many provider calls each number received, by the sandbox's record.
fn sends_by_number(t: &TestStack) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for s in t.sandbox.sent() {
        if let Some(to) = s.body["to"].as_str() {
            *counts.entry(to.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn sms_campaign(channel: u64, name: &str, numbers: &[String], mode: Value) -> Value {
    let mut body = json!({
        "name": name, "channel_type": "sms", "omnichannel_id": channel, "sender": NUMBER,
        "recipient_type": "input", "number_list": numbers,
        "content_type": "text", "content": format!("{name}: 20% off today 🎉"), "send_type": "immediately",
    });
    if let (Some(b), Some(m)) = (body.as_object_mut(), mode.as_object()) {
        b.extend(m.clone());
    }
    body
}

#[tokio::test]
async fn sms_campaigns_run_to_completed_in_both_modes_with_every_outcome_and_a_retry() {
    let t = TestStack::start_with(options(5, 30)).await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let queue = t.queue(&admin, "Promotions", "manual", &[ext]).await;
    let (channel, _) = t.general_channel(&admin, 10, &[(NUMBER, "extension", ext)]).await;
    let agent = t.token("1000", AGENT_PASSWORD).await;

    // One customer opted out earlier with STOP (their message routes as usual).
    let list = customers(6, 100);
    t.deliver(&list[5], NUMBER, "STOP").await;
    t.wait_for_session(&agent, "1000", NUMBER, &list[5]).await;
    let sends_before = t.sandbox.sent().len();

    // "Send directly": the first provider call fails for good, the opted-out one is skipped.
    t.sandbox.script_send_responses([ScriptedResponse::Status { status: 404, body: None, retry_after: None }]);
    let direct = create(&t, &admin, sms_campaign(channel, "Direct", &list, json!({"send_mode": "direct"}))).await;
    let done = wait_status(&t, &admin, direct, "completed", Duration::from_secs(60)).await;
    assert_eq!((done["total"].clone(), done["sent"].clone()), (json!(6), json!(4)), "{done}");
    assert_eq!((done["failed"].clone(), done["opted_out"].clone()), (json!(1), json!(1)), "{done}");
    assert_eq!(done["result"], "2/6", "failed (and skipped) of total: {done}");
    assert_eq!(done["response_rate"], 0);
    let counts = sends_by_number(&t);
    assert_eq!(t.sandbox.sent().len() - sends_before, 5, "one provider call per recipient not opted out");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert!(!counts.contains_key(&list[5]), "the opted-out recipient got nothing");
    let rows = recipients(&t, &admin, direct, &[("result", "failed")]).await;
    let failed: Vec<&Value> = rows["data"].as_array().unwrap().iter().collect();
    assert_eq!(failed.len(), 2, "{rows}");
    assert!(failed.iter().any(|r| r["state"] == "opted_out" && r["number"] == list[5].as_str()), "{rows}");
    assert!(failed.iter().any(|r| r["state"] == "failed" && r["failed_reason"].is_string()), "{rows}");

    // Direct messages are in no list and no chat log; a reply routes as usual and counts.
    let sessions = t.list_sessions(&agent, EXTENSION, "1000", &[]).await;
    assert_eq!(sessions["list"].as_array().unwrap().len(), 1, "only the STOP customer's session: {sessions}");
    let sent_to = rows_with_state(&recipients(&t, &admin, direct, &[]).await, "sent");
    t.deliver(&sent_to[0], NUMBER, "Is this still on?").await;
    t.wait_for_session(&agent, "1000", NUMBER, &sent_to[0]).await;
    let after_reply = eventually(Duration::from_secs(20), "the reply to count", || async {
        let c = campaign(&t, &admin, direct).await;
        (c["replied"] == 1).then_some(c)
    })
    .await;
    assert_eq!(after_reply["response_rate"], 25, "1 of 4 sent replied: {after_reply}");

    // Retry sends to the failed recipient only.
    let retry = t.get("message_campaign/retry", &admin, &[("id", &direct.to_string())]).await;
    assert_eq!(retry["errcode"], 0, "{retry}");
    let again = wait_status(&t, &admin, direct, "completed", Duration::from_secs(60)).await;
    assert_eq!((again["sent"].clone(), again["failed"].clone()), (json!(5), json!(0)), "{again}");
    assert_eq!(t.sandbox.sent().len() - sends_before, 6, "the retry called the provider once more");
    assert!(sends_by_number(&t).values().all(|n| *n <= 2));
    let nothing = t.get("message_campaign/retry", &admin, &[("id", &direct.to_string())]).await;
    assert_eq!(nothing["errcode"], 70084, "nothing left to retry: {nothing}");

    // "Create session" into a queue: new sessions wait in the queue (Campaign Group); a customer
    // with an open session gets the message in it.
    let with_session = list[5].clone(); // opted out: skipped, session untouched
    let fresh = customers(2, 200);
    let mut numbers = fresh.clone();
    numbers.push(sent_to[0].clone()); // has an open session with the agent (their reply)
    numbers.push(with_session);
    let mode = json!({"send_mode": "new_session", "assign_to_type": "queue", "assign_to_id": queue});
    let sessions_mode = create(&t, &admin, sms_campaign(channel, "Sessions", &numbers, mode)).await;
    let done = wait_status(&t, &admin, sessions_mode, "completed", Duration::from_secs(60)).await;
    assert_eq!((done["sent"].clone(), done["opted_out"].clone()), (json!(3), json!(1)), "{done}");
    let queued = t.list_sessions(&agent, EXTENSION, "1000", &[("collection", "campaign")]).await;
    let campaign_customers: Vec<&str> =
        queued["list"].as_array().unwrap().iter().filter_map(|s| s["customer_number"].as_str()).collect();
    assert_eq!(queued["list"].as_array().unwrap().len(), 2, "two campaign sessions in the queue: {queued}");
    let first = queued["list"][0]["id"].as_u64().unwrap();
    let timeline = t.session_get(&agent, first).await;
    assert!(timeline.to_string().contains("campaign_started"), "{timeline}");
    let existing = t.wait_for_session(&agent, "1000", NUMBER, &sent_to[0]).await;
    let history = t.history(&agent, existing).await;
    assert!(
        history.iter().any(|m| m["msg_body"].as_str().is_some_and(|b| b.starts_with("Sessions:"))),
        "the open session took the campaign message: {history:?} ({campaign_customers:?})"
    );

    // Listing and searching.
    let listed = t.get("message_campaign/list", &admin, &[("page", "1"), ("page_size", "10")]).await;
    assert_eq!(listed["total_number"], 2, "{listed}");
    let searched = t.get("message_campaign/search", &admin, &[("search_value", "sess")]).await;
    assert_eq!(searched["data"][0]["id"], sessions_mode, "{searched}");
    let both = t.get("message_campaign/query", &admin, &[("ids", &format!("{direct},{sessions_mode}"))]).await;
    assert_eq!(both["list"].as_array().unwrap().len(), 2, "{both}");

    // A finished campaign is deleted with its recipients.
    let deleted = t.get("message_campaign/delete", &admin, &[("id", &direct.to_string())]).await;
    assert_eq!(deleted["errcode"], 0, "{deleted}");
    let gone = t.get("message_campaign/get", &admin, &[("id", &direct.to_string())]).await;
    assert_eq!(gone["errcode"], 60001, "{gone}");
}

fn rows_with_state(rows: &Value, state: &str) -> Vec<String> {
    rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == state)
        .map(|r| r["number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_problem_and_store_nothing() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (channel, _) = t.general_channel(&admin, 10, &[(NUMBER, "extension", ext)]).await;
    let good = sms_campaign(channel, "Good", &customers(2, 300), json!({"send_mode": "direct", "send_type": "draft"}));

    let mut bad_numbers = good.clone();
    bad_numbers["number_list"] = json!(["+12025550101", "12025550102", "+1202555010x"]);
    let r = t.post("message_campaign/create", Some(&admin), &bad_numbers).await;
    assert_eq!(r["errcode"], 40002, "{r}");
    let fields: Vec<&str> =
        r["invalid_param_list"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["number_list[line 2]", "number_list[line 3]"], "{r}");

    let mut whatsapp_text = good.clone();
    whatsapp_text["channel_type"] = json!("whatsapp");
    let r = t.post("message_campaign/create", Some(&admin), &whatsapp_text).await;
    assert_eq!(r["errcode"], 40002, "{r}");

    let mut wrong_sender = good.clone();
    wrong_sender["sender"] = json!("+19999999999");
    let r = t.post("message_campaign/create", Some(&admin), &wrong_sender).await;
    assert_eq!(r["invalid_param_list"][0]["field"], "sender", "{r}");

    let mut past = good.clone();
    past["send_type"] = json!("schedule");
    past["send_time"] = json!(1_000_000_000);
    let r = t.post("message_campaign/create", Some(&admin), &past).await;
    assert_eq!(r["invalid_param_list"][0]["field"], "send_time", "{r}");

    let mut no_target = good.clone();
    no_target["send_mode"] = json!("new_session");
    no_target["assign_to_type"] = json!("queue");
    no_target["assign_to_id"] = json!(999);
    let r = t.post("message_campaign/create", Some(&admin), &no_target).await;
    assert_eq!(r["invalid_param_list"][0]["field"], "assign_to_id", "{r}");

    let listed = t.get("message_campaign/list", &admin, &[("page", "1"), ("page_size", "10")]).await;
    assert_eq!(listed["total_number"], 0, "nothing stored: {listed}");
    assert_eq!(t.items_with_prefix("ConversationTable", "CAMPAIGN#").await, 0);

    // A draft is stored, sends nothing, is edited, then scheduled; a running one cannot be edited.
    let draft = create(&t, &admin, good).await;
    assert_eq!(campaign(&t, &admin, draft).await["status"], "draft");
    let day = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).date();
    let local = format!("{day} 09:00:00");
    let edited = t
        .post(
            "message_campaign/update",
            Some(&admin),
            &json!({"id": draft, "name": "Renamed", "send_type": "schedule", "send_time": local,
                    "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(edited["errcode"], 0, "{edited}");
    let c = campaign(&t, &admin, draft).await;
    assert_eq!(
        (c["name"].clone(), c["status"].clone(), c["total"].clone()),
        (json!("Renamed"), json!("scheduled"), json!(2))
    );
    // 09:00 in Berlin is 07:00 or 08:00 UTC, depending on the season
    let utc_midnight = day.midnight().assume_utc().unix_timestamp();
    let at = c["send_time"].as_i64().unwrap();
    assert!(at == utc_midnight + 7 * 3600 || at == utc_midnight + 8 * 3600, "{c}");
    assert_eq!(c["send_time_local"], local.as_str(), "{c}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(t.sandbox.sent().is_empty(), "drafts and future schedules send nothing");

    // Recipients from a phonebook: the chosen number types, contact names, duplicates once.
    let book = t
        .post(
            "phonebook/create",
            Some(&admin),
            &json!({"name": "VIP customers", "contacts": [
                {"name": "Ann", "business_number": "+12025550101", "mobile_number": "+12025550111"},
                {"name": "Bob", "mobile_number": "+12025550102"},
                {"name": "Ann at home", "home_number": "+12025550103", "business_number": "+12025550101"}
            ]}),
        )
        .await;
    assert_eq!(book["errcode"], 0, "{book}");
    let mut from_book = sms_campaign(channel, "Book", &[], json!({"send_mode": "direct", "send_type": "draft"}));
    let fields = from_book.as_object_mut().unwrap();
    fields.remove("number_list");
    fields.insert("recipient_type".into(), json!("phonebook"));
    fields.insert("recipient_id".into(), book["id"].clone());
    fields.insert("recipient_num_type".into(), json!("business_number,mobile_number"));
    let reply = t.post("message_campaign/create", Some(&admin), &from_book).await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    assert_eq!(reply["total"], 3, "Ann's two numbers and Bob's; the home number is not a chosen type: {reply}");
    assert_eq!(reply["duplicates"].as_array().unwrap().len(), 1, "{reply}");
    let id = reply["id"].as_u64().unwrap();
    let c = campaign(&t, &admin, id).await;
    assert_eq!(
        (c["recipient_type"].clone(), c["recipient_name"].clone()),
        (json!("phonebook"), json!("VIP customers"))
    );
    let rows = recipients(&t, &admin, id, &[]).await;
    let names: Vec<&str> =
        rows["data"].as_array().unwrap().iter().map(|r| r["contact_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Ann", "Ann", "Bob"], "the duplicate business number stays Ann's: {rows}");
    fields_refused(&t, &admin, channel).await;
}

/// A phonebook that does not exist, and an unknown number type.
async fn fields_refused(t: &TestStack, admin: &str, channel: u64) {
    let mut body = sms_campaign(channel, "Nobody", &[], json!({"send_mode": "direct", "send_type": "draft"}));
    let fields = body.as_object_mut().unwrap();
    fields.remove("number_list");
    fields.insert("recipient_type".into(), json!("phonebook"));
    fields.insert("recipient_id".into(), json!(999));
    fields.insert("recipient_num_type".into(), json!("business_number"));
    let missing = t.post("message_campaign/create", Some(admin), &body).await;
    assert_eq!(missing["errcode"], 70093, "PHONEBOOK_NOT_EXISTED: {missing}");
    body["recipient_id"] = json!(1);
    body["recipient_num_type"] = json!("pager");
    let bad_type = t.post("message_campaign/create", Some(admin), &body).await;
    assert_eq!(bad_type["invalid_param_list"][0]["field"], "recipient_num_type", "{bad_type}");
}

#[tokio::test]
async fn a_whatsapp_template_campaign_from_an_uploaded_csv_sends_the_template_to_each_number_once() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let channel = crate::templates::whatsapp_channel(&t, &admin, ext).await;
    let sync =
        t.post("message_channel/sync_whatsapp_template", Some(&admin), &json!({"omnichannel_id": channel})).await;
    assert_eq!(sync["errcode"], 0, "{sync}");

    // UTF-8 BOM, CRLF, a Name column, a duplicate (kept once, reported with its lines).
    let csv = "\u{feff}Name,Number\r\nAnn,+16315550001\r\nBob,+16315550002\r\n\r\nAnn again,+16315550001\r\nCy,+16315550003\r\n";
    let uploaded =
        crate::files::upload_form(&t, &admin, &[("files", Some("vip.csv"), Some("text/csv"), csv.as_bytes())]).await;
    assert_eq!(uploaded["errcode"], 0, "{uploaded}");
    let file_id = uploaded["list"][0]["id"].as_str().unwrap().to_owned();
    let param = json!({
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "BODY", "parameters": [{"type": "text", "text": "friend"}, {"type": "text", "text": "7"}]}]
    });
    let body = json!({
        "name": "Order news", "channel_type": "whatsapp", "omnichannel_id": channel, "sender": 1,
        "recipient_type": "input", "recipient_file_id": file_id,
        "content_type": "template", "msg_param": param.to_string(),
        "send_type": "immediately", "send_mode": "new_session", "assign_to_type": "extension", "assign_to_id": ext,
    });
    let reply = t.post("message_campaign/create", Some(&admin), &body).await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    assert_eq!(reply["total"], 3, "{reply}");
    assert_eq!(reply["duplicates"], json!([{"line": 5, "number": "+16315550001", "first_line": 2}]), "{reply}");
    let id = reply["id"].as_u64().unwrap();
    let done = wait_status(&t, &admin, id, "completed", Duration::from_secs(60)).await;
    assert_eq!(done["sent"], 3, "{done}");
    assert_eq!(done["recipient_name"], "vip.csv");

    let calls: Vec<Value> = t
        .sandbox
        .provider_calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/messages"))
        .map(|c| serde_json::from_str(&c.body).unwrap())
        .collect();
    let mut to: Vec<&str> = calls.iter().map(|c| c["to"].as_str().unwrap()).collect();
    to.sort_unstable();
    assert_eq!(to, vec!["16315550001", "16315550002", "16315550003"], "each number exactly once");
    assert!(calls.iter().all(|c| c["type"] == "template" && c["template"]["name"] == "order_update"), "{calls:?}");
    // Each got a session assigned to the extension, named from the file.
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let mine = t.list_sessions(&agent, EXTENSION, "1000", &[("collection", "campaign")]).await;
    assert_eq!(mine["list"].as_array().unwrap().len(), 3, "{mine}");

    // A CSV with bad rows is refused naming each line, and nothing is created.
    let bad = "Number\n+16315550009\nnot-a-number\n\n16315550004\n";
    let uploaded =
        crate::files::upload_form(&t, &admin, &[("files", Some("bad.csv"), Some("text/csv"), bad.as_bytes())]).await;
    let mut body = body.clone();
    body["recipient_file_id"] = uploaded["list"][0]["id"].clone();
    let refused = t.post("message_campaign/create", Some(&admin), &body).await;
    assert_eq!(refused["errcode"], 40002, "{refused}");
    let fields: Vec<&str> =
        refused["invalid_param_list"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["recipient_file_id[line 3]", "recipient_file_id[line 5]"], "{refused}");
    let listed = t.get("message_campaign/list", &admin, &[("page", "1"), ("page_size", "10")]).await;
    assert_eq!(listed["total_number"], 1, "{listed}");
}

#[tokio::test]
async fn an_mms_campaign_sends_the_uploaded_file_to_each_recipient() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (channel, _) = t.general_channel(&admin, 10, &[(NUMBER, "extension", ext)]).await;
    let picture = [0x89u8, b'P', b'N', b'G', 13, 10, 26, 10, 1, 2, 3];
    let uploaded =
        crate::files::upload_form(&t, &admin, &[("files", Some("flyer.png"), Some("image/png"), &picture)]).await;
    assert_eq!(uploaded["errcode"], 0, "{uploaded}");
    let file_id = uploaded["list"][0]["id"].as_str().unwrap().to_owned();
    let list = customers(2, 600);
    let mut body = sms_campaign(channel, "Flyer", &list, json!({"send_mode": "direct"}));
    body["content_type"] = json!("document");
    body["file_id"] = json!(file_id);
    body.as_object_mut().unwrap().remove("content");
    let id = create(&t, &admin, body).await;
    let done = wait_status(&t, &admin, id, "completed", Duration::from_secs(60)).await;
    assert_eq!((done["sent"].clone(), done["content_type"].clone()), (json!(2), json!("document")), "{done}");
    assert_eq!(done["file_name"], "flyer.png");
    let sent = t.sandbox.sent();
    assert_eq!(sent.len(), 2, "one MMS per recipient");
    for s in &sent {
        let url = s.body["media_urls"][0].as_str().unwrap_or_else(|| panic!("a media URL: {}", s.body));
        let bytes = t.http.get(url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), &picture[..], "the provider can fetch the uploaded file");
    }

    // A file id that does not exist is refused and nothing is stored.
    let mut missing = sms_campaign(channel, "Nothing", &list, json!({"send_mode": "direct"}));
    missing["content_type"] = json!("document");
    missing["file_id"] = json!("0123456789abcdef0123456789abcdef");
    let r = t.post("message_campaign/create", Some(&admin), &missing).await;
    assert_eq!(r["invalid_param_list"][0]["field"], "file_id", "{r}");
}

#[tokio::test]
async fn killing_the_worker_mid_batch_loses_and_duplicates_no_recipient() {
    // Short slices and a short visibility timeout, so the killed job comes back quickly.
    let t = TestStack::start_with(options(3, 8)).await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (channel, _) = t.general_channel(&admin, 5, &[(NUMBER, "extension", ext)]).await;
    let list = customers(40, 400);
    let id = create(&t, &admin, sms_campaign(channel, "Crash", &list, json!({"send_mode": "direct"}))).await;

    // Kill every worker process twice while it is sending.
    for round in [6, 20] {
        eventually_or_dump(&t, Duration::from_secs(60), &format!("{round} sends"), || async {
            (t.sandbox.sent().len() >= round).then_some(())
        })
        .await;
        let killed = t.stack.kill_function("CampaignWorkerFunction");
        assert!(killed > 0, "a worker process was running");
        let progress = campaign(&t, &admin, id).await;
        eprintln!("crash injection after {} sends: {progress}", t.sandbox.sent().len());
    }
    let done = wait_status(&t, &admin, id, "completed", Duration::from_secs(150)).await;
    let counts = sends_by_number(&t);
    let duplicates: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "no recipient got two messages: {duplicates:?}");
    // A kill during a provider call is the one case whose outcome is unknown: it is recorded as
    // failed ("interrupted"), never sent again by itself.
    let interrupted = rows_with_state(&recipients(&t, &admin, id, &[("result", "failed")]).await, "failed");
    for number in &list {
        let got = counts.get(number).copied().unwrap_or(0);
        assert!(got == 1 || interrupted.contains(number), "{number} was not sent and not recorded: {counts:?}");
    }
    assert_eq!(done["sent"].as_u64().unwrap() + done["failed"].as_u64().unwrap(), 40, "{done}");
    assert_eq!(
        done["sent"].as_u64().unwrap() as usize,
        counts.len() - interrupted.iter().filter(|n| counts.contains_key(*n)).count()
    );
}

#[tokio::test]
async fn campaign_messages_keep_the_channel_rate_and_agent_replies_go_ahead_of_them() {
    let c = Conversation::start(4).await;
    let t = &c.t;
    let list = customers(24, 500);
    let id = create(t, &c.admin, sms_campaign(c.channel_id, "Paced", &list, json!({"send_mode": "direct"}))).await;
    eventually(Duration::from_secs(30), "the campaign to be sending", || async {
        (t.sandbox.sent().len() >= 4).then_some(())
    })
    .await;
    let before = t.sandbox.sent().len();
    let replies = ["agent one", "agent two", "agent three"];
    for r in replies {
        c.reply(r).await;
    }
    wait_status(t, &c.admin, id, "completed", Duration::from_secs(60)).await;
    let sent = t.sandbox.sent();
    assert_eq!(sent.len(), 24 + 3, "every campaign message and reply once");
    let times: Vec<Timestamp> = sent.iter().map(|s| Timestamp::from_datetime(s.received_at)).collect();
    let worst = max_calls_in_any_second(&times);
    assert!(worst <= 4, "{worst} calls in one second at send_rate 4");
    // The replies were not queued behind the rest of the campaign: each went out within the next
    // few slots after it was accepted (FIFO would have put them behind ~20 campaign messages).
    for r in replies {
        let position = sent.iter().position(|s| s.body["text"] == r).unwrap();
        assert!(position <= before + 3 + 3, "{r:?} went out at position {position} (accepted after {before})");
    }
}
