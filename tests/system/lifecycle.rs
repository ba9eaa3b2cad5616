//! The session lifecycle through the HTTP routes (issue 5): pick-up in each queue mode, reply
//! rules, transfer to an extension, a queue or the platform, close, archive / unarchive / delete,
//! list filters and paging, search, detail and timeline, query, the changes feed, starting a
//! session from a number, acting as someone else, and idempotent sends.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, Conversation, EXTENSION, PLATFORM, SETTLE, TestStack, eventually};

/// Routes to extension 1000, which is also the only member allowed to start sessions from it.
const DIRECT: &str = "+14102161183";
/// Routes to the `manual` queue (1000 and 1001).
const MANUAL: &str = "+14102161184";
/// Routes to the `auto` queue (1000 and 1001).
const AUTO: &str = "+14102161185";
/// Routes to the `none` queue (1000 and 1001).
const NONE: &str = "+14102161186";

const ALICE: &str = "+15005550101";
const BOB: &str = "+15005550102";
const CAROL: &str = "+15005550103";
const DAVE: &str = "+15005550104";
const ERIN: &str = "+15005550105";

/// An agent: extension id, number and token.
struct Agent {
    id: u64,
    no: &'static str,
    token: String,
}

async fn agent(t: &TestStack, id: u64, no: &'static str) -> Agent {
    Agent { id, no, token: t.token(no, AGENT_PASSWORD).await }
}

impl Agent {
    fn op(&self) -> Option<(u8, &str)> {
        Some((EXTENSION, self.no))
    }
}

/// A system with three agents: `a` (1000) and `b` (1001) are agents of the manual, auto and none
/// queues; `c` (1002) is in no queue. One General channel carries DIRECT, MANUAL, AUTO and NONE.
struct Desk {
    t: TestStack,
    admin: String,
    a: Agent,
    b: Agent,
    c: Agent,
    manual: u64,
    auto: u64,
    none: u64,
}

impl Desk {
    async fn start() -> Self {
        let t = TestStack::start().await;
        let admin = t.admin_token().await;
        let a = t.extension(&admin, "1000").await;
        let b = t.extension(&admin, "1001").await;
        let c = t.extension(&admin, "1002").await;
        let manual = t.queue(&admin, "Manual desk", "manual", &[a, b]).await;
        let auto = t.queue(&admin, "Auto desk", "auto", &[a, b]).await;
        let none = t.queue(&admin, "Shared desk", "none", &[a, b]).await;
        t.general_channel_with_members(
            &admin,
            10,
            &[
                (DIRECT, "extension", a, &[a]),
                (MANUAL, "queue", manual, &[]),
                (AUTO, "queue", auto, &[]),
                (NONE, "queue", none, &[]),
            ],
        )
        .await;
        let (a, b, c) = (agent(&t, a, "1000").await, agent(&t, b, "1001").await, agent(&t, c, "1002").await);
        Self { t, admin, a, b, c, manual, auto, none }
    }

    /// A customer writes to `did`; returns the open session (every number reaches 1000).
    async fn incoming(&self, customer: &str, did: &str, text: &str) -> u64 {
        self.t.deliver(customer, did, text).await;
        self.t.wait_for_session(&self.a.token, self.a.no, did, customer).await
    }

    async fn ids(&self, who: &Agent, extra: &[(&str, &str)]) -> Vec<u64> {
        self.t.session_ids(&who.token, EXTENSION, who.no, extra).await
    }

    async fn item(&self, who: &Agent, id: u64) -> Option<Value> {
        let reply = self.t.list_sessions(&who.token, EXTENSION, who.no, &[]).await;
        assert_eq!(reply["errcode"], 0, "{reply}");
        reply["list"].as_array()?.iter().find(|s| s["id"] == id).cloned()
    }

    async fn wait_listed(&self, who: &Agent, id: u64, extra: &[(&str, &str)]) {
        eventually(SETTLE, &format!("session {id} in {}'s list {extra:?}", who.no), || async {
            self.ids(who, extra).await.contains(&id).then_some(())
        })
        .await;
    }

    async fn wait_unlisted(&self, who: &Agent, id: u64, extra: &[(&str, &str)]) {
        eventually(SETTLE, &format!("session {id} to leave {}'s list {extra:?}", who.no), || async {
            (!self.ids(who, extra).await.contains(&id)).then_some(())
        })
        .await;
    }

    /// The session object of `message_session/get` as `who` (asserts success).
    async fn detail(&self, who: &Agent, id: u64) -> Value {
        let reply = self.t.session_get(&who.token, id).await;
        assert_eq!(reply["errcode"], 0, "message_session/get {id} as {}: {reply}", who.no);
        reply["list"].clone()
    }

    /// The same, as the administrator.
    async fn admin_detail(&self, id: u64) -> Value {
        let reply = self.t.session_get(&self.admin, id).await;
        assert_eq!(reply["errcode"], 0, "message_session/get {id} as the administrator: {reply}");
        reply["list"].clone()
    }

    async fn send(&self, who: &Agent, id: u64, text: &str) -> Value {
        self.t.send_text(&who.token, EXTENSION, who.no, id, text).await
    }

    async fn pickup(&self, who: &Agent, id: u64) -> Value {
        self.t.pickup(&who.token, who.no, id).await
    }

    async fn transfer(&self, who: &Agent, id: u64, kind: &str, destination: u64) -> Value {
        self.t.transfer(&who.token, who.op(), id, kind, destination).await
    }

    async fn close(&self, who: &Agent, id: u64) -> Value {
        self.t.close_session(&who.token, who.op(), id).await
    }

