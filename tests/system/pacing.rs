//! The channel's send rate holds across concurrent senders, in every one-second window.

use std::time::Duration;

use domain::pacing::max_calls_in_any_second;
use domain::time::Timestamp;
use system_tests::{Conversation, eventually};

#[tokio::test]
async fn thirty_messages_at_five_per_second_never_exceed_five_in_any_second() {
    let c = Conversation::start(5).await;
    let t = &c.t;

    // 30 replies as fast as the API takes them
    let texts: Vec<String> = (0..30).map(|i| format!("message {i}")).collect();
    futures::future::join_all(texts.iter().map(|text| c.reply(text))).await;

    let calls = eventually(Duration::from_secs(40), "30 provider calls", || async {
        let sent = t.sandbox.sent();
        (sent.len() >= 30).then_some(sent)
    })
    .await;
    assert_eq!(calls.len(), 30, "each message is sent exactly once");
    let times: Vec<Timestamp> = calls.iter().map(|c| Timestamp::from_datetime(c.received_at)).collect();
    let worst = max_calls_in_any_second(&times);
    let span = times.iter().max().unwrap().since(*times.iter().min().unwrap());
    eprintln!("pacing: max {worst} calls in any one-second window; 30 calls over {span:?}");
    assert!(worst <= 5, "{worst} calls in one second at send_rate 5");
    // 29 gaps of 220 ms = 6.38 s at best; allow slack for queue polling
    assert!(span >= Duration::from_millis(6_200), "too fast: {span:?}");
    assert!(span <= Duration::from_secs(12), "too slow: {span:?}");
}
