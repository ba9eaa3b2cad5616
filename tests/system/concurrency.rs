//! Races on one session against the emulator (issue 5): twenty agents picking up at once, a
//! transfer racing the customer's messages, two agents replying first in an auto queue.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, EXTENSION, SETTLE, TestStack, eventually};

const NUMBER: &str = "+14102161184";
const CUSTOMER: &str = "+8618012121222";

#[tokio::test]
async fn when_twenty_agents_pick_up_the_same_session_at_once_should_give_it_to_exactly_one() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let mut agents: Vec<(u64, String)> = Vec::new();
    for i in 0..20 {
        let number = format!("{}", 2000 + i);
        let id = t.extension(&admin, &number).await;
        agents.push((id, number));
    }
    let ids: Vec<u64> = agents.iter().map(|(id, _)| *id).collect();
    let queue = t.queue(&admin, "Rush", "manual", &ids).await;
    t.general_channel(&admin, 10, &[(NUMBER, "queue", queue)]).await;
    let mut tokens = Vec::new();
    for (_, number) in &agents {
        tokens.push(t.token(number, AGENT_PASSWORD).await);
    }

    t.deliver(CUSTOMER, NUMBER, "who takes me?").await;
    let session = t.wait_for_session(&tokens[0], &agents[0].1, NUMBER, CUSTOMER).await;
    // every agent sees it queued before the race starts
    for (token, (_, number)) in tokens.iter().zip(&agents) {
        eventually(SETTLE, &format!("the session in {number}'s list"), || async {
            t.session_ids(token, EXTENSION, number, &[]).await.contains(&session).then_some(())
        })
        .await;
    }

    let replies: Vec<Value> =
        join_all(tokens.iter().zip(&agents).map(|(token, (_, number))| t.pickup(token, number, session))).await;

    let winners: Vec<usize> = (0..replies.len()).filter(|i| replies[*i]["errcode"] == 0).collect();
    assert_eq!(winners.len(), 1, "exactly one pick-up succeeds: {replies:?}");
    let winner = winners[0];
    for (i, reply) in replies.iter().enumerate() {
        if i != winner {
            assert_eq!(reply["errcode"], 70084, "{reply}");
            assert_eq!(reply["reason"], "already_picked_up", "{reply}");
        }
    }
    let detail = t.session_get(&admin, session).await;
    assert_eq!(detail["list"]["status"], "assigned", "{detail}");
    assert_eq!(detail["list"]["assignment"], json!({"type": "extension", "id": agents[winner].0}));
    let picked: Vec<&Value> = detail["list"]["timeline"]
        .as_array()
        .map(|t| t.iter().filter(|e| e["operation"] == "picked_up").collect())
        .unwrap_or_default();
    assert_eq!(picked.len(), 1, "one pick-up in the timeline: {detail}");
    assert_eq!(picked[0]["by"]["user_no"], agents[winner].1.as_str());

    // the winner replies; a loser cannot
    let won = t.send_text(&tokens[winner], EXTENSION, &agents[winner].1, session, "I have you").await;
    assert_eq!(won["errcode"], 0, "{won}");
    let loser = (winner + 1) % agents.len();
    let lost = t.send_text(&tokens[loser], EXTENSION, &agents[loser].1, session, "me too").await;
    assert_ne!(lost["errcode"], 0, "{lost}");
    t.wait_sent("I have you").await;
}

#[tokio::test]
async fn when_a_transfer_races_the_customers_messages_should_keep_each_message_once_in_the_session() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let from_ext = t.extension(&admin, "1000").await;
    let to_ext = t.extension(&admin, "1001").await;
    t.general_channel(&admin, 10, &[(NUMBER, "extension", from_ext)]).await;
    let a = t.token("1000", AGENT_PASSWORD).await;
    let b = t.token("1001", AGENT_PASSWORD).await;

    t.deliver(CUSTOMER, NUMBER, "start").await;
    let session = t.wait_for_session(&a, "1000", NUMBER, CUSTOMER).await;

    let texts: Vec<String> = (0..5).map(|i| format!("racing message {i}")).collect();
    let (transfer, ()) =
        futures::join!(t.transfer(&a, Some((EXTENSION, "1000")), session, "extension", to_ext), async {
            join_all(texts.iter().map(|text| t.deliver(CUSTOMER, NUMBER, text))).await;
        });
    assert_eq!(transfer["errcode"], 0, "{transfer}");

    // every message landed in the session, once, and B owns it
    let history = eventually(SETTLE, "every racing message in the session", || async {
        let h = t.history(&b, session).await;
        let bodies: HashSet<&str> = h.iter().filter_map(|m| m["msg_body"].as_str()).collect();
        texts.iter().all(|x| bodies.contains(x.as_str())).then_some(h.clone())
    })
    .await;
    for text in texts.iter().map(String::as_str).chain(["start"]) {
        let n = history.iter().filter(|m| m["msg_body"] == text).count();
        assert_eq!(n, 1, "{text:?} is in the session {n} times: {history:?}");
    }
    assert_eq!(history.len(), texts.len() + 1, "{history:?}");
    let detail = t.session_get(&b, session).await;
    assert_eq!(detail["list"]["status"], "assigned", "{detail}");
    assert_eq!(detail["list"]["assignment"], json!({"type": "extension", "id": to_ext}));

    // no second session was opened for the customer, for anyone
    let b_list = t.list_sessions(&b, EXTENSION, "1001", &[]).await;
    let mine: Vec<&Value> =
        b_list["list"].as_array().unwrap().iter().filter(|s| s["to"]["user_no"] == CUSTOMER).collect();
    assert_eq!(mine.len(), 1, "{b_list}");
    assert_eq!(mine[0]["id"], session);
    let a_list = t.list_sessions(&a, EXTENSION, "1000", &[]).await;
    assert!(a_list["list"].as_array().unwrap().iter().all(|s| s["to"]["user_no"] != CUSTOMER), "{a_list}");
    assert_eq!(t.session_get(&a, session).await["errcode"], 60001);
    assert_eq!(t.items_with_prefix("ConversationTable", "OPEN#").await, 1, "one open-session lock");
}