    /// `archive` / `unarchive` (POST) or `delete` (GET) as `who`.
    async fn view(&self, action: &str, who: &Agent, id: u64) -> Value {
        if action == "delete" {
            let id = id.to_string();
            self.t
                .get(
                    "message_session/delete",
                    &who.token,
                    &[("session_id", &id), ("user_type", "1"), ("user_no", who.no)],
                )
                .await
        } else {
            let body = json!({"session_id": id, "user_type": 1, "user_no": who.no});
            self.t.post(&format!("message_session/{action}"), Some(&who.token), &body).await
        }
    }

    async fn texts(&self, who: &Agent, id: u64) -> Vec<String> {
        self.t.history(&who.token, id).await.iter().filter_map(|m| m["msg_body"].as_str().map(str::to_owned)).collect()
    }

    /// Waits until `text` is in the session's history as seen by `who`.
    async fn wait_text(&self, who: &Agent, id: u64, text: &str) {
        eventually(SETTLE, &format!("{text:?} in session {id}"), || async {
            self.texts(who, id).await.iter().any(|t| t == text).then_some(())
        })
        .await;
    }

    /// Proves a refused reply sent nothing: `owner` sends a marker in `id`; once the provider has
    /// it, `refused` must be neither at the provider nor in the history.
    async fn assert_never_sent(&self, owner: &Agent, id: u64, refused: &str) {
        let marker = format!("marker after {refused}");
        let r = self.send(owner, id, &marker).await;
        assert_eq!(r["errcode"], 0, "{r}");
        self.t.wait_sent(&marker).await;
        assert!(!self.t.sent_texts().iter().any(|t| t == refused), "{refused:?} reached the provider");
        assert!(!self.texts(owner, id).await.iter().any(|t| t == refused), "{refused:?} was stored");
    }
}

#[track_caller]
fn ok(reply: &Value) {
    assert_eq!(reply["errcode"], 0, "{reply}");
}

#[track_caller]
fn refused(reply: &Value, reason: &str) {
    assert_eq!(reply["errcode"], 70084, "expected a refusal [{reason}]: {reply}");
    assert_eq!(reply["reason"], reason, "{reply}");
}

#[track_caller]
fn not_found(reply: &Value) {
    assert_eq!(reply["errcode"], 60001, "expected 60001: {reply}");
}

/// 60001 (the session is no longer visible) or 70084 with one of `reasons`.
#[track_caller]
fn hidden_or_refused(reply: &Value, reasons: &[&str]) {
    match reply["errcode"].as_i64() {
        Some(60001) => {}
        Some(70084) => assert!(reasons.iter().any(|r| reply["reason"] == *r), "unexpected reason: {reply}"),
        _ => panic!("expected 60001 or 70084 {reasons:?}: {reply}"),
    }
}

