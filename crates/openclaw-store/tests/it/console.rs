//! The console's read-only queries: a recipient's replies with parts and delivery records,
//! an account's history page by page, delivery errors by code.

use std::sync::Arc;

use openclaw_store::{
    AccountTurn, DeliveryObservation, ErrorCount, HistoryEntry, IntentState, NewIntent, NewReply,
    PartDelivery, Role, Store, body_hash,
};

use crate::support::on_both_backends;

async fn part(store: &dyn Store, reply: &str, to: &str, index: u32, count: u32, at: i64) -> i64 {
    store
        .create_intent(NewIntent {
            reply_id: reply.into(),
            account: "a".into(),
            recipient: to.into(),
            body_hash: body_hash(reply),
            part_index: index,
            part_count: count,
            created_at: at,
        })
        .await
        .unwrap()
        .intent()
        .id
        .as_i64()
}

async fn observe(store: &dyn Store, sid: &str, status: &str, code: Option<&str>, at: i64) {
    store
        .record_delivery(DeliveryObservation {
            account: "a".into(),
            message_sid: sid.into(),
            status: status.into(),
            error_code: code.map(str::to_owned),
            at,
        })
        .await
        .unwrap();
}

async fn replies_come_with_parts_and_delivery(store: Arc<dyn Store>) {
    let s = &*store;
    s.save_reply(NewReply {
        reply_id: "r1".into(),
        account: "a".into(),
        recipient: "+1".into(),
        text: "first answer".into(),
        created_at: 10,
    })
    .await
    .unwrap();
    let p0 = part(s, "r1", "+1", 0, 2, 10).await;
    let p1 = part(s, "r1", "+1", 1, 2, 11).await;
    part(s, "r2", "+1", 0, 1, 20).await;
    part(s, "other", "+2", 0, 1, 30).await;
    s.mark_sent(openclaw_store::IntentId::new(p0), "SM0", 12)
        .await
        .unwrap();
    s.mark_failed(openclaw_store::IntentId::new(p1), "Twilio 21610", 13)
        .await
        .unwrap();
    observe(s, "SM0", "sent", None, 14).await;

    let replies = s.replies_to("a", "+1", 10).await.unwrap();
    let ids: Vec<&str> = replies.iter().map(|r| r.reply_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2"]);
    let first = &replies[0];
    assert_eq!(
        (first.text.as_deref(), first.created_at, first.parts.len()),
        (Some("first answer"), 10, 2)
    );
    assert_eq!(first.parts[0].state, IntentState::Sent);
    assert_eq!(
        first.parts[0].delivery,
        Some(PartDelivery {
            status: "sent".into(),
            error_code: None,
            last_observed_at: 14
        })
    );
    assert_eq!(
        (first.parts[1].state, first.parts[1].error.as_deref()),
        (IntentState::Failed, Some("Twilio 21610"))
    );
    assert_eq!(first.parts[1].delivery, None);
    assert_eq!(replies[1].text, None);

    // A status callback moves the part on: the next read shows it.
    observe(s, "SM0", "undelivered", Some("30007"), 15).await;
    let again = s.replies_to("a", "+1", 10).await.unwrap();
    let delivery = again[0].parts[0].delivery.clone().unwrap();
    assert_eq!(
        (delivery.status.as_str(), delivery.error_code.as_deref()),
        ("undelivered", Some("30007"))
    );

    // The limit keeps the newest replies; other recipients and accounts stay out.
    let last = s.replies_to("a", "+1", 1).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].reply_id, "r2");
    assert!(s.replies_to("b", "+1", 10).await.unwrap().is_empty());
}

async fn account_history_pages_by_id(store: Arc<dyn Store>) {
    let s = &*store;
    for (peer, text, at) in [("+1", "a", 100), ("+2", "b", 200), ("+1", "c", 300)] {
        s.append_history(
            "a",
            peer,
            HistoryEntry {
                role: Role::User,
                text: text.into(),
                at,
            },
        )
        .await
        .unwrap();
    }
    s.append_history(
        "b",
        "+9",
        HistoryEntry {
            role: Role::Assistant,
            text: "elsewhere".into(),
            at: 150,
        },
    )
    .await
    .unwrap();
    let first = s.account_history("a", 0, i64::MIN, 2).await.unwrap();
    let texts: Vec<(&str, &str)> = first
        .iter()
        .map(|t| (t.peer.as_str(), t.entry.text.as_str()))
        .collect();
    assert_eq!(texts, [("+1", "a"), ("+2", "b")]);
    let rest = s
        .account_history("a", first[1].id, i64::MIN, 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|t| t.entry.text.as_str())
            .collect::<Vec<_>>(),
        ["c"]
    );
    assert!(
        s.account_history("a", rest[0].id, i64::MIN, 2)
            .await
            .unwrap()
            .is_empty()
    );
    let since: Vec<AccountTurn> = s.account_history("a", 0, 200, 10).await.unwrap();
    assert_eq!(
        since.iter().map(|t| t.entry.at).collect::<Vec<_>>(),
        [200, 300]
    );
}

async fn delivery_errors_count_per_code(store: Arc<dyn Store>) {
    let s = &*store;
    observe(s, "SM1", "undelivered", Some("30007"), 100).await;
    observe(s, "SM2", "failed", Some("30007"), 300).await;
    observe(s, "SM3", "undelivered", Some("30003"), 200).await;
    observe(s, "SM4", "delivered", None, 250).await;
    observe(s, "SM5", "failed", Some("30005"), 10).await;
    let errors = s.delivery_errors("a", 50, 10).await.unwrap();
    assert_eq!(
        errors,
        [
            ErrorCount {
                code: "30007".into(),
                count: 2,
                last_at: 300
            },
            ErrorCount {
                code: "30003".into(),
                count: 1,
                last_at: 200
            },
        ]
    );
    assert_eq!(s.delivery_errors("a", 0, 1).await.unwrap().len(), 1);
    assert!(s.delivery_errors("b", 0, 10).await.unwrap().is_empty());
}

on_both_backends!(
    replies_come_with_parts_and_delivery,
    account_history_pages_by_id,
    delivery_errors_count_per_code,
);