#[tokio::test]
async fn when_two_agents_reply_first_in_an_auto_queue_should_send_only_the_accepted_replies() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let a_id = t.extension(&admin, "1000").await;
    let b_id = t.extension(&admin, "1001").await;
    let queue = t.queue(&admin, "Auto", "auto", &[a_id, b_id]).await;
    t.general_channel(&admin, 10, &[(NUMBER, "queue", queue)]).await;
    let agents =
        [(a_id, "1000", t.token("1000", AGENT_PASSWORD).await), (b_id, "1001", t.token("1001", AGENT_PASSWORD).await)];

    // a few rounds, each with a new customer, to give the race several chances
    for (round, customer) in ["+15005550101", "+15005550102", "+15005550103"].into_iter().enumerate() {
        t.deliver(customer, NUMBER, "anyone?").await;
        let session = t.wait_for_session(&agents[0].2, "1000", NUMBER, customer).await;
        eventually(SETTLE, "the session in 1001's list", || async {
            t.session_ids(&agents[1].2, EXTENSION, "1001", &[]).await.contains(&session).then_some(())
        })
        .await;

        let texts: Vec<String> = agents.iter().map(|(_, no, _)| format!("round {round}: {no} here")).collect();
        let replies: Vec<Value> = join_all(
            agents.iter().zip(&texts).map(|((_, no, token), text)| t.send_text(token, EXTENSION, no, session, text)),
        )
        .await;
        let accepted: Vec<usize> = (0..2).filter(|i| replies[*i]["errcode"] == 0).collect();
        assert!(!accepted.is_empty(), "at least one reply is accepted: {replies:?}");
        for (i, reply) in replies.iter().enumerate() {
            match reply["errcode"].as_i64() {
                Some(0 | 60001) => {}
                Some(70084) => assert!(
                    reply["reason"] == "taken" || reply["reason"] == "already_picked_up",
                    "a clean refusal: {reply}"
                ),
                _ => panic!("agent {i}: neither accepted nor cleanly refused: {reply}"),
            }
        }

        // exactly one owner, and it is one whose reply was accepted
        let detail = t.session_get(&admin, session).await;
        assert_eq!(detail["list"]["status"], "assigned", "{detail}");
        assert_eq!(detail["list"]["assignment"]["type"], "extension", "{detail}");
        let owner = agents.iter().position(|(id, _, _)| detail["list"]["assignment"]["id"] == *id).unwrap();
        assert!(accepted.contains(&owner), "the owner's reply was accepted: {replies:?} {detail}");

        // what the provider received is exactly the accepted replies
        for i in &accepted {
            t.wait_sent(&texts[*i]).await;
        }
        let marker = format!("round {round}: marker");
        let r = t.send_text(&agents[owner].2, EXTENSION, agents[owner].1, session, &marker).await;
        assert_eq!(r["errcode"], 0, "{r}");
        t.wait_sent(&marker).await;
        let sent = t.sent_texts();
        let received = texts.iter().filter(|x| sent.contains(x)).count();
        assert_eq!(received, accepted.len(), "one provider call per accepted reply: {replies:?} {sent:?}");
        for text in &texts {
            assert!(sent.iter().filter(|s| *s == text).count() <= 1, "{text:?} sent twice: {sent:?}");
        }
        let stored = t.history(&agents[owner].2, session).await;
        let stored_replies = texts.iter().filter(|x| stored.iter().any(|m| m["msg_body"] == x.as_str())).count();
        assert_eq!(stored_replies, accepted.len(), "only accepted replies are stored: {stored:?}");
    }
}