fn ext_nums(participants: &Value) -> HashSet<String> {
    participants
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["ext_num"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn when_a_manual_queue_session_is_picked_up_should_belong_to_the_picker_alone() {
    let d = Desk::start().await;
    let id = d.incoming(ALICE, MANUAL, "I need help").await;

    // both queue agents see it queued; its participants are the queue's agents
    d.wait_listed(&d.b, id, &[]).await;
    let item = d.item(&d.b, id).await.unwrap();
    assert_eq!(item["status"], "queued", "{item}");
    assert_eq!(item["assignment"], json!({"type": "queue", "id": d.manual}));
    let detail = d.detail(&d.a, id).await;
    assert_eq!(detail["status"], "queued");
    assert_eq!(ext_nums(&detail["participants"]), HashSet::from(["1000".to_owned(), "1001".to_owned()]));
    assert!(!d.ids(&d.c, &[]).await.contains(&id), "1002 is in no queue");
    not_found(&d.t.session_get(&d.c.token, id).await);

    // a queue agent may reply before picking up: the session stays queued, the customer gets it
    ok(&d.send(&d.a, id, "Looking into it").await);
    let sent = d.t.wait_sent("Looking into it").await;
    assert_eq!(sent, json!({"from": MANUAL, "to": ALICE, "text": "Looking into it"}));
    assert_eq!(d.detail(&d.a, id).await["status"], "queued");
    assert!(d.ids(&d.b, &[]).await.contains(&id), "still queued for 1001");

    // A picks it up (twice: the second is a no-op)
    ok(&d.pickup(&d.a, id).await);
    ok(&d.pickup(&d.a, id).await);
    let detail = d.detail(&d.a, id).await;
    assert_eq!(detail["status"], "assigned");
    assert_eq!(detail["assignment"], json!({"type": "extension", "id": d.a.id}));

    // B lost it: not listed, not readable, cannot reply, cannot pick it up
    d.wait_unlisted(&d.b, id, &[]).await;
    not_found(&d.t.session_get(&d.b.token, id).await);
    let late = d.send(&d.b, id, "B was here").await;
    hidden_or_refused(&late, &["taken", "already_picked_up"]);
    let grab = d.pickup(&d.b, id).await;
    refused(&grab, "already_picked_up");
    assert!(grab["submsg"].as_str().unwrap_or_default().contains("1000"), "submsg names the owner: {grab}");
    d.assert_never_sent(&d.a, id, "B was here").await;

    // the customer's follow-up joins the same session, which only A sees
    d.t.deliver(ALICE, MANUAL, "Any news?").await;
    d.wait_text(&d.a, id, "Any news?").await;
    let a_sessions = d.t.list_sessions(&d.a.token, EXTENSION, d.a.no, &[]).await;
    let alice: Vec<&Value> =
        a_sessions["list"].as_array().unwrap().iter().filter(|s| s["to"]["user_no"] == ALICE).collect();
    assert_eq!(alice.len(), 1, "one session for the customer: {a_sessions}");
    assert_eq!(alice[0]["id"], id);
    assert!(!d.ids(&d.b, &[]).await.contains(&id));
    not_found(&d.t.session_get(&d.b.token, id).await);
}

#[tokio::test]
async fn when_an_auto_queue_session_gets_a_first_reply_should_be_taken_by_the_replier() {
    let d = Desk::start().await;
    let id = d.incoming(ALICE, AUTO, "Hello?").await;
    d.wait_listed(&d.b, id, &[]).await;
    assert_eq!(d.detail(&d.b, id).await["status"], "queued");
    assert_eq!(d.detail(&d.b, id).await["assignment"], json!({"type": "queue", "id": d.auto}));

    // the first reply takes it
    ok(&d.send(&d.a, id, "Hi, Leo here").await);
    let detail = d.detail(&d.a, id).await;
    assert_eq!(detail["status"], "assigned", "{detail}");
    assert_eq!(detail["assignment"], json!({"type": "extension", "id": d.a.id}));
    let picked: Vec<&Value> = detail["timeline"]
        .as_array()
        .map(|t| t.iter().filter(|e| e["operation"] == "picked_up").collect())
        .unwrap_or_default();
    assert_eq!(picked.len(), 1, "{detail}");
    assert_eq!(picked[0]["automatic"], true, "taken by the first reply: {detail}");
    assert_eq!(picked[0]["by"]["user_no"], "1000");

    // the other agent is refused and nothing of theirs is sent
    let late = d.send(&d.b, id, "Hi, Ann here").await;
    hidden_or_refused(&late, &["taken", "already_picked_up"]);
    refused(&d.pickup(&d.b, id).await, "already_picked_up");
    d.wait_unlisted(&d.b, id, &[]).await;
    d.t.wait_sent("Hi, Leo here").await;
    d.assert_never_sent(&d.a, id, "Hi, Ann here").await;
    let to_alice: Vec<String> =
        d.t.sandbox
            .sent()
            .iter()
            .filter(|s| s.body["to"] == ALICE)
            .filter_map(|s| s.body["text"].as_str().map(str::to_owned))
            .collect();
    assert_eq!(to_alice, vec!["Hi, Leo here".to_owned(), "marker after Hi, Ann here".to_owned()]);
}

#[tokio::test]
async fn when_a_none_queue_session_is_handled_should_refuse_pickup_and_let_any_agent_reply_transfer_and_close() {
    let d = Desk::start().await;
    let first = d.incoming(ALICE, NONE, "first").await;
    let second = d.incoming(BOB, NONE, "second").await;
    d.wait_listed(&d.b, first, &[]).await;
    d.wait_listed(&d.b, second, &[]).await;

    refused(&d.pickup(&d.a, first).await, "pickup_disabled");
    refused(&d.pickup(&d.b, first).await, "pickup_disabled");

    // both agents reply; the session stays queued in the none queue
    ok(&d.send(&d.a, first, "from Leo").await);
    ok(&d.send(&d.b, first, "from Ann").await);
    d.t.wait_sent("from Leo").await;
    d.t.wait_sent("from Ann").await;
    let detail = d.detail(&d.b, first).await;
    assert_eq!(detail["status"], "queued");
    assert_eq!(detail["assignment"], json!({"type": "queue", "id": d.none}));

    // any queue agent may transfer it...
    ok(&d.transfer(&d.b, first, "extension", d.a.id).await);
    let detail = d.detail(&d.a, first).await;
    assert_eq!(detail["status"], "assigned");
    assert_eq!(detail["assignment"], json!({"type": "extension", "id": d.a.id}));
    d.wait_unlisted(&d.b, first, &[]).await;

    // ...and close it
    ok(&d.close(&d.b, second).await);
    assert_eq!(d.admin_detail(second).await["status"], "closed");
    hidden_or_refused(&d.send(&d.a, second, "too late").await, &["closed"]);
}

#[tokio::test]
async fn when_a_session_is_transferred_to_an_extension_or_a_queue_should_move_with_its_history() {
    let d = Desk::start().await;
    let id = d.incoming(ALICE, DIRECT, "Where is order 7?").await;
    ok(&d.send(&d.a, id, "Checking order 7").await);

    // to an extension: it leaves A, C owns it with the whole history
    ok(&d.transfer(&d.a, id, "extension", d.c.id).await);
    d.wait_unlisted(&d.a, id, &[]).await;
    not_found(&d.t.session_get(&d.a.token, id).await);
    d.wait_listed(&d.c, id, &[]).await;
    let item = d.item(&d.c, id).await.unwrap();
    assert_eq!(item["status"], "assigned");
    assert_eq!(item["assignment"], json!({"type": "extension", "id": d.c.id}));
    let texts = d.texts(&d.c, id).await;
    assert!(
        texts.contains(&"Where is order 7?".to_owned()) && texts.contains(&"Checking order 7".to_owned()),
        "{texts:?}"
    );
    ok(&d.send(&d.c, id, "Carl here, it ships today").await);
    d.t.wait_sent("Carl here, it ships today").await;

    // to a queue: queued there, its agents see it, the transferrer does not
    ok(&d.transfer(&d.c, id, "queue", d.manual).await);
    d.wait_unlisted(&d.c, id, &[]).await;
    for agent in [&d.a, &d.b] {
        d.wait_listed(agent, id, &[]).await;
        let item = d.item(agent, id).await.unwrap();
        assert_eq!(item["status"], "queued");
        assert_eq!(item["assignment"], json!({"type": "queue", "id": d.manual}));
        assert_eq!(d.texts(agent, id).await.len(), 3, "the whole history travels");
    }
    not_found(&d.t.session_get(&d.c.token, id).await);
}

#[tokio::test]
async fn when_a_session_is_transferred_to_the_platform_should_be_served_through_an_api_client() {
    let d = Desk::start().await;
    let id = d.incoming(ALICE, DIRECT, "Talk to your bot").await;
    ok(&d.transfer(&d.a, id, "api", 0).await);
    d.wait_unlisted(&d.a, id, &[]).await;

    // the platform sees it
    let platform = eventually(SETTLE, "the session in the platform's list", || async {
        let reply = d.t.list_sessions(&d.admin, PLATFORM, "api", &[]).await;
        reply["list"].as_array()?.iter().find(|s| s["id"] == id).cloned()
    })
    .await;
    assert_eq!(platform["assignment"]["type"], "api", "{platform}");
    assert_eq!(d.admin_detail(id).await["assignment"]["type"], "api");

    // replies as the platform reach the customer
    ok(&d.t.send_text(&d.admin, PLATFORM, "api", id, "Bot: your order ships today").await);
    let sent = d.t.wait_sent("Bot: your order ships today").await;
    assert_eq!(sent, json!({"from": DIRECT, "to": ALICE, "text": "Bot: your order ships today"}));
    // the number's statistics count it as the platform's
    let by_origin = eventually(SETTLE, "the platform's reply in the statistics", || async {
        let list =
            d.t.get("message_channel/list", &d.admin, &[("page", "1"), ("page_size", "10"), ("time_range", "all")])
                .await;
        let channel = list["list"][0]["id"].to_string();
        let detail = d.t.get("message_channel/get", &d.admin, &[("id", &channel), ("time_range", "all")]).await;
        let stats = detail["data"]["statistics"].as_array()?.iter().find(|s| s["number"] == DIRECT)?.clone();
        (stats["by_origin"]["api"] == 1).then_some(stats["by_origin"].clone())
    })
    .await;
    assert_eq!(by_origin, json!({"agent": 0, "api": 1, "campaign": 0}));

    // and the platform hands it back to an extension
    ok(&d.t.transfer(&d.admin, Some((PLATFORM, "api")), id, "extension", d.b.id).await);
    d.wait_listed(&d.b, id, &[]).await;
    let item = d.item(&d.b, id).await.unwrap();
    assert_eq!(item["status"], "assigned");
    assert_eq!(item["assignment"], json!({"type": "extension", "id": d.b.id}));
    eventually(SETTLE, "the session to leave the platform's list", || async {
        (!d.t.session_ids(&d.admin, PLATFORM, "api", &[]).await.contains(&id)).then_some(())
    })
    .await;
    let texts = d.texts(&d.b, id).await;
    assert!(texts.contains(&"Bot: your order ships today".to_owned()), "{texts:?}");
}

#[tokio::test]
async fn when_a_transfer_is_not_allowed_should_refuse_it_with_the_reason() {
    let d = Desk::start().await;
    let queued = d.incoming(ALICE, MANUAL, "queued").await;
    let direct = d.incoming(BOB, DIRECT, "direct").await;
    let shared = d.incoming(CAROL, NONE, "shared").await;

    // a queued manual session must be picked up first
    refused(&d.transfer(&d.a, queued, "extension", d.b.id).await, "pick_up_first");
    refused(&d.transfer(&d.b, queued, "queue", d.auto).await, "pick_up_first");
    assert_eq!(d.admin_detail(queued).await["status"], "queued");

    // the same place
    refused(&d.transfer(&d.a, direct, "extension", d.a.id).await, "same_destination");
    refused(&d.transfer(&d.b, shared, "queue", d.none).await, "same_destination");

    // unknown destinations; outsiders
    not_found(&d.transfer(&d.a, direct, "extension", 999_999).await);
    not_found(&d.transfer(&d.a, direct, "queue", 999_999).await);
    not_found(&d.transfer(&d.c, direct, "extension", d.c.id).await);
    not_found(&d.transfer(&d.c, queued, "extension", d.c.id).await);

    // nothing moved
    assert_eq!(d.admin_detail(direct).await["assignment"], json!({"type": "extension", "id": d.a.id}));
    assert_eq!(d.admin_detail(queued).await["assignment"], json!({"type": "queue", "id": d.manual}));
    assert_eq!(d.admin_detail(shared).await["assignment"], json!({"type": "queue", "id": d.none}));

    // once picked up, it may go
    ok(&d.pickup(&d.a, queued).await);
    ok(&d.transfer(&d.a, queued, "extension", d.b.id).await);
    assert_eq!(d.detail(&d.b, queued).await["assignment"], json!({"type": "extension", "id": d.b.id}));
}

#[tokio::test]
async fn when_the_owner_closes_a_session_should_refuse_replies_archive_it_and_open_a_new_one_on_the_next_message() {
    let d = Desk::start().await;
    let id = d.incoming(ALICE, DIRECT, "Thanks, that is all").await;

    // no operator fields: the agent token acts as its own extension
    ok(&d.t.close_session(&d.a.token, None, id).await);
    let detail = d.detail(&d.a, id).await;
    assert_eq!(detail["status"], "closed");
    assert_eq!(detail["is_close"], 1);
    refused(&d.send(&d.a, id, "one more thing").await, "closed");
    refused(&d.close(&d.a, id).await, "closed");

    // it moved to the owner's Archived view
    d.wait_listed(&d.a, id, &[("is_archived", "1")]).await;
    assert!(!d.ids(&d.a, &[("is_archived", "0")]).await.contains(&id));
    assert!(d.ids(&d.a, &[("is_closed", "1")]).await.contains(&id));
    assert!(!d.ids(&d.a, &[("is_closed", "0")]).await.contains(&id));
    let item = d.item(&d.a, id).await.unwrap();
    assert_eq!((item["is_close"].clone(), item["is_archived"].clone()), (json!(1), json!(1)), "{item}");

    // the customer's next message opens a new session
    d.t.deliver(ALICE, DIRECT, "Actually, one more question").await;
    let next = eventually(SETTLE, "a new session for the customer", || async {
        let reply = d.t.list_sessions(&d.a.token, EXTENSION, d.a.no, &[("is_closed", "0")]).await;
        reply["list"].as_array()?.iter().find(|s| s["to"]["user_no"] == ALICE && s["id"] != id)?["id"].as_u64()
    })
    .await;
    assert_ne!(next, id);
    assert_eq!(d.detail(&d.a, next).await["status"], "assigned");
    assert_eq!(d.texts(&d.a, next).await, vec!["Actually, one more question".to_owned()]);
    assert_eq!(d.texts(&d.a, id).await, vec!["Thanks, that is all".to_owned()]);
    assert_eq!(d.detail(&d.a, id).await["status"], "closed", "the old one stays closed");
}

#[tokio::test]
async fn when_a_queued_session_is_closed_should_be_allowed_to_queue_agents_and_the_administrator_only() {
    let d = Desk::start().await;
    let queued = d.incoming(ALICE, MANUAL, "queued").await;
    let auto = d.incoming(BOB, AUTO, "auto").await;
    let direct = d.incoming(CAROL, DIRECT, "direct").await;

    // outsiders cannot see it, so cannot close it
    not_found(&d.close(&d.c, queued).await);
    not_found(&d.close(&d.b, direct).await);
    assert_eq!(d.admin_detail(queued).await["status"], "queued");

    // any agent of the queue may close a queued session (any mode)
    ok(&d.close(&d.b, queued).await);
    assert_eq!(d.admin_detail(queued).await["status"], "closed");
    ok(&d.close(&d.a, auto).await);
    assert_eq!(d.admin_detail(auto).await["status"], "closed");
    d.wait_unlisted(&d.b, queued, &[]).await;

    // the administrator (API client without operator fields) may close any open session
    ok(&d.t.close_session(&d.admin, None, direct).await);
    assert_eq!(d.admin_detail(direct).await["status"], "closed");
    refused(&d.send(&d.a, direct, "hello?").await, "closed");
}

#[tokio::test]
async fn when_a_session_is_archived_or_deleted_should_leave_the_views_until_the_next_message() {
    let d = Desk::start().await;
    let one = d.incoming(ALICE, DIRECT, "one").await;
    let two = d.incoming(BOB, DIRECT, "two").await;
    let unarchived = [("is_archived", "0")];
    let archived = [("is_archived", "1")];

    // archive / unarchive
    ok(&d.view("archive", &d.a, one).await);
    d.wait_listed(&d.a, one, &archived).await;
    d.wait_unlisted(&d.a, one, &unarchived).await;
    assert!(d.ids(&d.a, &unarchived).await.contains(&two));
    assert!(!d.ids(&d.a, &archived).await.contains(&two));
    let all = d.ids(&d.a, &[("is_archived", "2")]).await;
    assert!(all.contains(&one) && all.contains(&two), "{all:?}");
    assert_eq!(d.item(&d.a, one).await.unwrap()["is_archived"], 1);
    assert_eq!(d.detail(&d.a, one).await["is_archived"], 1);
    ok(&d.view("unarchive", &d.a, one).await);
    d.wait_listed(&d.a, one, &unarchived).await;
    assert_eq!(d.item(&d.a, one).await.unwrap()["is_archived"], 0);

    // only the operator whose list it is in
    hidden_or_refused(&d.view("archive", &d.b, one).await, &["not_in_your_list"]);
    hidden_or_refused(&d.view("delete", &d.c, one).await, &["not_in_your_list"]);
    assert!(d.ids(&d.a, &unarchived).await.contains(&one));

    // a new inbound message brings an archived session back
    ok(&d.view("archive", &d.a, one).await);
    d.wait_unlisted(&d.a, one, &unarchived).await;
    d.t.deliver(ALICE, DIRECT, "hello again").await;
    d.wait_listed(&d.a, one, &unarchived).await;
    assert_eq!(d.item(&d.a, one).await.unwrap()["is_archived"], 0);
    d.wait_text(&d.a, one, "hello again").await;

    // delete hides it from every view, until the customer writes again
    ok(&d.view("delete", &d.a, two).await);
    for view in ["0", "1", "2"] {
        d.wait_unlisted(&d.a, two, &[("is_archived", view)]).await;
    }
    assert!(!d.ids(&d.a, &[]).await.contains(&two));
    d.t.deliver(BOB, DIRECT, "are you there?").await;
    d.wait_listed(&d.a, two, &unarchived).await;

    // sending unarchives and un-deletes too
    ok(&d.view("archive", &d.a, one).await);
    d.wait_unlisted(&d.a, one, &unarchived).await;
    ok(&d.send(&d.a, one, "back to you").await);
    d.wait_listed(&d.a, one, &unarchived).await;
    ok(&d.view("delete", &d.a, two).await);
    d.wait_unlisted(&d.a, two, &[]).await;
    ok(&d.send(&d.a, two, "yes, here").await);
    d.wait_listed(&d.a, two, &unarchived).await;
}

#[tokio::test]
async fn when_listing_should_filter_by_state_page_with_the_cursor_and_search() {
    let d = Desk::start().await;
    let mut direct = Vec::new();
    for customer in [ALICE, BOB, CAROL, DAVE] {
        direct.push(d.incoming(customer, DIRECT, &format!("hi from {customer}")).await);
    }
    let queued = d.incoming(ERIN, MANUAL, "hi from the queue").await;
    let closed = direct[0];
    ok(&d.close(&d.a, closed).await);
    let everything: HashSet<u64> = direct.iter().copied().chain([queued]).collect();

    // is_closed
    let ids = d.ids(&d.a, &[("is_closed", "1")]).await;
    assert_eq!(ids, vec![closed]);
    let open: HashSet<u64> = d.ids(&d.a, &[("is_closed", "0")]).await.into_iter().collect();
    assert_eq!(open, everything.iter().copied().filter(|i| *i != closed).collect());
    let all: HashSet<u64> = d.ids(&d.a, &[("is_closed", "2")]).await.into_iter().collect();
    assert_eq!(all, everything);

    // is_pickup: owned vs queued
    let owned = d.ids(&d.a, &[("is_pickup", "1"), ("is_closed", "0")]).await;
    assert_eq!(owned.iter().copied().collect::<HashSet<_>>(), direct[1..].iter().copied().collect());
    let waiting = d.ids(&d.a, &[("is_pickup", "2")]).await;
    assert_eq!(waiting, vec![queued]);
    assert_eq!(d.ids(&d.b, &[("is_pickup", "1")]).await, Vec::<u64>::new());
    assert_eq!(d.ids(&d.b, &[("is_pickup", "2")]).await, vec![queued]);

    // cursor paging: most recent first, no duplicates, no gaps
    let mut seen: Vec<u64> = Vec::new();
    let mut last_msg_ids: Vec<u64> = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 10, "paging does not end: {seen:?}");
        let mut extra = vec![("page_size", "2")];
        if let Some(c) = cursor.as_deref() {
            extra.push(("first_msg_id", c));
        }
        let reply = d.t.list_sessions(&d.a.token, EXTENSION, d.a.no, &extra).await;
        ok(&reply);
        let items = reply["list"].as_array().unwrap();
        assert!(items.len() <= 2, "{reply}");
        for item in items {
            seen.push(item["id"].as_u64().unwrap());
            last_msg_ids.push(item["last_msg_id"].as_u64().unwrap());
        }
        if reply["has_more"] != true {
            break;
        }
        assert!(!items.is_empty(), "has_more with an empty page: {reply}");
        cursor = Some(items.last().unwrap()["last_msg_id"].as_u64().unwrap().to_string());
    }
    assert_eq!(seen.len(), everything.len(), "no duplicates, no gaps: {seen:?}");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), everything);
    assert!(last_msg_ids.windows(2).all(|w| w[0] > w[1]), "most recent first: {last_msg_ids:?}");
    // page_size bounds
    assert_ne!(d.t.list_sessions(&d.a.token, EXTENSION, d.a.no, &[("page_size", "101")]).await["errcode"], 0);

    // search: part of a customer number, of the did number
    let search = |value: &'static str| {
        let d = &d;
        async move {
            let reply =
                d.t.get(
                    "message_session/search",
                    &d.a.token,
                    &[("page_size", "20"), ("user_type", "1"), ("user_no", "1000"), ("search_value", value)],
                )
                .await;
            ok(&reply);
            reply["list"].as_array().unwrap().iter().filter_map(|s| s["id"].as_u64()).collect::<HashSet<u64>>()
        }
    };
    assert_eq!(search("5550103").await, HashSet::from([direct[2]]), "part of CAROL's number");
    assert_eq!(search("2161184").await, HashSet::from([queued]), "part of the MANUAL number");
    assert_eq!(search("2161183").await, direct.iter().copied().collect(), "part of the DIRECT number");
    assert!(search("99999999").await.is_empty());
}

#[tokio::test]
async fn when_a_session_is_handled_should_record_each_operation_in_its_timeline() {
    let d = Desk::start().await;
    let id = d.incoming(ALICE, MANUAL, "hi").await;
    ok(&d.pickup(&d.a, id).await);
    ok(&d.transfer(&d.a, id, "extension", d.b.id).await);
    ok(&d.close(&d.b, id).await);

    for detail in [d.detail(&d.b, id).await, d.admin_detail(id).await] {
        let timeline = detail["timeline"].as_array().unwrap_or_else(|| panic!("no timeline: {detail}"));
        let operations: Vec<&str> = timeline.iter().filter_map(|e| e["operation"].as_str()).collect();
        assert_eq!(operations, vec!["created", "picked_up", "transferred", "closed"], "{detail}");
        let times: Vec<u64> = timeline.iter().map(|e| e["time"].as_u64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order: {times:?}");
        let (picked, transferred, closed) = (&timeline[1], &timeline[2], &timeline[3]);
        assert_eq!(picked["automatic"], false, "{picked}");
        let who = |e: &Value| (e["by"]["user_type"].clone(), e["by"]["user_no"].clone());
        assert_eq!(who(picked), (json!(1), json!("1000")), "{picked}");
        assert_eq!(who(transferred), (json!(1), json!("1000")), "{transferred}");
        assert!(!transferred["from"].is_null() && !transferred["to"].is_null(), "{transferred}");
        assert_eq!(who(closed), (json!(1), json!("1001")), "{closed}");
        assert_eq!(closed["automatic"], false, "{closed}");
    }
}

#[tokio::test]
async fn when_querying_several_sessions_should_return_only_the_visible_ones_and_agents_act_only_as_themselves() {
    let d = Desk::start().await;
    let mine = d.incoming(ALICE, DIRECT, "for Leo").await;
    let queued = d.incoming(BOB, MANUAL, "for the queue").await;
    let away = d.incoming(CAROL, DIRECT, "for Carl").await;
    ok(&d.transfer(&d.a, away, "extension", d.c.id).await);
    let ids = format!("{mine},{queued},{away},999999");

    let query = |token: &str| {
        let (d, ids, token) = (&d, ids.clone(), token.to_owned());
        async move {
            let reply = d.t.get("message_session/query", &token, &[("ids", &ids)]).await;
            ok(&reply);
            reply["list"].as_array().unwrap().iter().filter_map(|s| s["id"].as_u64()).collect::<HashSet<u64>>()
        }
    };
    assert_eq!(query(&d.a.token).await, HashSet::from([mine, queued]));
    assert_eq!(query(&d.b.token).await, HashSet::from([queued]));
    assert_eq!(query(&d.c.token).await, HashSet::from([away]));
    assert_eq!(query(&d.admin).await, HashSet::from([mine, queued, away]));

    let messages = |token: &str| {
        let (d, ids, token) = (&d, ids.clone(), token.to_owned());
        async move {
            let reply = d.t.get("message/query", &token, &[("ids", &ids), ("page_size", "10")]).await;
            ok(&reply);
            reply["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let texts: Vec<String> = s["records"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|m| m["msg_body"].as_str().map(str::to_owned))
                        .collect();
                    (s["session_id"].as_u64().unwrap(), texts)
                })
                .collect::<HashMap<u64, Vec<String>>>()
        }
    };
    let for_b = messages(&d.b.token).await;
    assert_eq!(for_b, HashMap::from([(queued, vec!["for the queue".to_owned()])]));
    let for_a = messages(&d.a.token).await;
    assert_eq!(for_a.keys().copied().collect::<HashSet<_>>(), HashSet::from([mine, queued]));
    assert_eq!(for_a[&mine], vec!["for Leo".to_owned()]);

    // an agent token acting as another extension
    let b_as_a = d.t.list_sessions(&d.b.token, EXTENSION, "1000", &[]).await;
    assert_eq!(b_as_a["errcode"], 10005, "{b_as_a}");
    assert_eq!(d.t.send_text(&d.b.token, EXTENSION, "1000", mine, "impostor").await["errcode"], 10005);
    assert_eq!(d.t.pickup(&d.b.token, "1000", queued).await["errcode"], 10005);
    assert_eq!(d.t.transfer(&d.b.token, Some((EXTENSION, "1000")), mine, "extension", d.b.id).await["errcode"], 10005);
    assert_eq!(d.t.close_session(&d.b.token, Some((EXTENSION, "1000")), mine).await["errcode"], 10005);
    let archive = json!({"session_id": mine, "user_type": 1, "user_no": "1000"});
    assert_eq!(d.t.post("message_session/archive", Some(&d.b.token), &archive).await["errcode"], 10005);
    let changes = d.t.get("message_session/changes", &d.b.token, &[("user_type", "1"), ("user_no", "1000")]).await;
    assert_eq!(changes["errcode"], 10005, "{changes}");
    assert_eq!(
        d.t.send_text(&d.b.token, PLATFORM, "api", mine, "impostor").await["errcode"],
        10005,
        "agents cannot act as the platform"
    );
    // nothing happened to the session
    assert_eq!(d.admin_detail(mine).await["assignment"], json!({"type": "extension", "id": d.a.id}));
    assert!(!d.texts(&d.a, mine).await.contains(&"impostor".to_owned()));
}

/// What a `message_session/changes` reader has accumulated.
#[derive(Default)]
struct Feed {
    cursor: Option<String>,
    updated: HashMap<u64, Value>,
    removed: HashSet<u64>,
}

impl Feed {
    /// Starts reading now (no cursor: the reply's cursor marks "now").
    async fn start(t: &TestStack, who: &Agent) -> Self {
        let mut feed = Feed::default();
        feed.poll(t, who).await;
        feed.updated.clear();
        feed.removed.clear();
        feed
    }

    async fn poll(&mut self, t: &TestStack, who: &Agent) {
        let mut q = vec![("user_type", "1"), ("user_no", who.no)];
        if let Some(c) = self.cursor.as_deref() {
            q.push(("cursor", c));
        }
        let reply = t.get("message_session/changes", &who.token, &q).await;
        ok(&reply);
        for s in reply["list"].as_array().into_iter().flatten() {
            let id = s["id"].as_u64().unwrap();
            self.removed.remove(&id);
            self.updated.insert(id, s.clone());
        }
        for id in reply["removed"].as_array().into_iter().flatten() {
            let id = id.as_u64().unwrap();
            self.updated.remove(&id);
            self.removed.insert(id);
        }
        let cursor = reply["cursor"].as_str().unwrap_or_else(|| panic!("no cursor: {reply}"));
        self.cursor = Some(cursor.to_owned());
    }

    /// Polls until `seen` holds.
    async fn until(&mut self, t: &TestStack, who: &Agent, what: &str, seen: impl Fn(&Feed) -> bool) {
        let start = Instant::now();
        loop {
            self.poll(t, who).await;
            if seen(self) {
                return;
            }
            assert!(start.elapsed() < SETTLE, "timed out waiting for {what} in {}'s changes", who.no);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn when_sessions_change_should_report_them_in_the_changes_feed() {
    let d = Desk::start().await;
    let queued = d.incoming(ALICE, MANUAL, "in the queue").await;
    let direct = d.incoming(BOB, DIRECT, "first").await;
    d.wait_listed(&d.b, queued, &[]).await;

    let mut a_feed = Feed::start(&d.t, &d.a).await;
    let mut c_feed = Feed::start(&d.t, &d.c).await;

    // an inbound message in A's session
    d.t.deliver(BOB, DIRECT, "second").await;
    a_feed
        .until(&d.t, &d.a, "the new message", |f| {
            f.updated.get(&direct).is_some_and(|s| s["last_msg"]["preview"] == "second")
        })
        .await;

    // someone else picks up a session A saw queued
    ok(&d.pickup(&d.b, queued).await);
    a_feed.until(&d.t, &d.a, "the picked-up session removed", |f| f.removed.contains(&queued)).await;

    // A transfers its own session away: removed for A, added for C
    ok(&d.transfer(&d.a, direct, "extension", d.c.id).await);
    a_feed.until(&d.t, &d.a, "the transferred session removed", |f| f.removed.contains(&direct)).await;
    c_feed
        .until(&d.t, &d.c, "the transferred session added", |f| {
            f.updated.get(&direct).is_some_and(|s| s["assignment"] == json!({"type": "extension", "id": d.c.id}))
        })
        .await;
    assert!(!c_feed.updated.contains_key(&queued), "C never sees the queued session");
}

#[tokio::test]
async fn when_an_agent_starts_a_session_should_need_membership_of_the_number_and_reuse_the_open_one() {
    let d = Desk::start().await;
    let start = |who: &Agent, to: &str, text: &str| {
        let body = json!({"sender_type": 1, "sender_no": who.no, "channel": "general", "did_number": DIRECT,
                          "to": to, "msg_body": text});
        let (t, token) = (&d.t, who.token.clone());
        async move { t.post("message/send", Some(&token), &body).await }
    };

    // a member of the number starts a session with a new customer
    let r = start(&d.a, ALICE, "Your appointment is tomorrow").await;
    ok(&r);
    let id = r["session_id"].as_u64().unwrap_or_else(|| panic!("no session_id: {r}"));
    assert_eq!(r["data"]["session_id"], id);
    assert!(r["msg_id"].as_u64().is_some() && r["data"]["msg_id"] == r["msg_id"], "{r}");
    let sent = d.t.wait_sent("Your appointment is tomorrow").await;
    assert_eq!(sent, json!({"from": DIRECT, "to": ALICE, "text": "Your appointment is tomorrow"}));
    d.wait_listed(&d.a, id, &[]).await;
    let detail = d.detail(&d.a, id).await;
    assert_eq!(detail["status"], "assigned");
    assert_eq!(detail["assignment"], json!({"type": "extension", "id": d.a.id}));
    // Yeastar's `origin` is empty for sessions started by an extension (only `campaign` is named);
    // ours says who started it.
    assert_eq!(detail["origin"], "", "{detail}");
    assert_eq!(detail["started_by"], "agent", "{detail}");
    assert_eq!(detail["to_number"], ALICE);

    // the second start to the same customer reuses it
    let again = start(&d.a, ALICE, "Reply YES to confirm").await;
    ok(&again);
    assert_eq!(again["session_id"], id);
    d.t.wait_sent("Reply YES to confirm").await;

    // the customer's answer joins it
    d.t.deliver(ALICE, DIRECT, "YES").await;
    d.wait_text(&d.a, id, "YES").await;
    assert_eq!(d.texts(&d.a, id).await.len(), 3);

    // an extension not in the number's members may not start sessions from it
    refused(&start(&d.b, BOB, "hello from Ann").await, "not_allowed_on_number");
    refused(&start(&d.c, BOB, "hello from Carl").await, "not_allowed_on_number");
    // the channel must match the number's channel
    let body = json!({"sender_type": 1, "sender_no": "1000", "channel": "whatsapp", "did_number": DIRECT,
                      "to": BOB, "msg_body": "wrong channel"});
    assert_ne!(d.t.post("message/send", Some(&d.a.token), &body).await["errcode"], 0);

    d.assert_never_sent(&d.a, id, "hello from Ann").await;
    assert!(!d.t.sent_texts().iter().any(|t| t == "hello from Carl" || t == "wrong channel"));
    assert!(d.t.sandbox.sent().iter().all(|s| s.body["to"] == ALICE), "nothing went to BOB");
}

#[tokio::test]
async fn when_a_send_is_retried_with_its_idempotency_key_should_reach_the_customer_once() {
    let c = Conversation::start(10).await;
    let body = json!({"sender_type": 1, "sender_no": "1000", "session_id": c.session_id, "msg_body": "only once"});
    let key = [("Idempotency-Key", "send-only-once-1")];
    let first = c.t.post_with("message/send", Some(&c.agent), &body, &key).await;
    ok(&first);
    let retry = c.t.post_with("message/send", Some(&c.agent), &body, &key).await;
    ok(&retry);
    assert_eq!(retry["msg_id"], first["msg_id"], "{first} / {retry}");
    assert_eq!(retry["session_id"], first["session_id"]);

    c.t.wait_sent("only once").await;
    // a later message proves the queue drained past the retry
    c.reply("and this one").await;
    c.t.wait_sent("and this one").await;
    let once = c.t.sent_texts().iter().filter(|t| *t == "only once").count();
    assert_eq!(once, 1, "{:?}", c.t.sent_texts());
    let stored = c.t.history(&c.agent, c.session_id).await;
    assert_eq!(stored.iter().filter(|m| m["msg_body"] == "only once").count(), 1);
}
