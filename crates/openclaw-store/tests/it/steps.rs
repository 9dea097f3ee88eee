//! The pipeline's steps ([`PipelineSteps`]): each means its parts in sequence, on both
//! backends; on SQLite each is one write job.

use std::sync::Arc;

use openclaw_store::{
    ClaimScope, Completion, DeliveryObservation, HistoryEntry, HistoryLine, HistoryStore,
    IngressQueue, IngressState, IntentState, NewIntent, NewReply, OptOut, OptOutStore,
    OutboundStore, PipelineSteps, Role, SentPart, SqliteStore, Store, StoreOptions, body_hash,
};

use crate::support::{db_path, msg, on_both_backends};

fn sent(intent: openclaw_store::IntentId, sid: &str, now: i64) -> SentPart {
    SentPart {
        intent,
        message_sid: sid.to_owned(),
        day: "2026-12-05".to_owned(),
        segments: 2,
        now,
    }
}

fn line(role: Role, text: &str, at: i64) -> HistoryLine {
    HistoryLine {
        account: "a".to_owned(),
        peer: "+1555".to_owned(),
        entry: HistoryEntry {
            role,
            text: text.to_owned(),
            at,
        },
    }
}

fn reply(text: &str) -> NewReply {
    NewReply {
        reply_id: "reply:a:SM1".to_owned(),
        account: "a".to_owned(),
        recipient: "+1555".to_owned(),
        text: text.to_owned(),
        created_at: 1,
    }
}

async fn an_answer_is_saved_sent_and_completed_in_three_steps(store: Arc<dyn Store>) {
    store.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
    let claimed = store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
    let saved = store
        .save_answer(reply("one"), line(Role::User, "hi", 1))
        .await
        .unwrap();
    assert_eq!(saved.text, "one");
    // First writer wins, as with save_reply.
    let again = store
        .save_answer(reply("two"), line(Role::User, "hi", 1))
        .await
        .unwrap();
    assert_eq!(again.text, "one");
    let intent = store
        .create_intent(NewIntent {
            reply_id: "reply:a:SM1".to_owned(),
            account: "a".to_owned(),
            recipient: "+1555".to_owned(),
            body_hash: body_hash("one"),
            part_index: 0,
            part_count: 1,
            created_at: 2,
        })
        .await
        .unwrap();
    let first = DeliveryObservation {
        account: "a".to_owned(),
        message_sid: "SMout".to_owned(),
        status: "queued".to_owned(),
        error_code: None,
        at: 3,
    };
    store
        .part_sent(sent(intent.intent().id, "SMout", 3), Some(first))
        .await
        .unwrap();
    let intents = store.intents_for_reply("reply:a:SM1").await.unwrap();
    assert_eq!(intents[0].state, IntentState::Sent);
    assert_eq!(intents[0].message_sid.as_deref(), Some("SMout"));
    let delivery = store.delivery("a", "SMout").await.unwrap().unwrap();
    assert_eq!(delivery.status, "queued");
    // The same step counted the part's segments for its day and recipient.
    let usage = store.day_usage("a", "2026-12-05", "+1555").await.unwrap();
    assert_eq!((usage.peer_segments, usage.account_segments), (2, 2));
    // A part is sent once: a second outcome is refused.
    assert!(
        store
            .part_sent(sent(intent.intent().id, "SMother", 4), None)
            .await
            .is_err()
    );
    store
        .complete_answered(claimed[0].id, 5, Some(line(Role::Assistant, "one", 5)))
        .await
        .unwrap();
    let history = store.recent_history("a", "+1555", 10).await.unwrap();
    let lines: Vec<_> = history.iter().map(|e| (e.role, e.text.as_str())).collect();
    assert_eq!(
        lines,
        [
            (Role::User, "hi"),
            (Role::User, "hi"),
            (Role::Assistant, "one")
        ]
    );
    // Completed: a retry of the same event is a duplicate of a finished message.
    let dup = store.enqueue(msg("a", "SM1", "+1555", 6)).await.unwrap();
    assert!(matches!(
        dup,
        openclaw_store::Enqueued::Duplicate {
            state: IngressState::Completed,
            ..
        }
    ));
    // Completing again is refused and changes nothing.
    assert!(
        store
            .complete_answered(claimed[0].id, 7, None)
            .await
            .is_err()
    );
}

on_both_backends!(an_answer_is_saved_sent_and_completed_in_three_steps);

fn first_intent(text: &str, created_at: i64) -> NewIntent {
    NewIntent {
        reply_id: "reply:a:SM1".to_owned(),
        account: "a".to_owned(),
        recipient: "+1555".to_owned(),
        body_hash: body_hash(text),
        part_index: 0,
        part_count: 2,
        created_at,
    }
}

fn queued(sid: &str, at: i64) -> DeliveryObservation {
    DeliveryObservation {
        account: "a".to_owned(),
        message_sid: sid.to_owned(),
        status: "queued".to_owned(),
        error_code: None,
        at,
    }
}

fn completion(id: openclaw_store::IngressId, text: &str, at: i64) -> Completion {
    Completion {
        id,
        assistant: Some(line(Role::Assistant, text, at)),
    }
}

/// The folded steps: the answer with its first part's intent and the recipient's opt-out,
/// and the last part sent with the message's completion; each means its parts in sequence.
async fn an_answer_is_saved_with_its_intent_and_completed_with_its_last_part(
    store: Arc<dyn Store>,
) {
    store.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
    let claimed = store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
    let stop = OptOut {
        account: "a".to_owned(),
        number: "+1555".to_owned(),
        keyword: "STOP".to_owned(),
        at: 1,
    };
    store.set_opt_out(stop.clone()).await.unwrap();
    let saved = store
        .save_answer_sending(
            reply("one"),
            line(Role::User, "hi", 1),
            first_intent("o", 2),
        )
        .await
        .unwrap();
    assert_eq!(saved.reply.text, "one");
    let first = saved
        .first
        .expect("the intent is written with a new answer");
    assert_eq!(first.opted_out, Some(stop));
    assert_eq!(first.intent.state, IntentState::Pending);
    assert_eq!((first.intent.part_index, first.intent.part_count), (0, 2));
    let stored = store.intents_for_reply("reply:a:SM1").await.unwrap();
    assert_eq!(stored, std::slice::from_ref(&first.intent));
    // An answer saved before: no intent from this step (the caller creates it as usual).
    store.clear_opt_out("a", "+1555").await.unwrap();
    let again = store
        .save_answer_sending(
            reply("two"),
            line(Role::User, "hi", 1),
            first_intent("t", 3),
        )
        .await
        .unwrap();
    assert_eq!((again.reply.text.as_str(), again.first), ("one", None));
    assert_eq!(
        store.intents_for_reply("reply:a:SM1").await.unwrap().len(),
        1
    );
    // A part index beyond the count is refused, as by create_intent.
    let mut beyond = first_intent("x", 4);
    beyond.part_index = 2;
    assert!(
        store
            .save_answer_sending(reply("x"), line(Role::User, "hi", 1), beyond)
            .await
            .is_err()
    );
    let completed = store
        .last_part_sent(
            sent(first.intent.id, "SMout", 5),
            Some(queued("SMout", 5)),
            completion(claimed[0].id, "one", 5),
        )
        .await
        .unwrap();
    assert!(completed);
    let intents = store.intents_for_reply("reply:a:SM1").await.unwrap();
    assert_eq!(intents[0].state, IntentState::Sent);
    let delivery = store.delivery("a", "SMout").await.unwrap().unwrap();
    assert_eq!(delivery.status, "queued");
    let usage = store.day_usage("a", "2026-12-05", "+1555").await.unwrap();
    assert_eq!(usage.peer_segments, 2);
    let dup = store.enqueue(msg("a", "SM1", "+1555", 6)).await.unwrap();
    assert!(matches!(
        dup,
        openclaw_store::Enqueued::Duplicate {
            state: IngressState::Completed,
            ..
        }
    ));
    let history = store.recent_history("a", "+1555", 10).await.unwrap();
    let lines: Vec<_> = history.iter().map(|e| (e.role, e.text.as_str())).collect();
    assert_eq!(
        lines,
        [
            (Role::User, "hi"),
            (Role::User, "hi"),
            (Role::Assistant, "one")
        ]
    );
    // A part is sent once: a second outcome is refused, with or without a completion.
    assert!(
        store
            .last_part_sent(
                sent(first.intent.id, "SMother", 7),
                None,
                completion(claimed[0].id, "one", 7),
            )
            .await
            .is_err()
    );
}

on_both_backends!(an_answer_is_saved_with_its_intent_and_completed_with_its_last_part);

/// The sent part is what must hold: when the message cannot be completed with it (here it
/// was completed already), the part is still marked sent and counted, the step says so, and
/// no assistant line is written.
async fn a_last_part_whose_completion_is_refused_is_still_marked_sent(store: Arc<dyn Store>) {
    store.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
    let claimed = store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
    let saved = store
        .save_answer_sending(
            reply("one"),
            line(Role::User, "hi", 1),
            first_intent("o", 2),
        )
        .await
        .unwrap();
    let intent = saved.first.unwrap().intent;
    store
        .complete_answered(claimed[0].id, 3, None)
        .await
        .unwrap();
    let completed = store
        .last_part_sent(
            sent(intent.id, "SMout", 4),
            Some(queued("SMout", 4)),
            completion(claimed[0].id, "late", 4),
        )
        .await
        .unwrap();
    assert!(!completed);
    let intents = store.intents_for_reply("reply:a:SM1").await.unwrap();
    assert_eq!(intents[0].state, IntentState::Sent);
    assert_eq!(intents[0].message_sid.as_deref(), Some("SMout"));
    let usage = store.day_usage("a", "2026-12-05", "+1555").await.unwrap();
    assert_eq!(usage.peer_segments, 2);
    let history = store.recent_history("a", "+1555", 10).await.unwrap();
    let lines: Vec<_> = history.iter().map(|e| (e.role, e.text.as_str())).collect();
    assert_eq!(lines, [(Role::User, "hi")]);
}

on_both_backends!(a_last_part_whose_completion_is_refused_is_still_marked_sent);

/// On SQLite the folded steps are one write job each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_each_folded_step_is_one_write_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir), &StoreOptions::default())
        .await
        .unwrap();
    store.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
    let claimed = store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
    let before = store.write_counts();
    let saved = store
        .save_answer_sending(
            reply("one"),
            line(Role::User, "hi", 1),
            first_intent("o", 2),
        )
        .await
        .unwrap();
    let intent = saved.first.unwrap().intent;
    let completed = store
        .last_part_sent(
            sent(intent.id, "SMout", 3),
            Some(queued("SMout", 3)),
            completion(claimed[0].id, "one", 3),
        )
        .await
        .unwrap();
    assert!(completed);
    let after = store.write_counts();
    assert_eq!(after.write_jobs - before.write_jobs, 2);
}

/// On SQLite the reads before an answer are one job: on an in-memory store, whose reads run on
/// the writer and are counted there, `answer_context` is one job where the three single reads
/// it replaces are three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_the_answer_context_is_one_read_job() {
    let store = SqliteStore::open_in_memory().unwrap();
    let before = store.write_counts();
    store.is_opted_out("a", "+1555").await.unwrap();
    store.reply("reply:a:SM1").await.unwrap();
    store.recent_history("a", "+1555", 2).await.unwrap();
    let singles = store.write_counts().write_jobs - before.write_jobs;
    let before = store.write_counts();
    store
        .answer_context("a", "+1555", "reply:a:SM1", 2)
        .await
        .unwrap();
    let together = store.write_counts().write_jobs - before.write_jobs;
    assert_eq!((singles, together), (3, 1));
}

/// On SQLite each step is one write job; a refused completion leaves no history line behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_each_step_is_one_write_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir), &StoreOptions::default())
        .await
        .unwrap();
    store.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
    let claimed = store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
    let before = store.write_counts();
    store
        .save_answer(reply("one"), line(Role::User, "hi", 1))
        .await
        .unwrap();
    store
        .complete_answered(claimed[0].id, 2, Some(line(Role::Assistant, "one", 2)))
        .await
        .unwrap();
    let after = store.write_counts();
    assert_eq!(after.write_jobs - before.write_jobs, 2);
    assert!(
        store
            .complete_answered(claimed[0].id, 3, Some(line(Role::Assistant, "late", 3)))
            .await
            .is_err()
    );
    let history = store.recent_history("a", "+1555", 10).await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
}

/// PostgreSQL cases: the best-effort parts of a step and the fenced completion.
#[cfg(feature = "postgres")]
mod postgres {
    use openclaw_store::{
        CLAIMED_ELSEWHERE, DeliveryStore, OutboundStore, PostgresOptions, StoreError, UsageStore,
    };

    use super::*;
    use crate::support::pg::fresh_schema;

    /// A history line PostgreSQL refuses: a `text` value cannot hold a NUL character (an agent
    /// or a sender can produce one), so the insert fails on the server.
    fn unstorable(role: Role, at: i64) -> HistoryLine {
        line(role, "bad\0line", at)
    }

    /// A history line or first delivery status whose write fails is rolled back alone (its
    /// savepoint): the saved answer, the sent part and the completion still hold.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_best_effort_part_does_not_undo_the_step() {
        let Some(db) = fresh_schema(PostgresOptions::default()).await else {
            return;
        };
        let store = &db.store;
        store.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
        let claimed = store.claim_next(ClaimScope::All, 1, 1).await.unwrap();
        let saved = store
            .save_answer(reply("one"), unstorable(Role::User, 1))
            .await
            .unwrap();
        assert_eq!(saved.text, "one");
        assert_eq!(
            store.reply("reply:a:SM1").await.unwrap().map(|r| r.text),
            Some("one".to_owned())
        );
        let intent = store
            .create_intent(NewIntent {
                reply_id: "reply:a:SM1".to_owned(),
                account: "a".to_owned(),
                recipient: "+1555".to_owned(),
                body_hash: body_hash("one"),
                part_index: 0,
                part_count: 1,
                created_at: 2,
            })
            .await
            .unwrap();
        let unstorable_status = DeliveryObservation {
            account: "a".to_owned(),
            message_sid: "SMout".to_owned(),
            status: "queued\0".to_owned(),
            error_code: None,
            at: 3,
        };
        store
            .part_sent(
                sent(intent.intent().id, "SMout", 3),
                Some(unstorable_status),
            )
            .await
            .unwrap();
        assert!(store.delivery("a", "SMout").await.unwrap().is_none());
        let intents = store.intents_for_reply("reply:a:SM1").await.unwrap();
        assert_eq!(intents[0].state, IntentState::Sent);
        let usage = store.day_usage("a", "2026-12-05", "+1555").await.unwrap();
        assert_eq!(usage.peer_segments, 2);
        store
            .complete_answered(claimed[0].id, 4, Some(unstorable(Role::Assistant, 4)))
            .await
            .unwrap();
        let dup = store.enqueue(msg("a", "SM1", "+1555", 5)).await.unwrap();
        assert!(matches!(
            dup,
            openclaw_store::Enqueued::Duplicate {
                state: IngressState::Completed,
                ..
            }
        ));
        assert!(
            store
                .recent_history("a", "+1555", 10)
                .await
                .unwrap()
                .is_empty()
        );
        db.drop_schema().await;
    }

    /// A gateway whose lease was taken over cannot complete the message: the step fails as a
    /// whole (its assistant line is rolled back too) and the message stays claimed by the
    /// gateway that took it over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_completion_by_a_gateway_that_lost_the_claim_fails_and_writes_nothing() {
        let Some(db) = fresh_schema(PostgresOptions::default()).await else {
            return;
        };
        let (a, b) = (&db.store, db.node().await);
        a.enqueue(msg("a", "SM1", "+1555", 1)).await.unwrap();
        let mine = a.claim_next(ClaimScope::All, 1, 1).await.unwrap();
        let later = 1 + 2 * db.options.lease_ms;
        let taken = b.claim_next(ClaimScope::All, later, 1).await.unwrap();
        assert_eq!(taken[0].id, mine[0].id);
        let late = a
            .complete_answered(
                mine[0].id,
                later + 1,
                Some(line(Role::Assistant, "late", 2)),
            )
            .await;
        match late {
            Err(StoreError::ChangeState { action, state, .. }) => {
                assert_eq!((action, state.as_str()), ("complete", CLAIMED_ELSEWHERE));
            }
            other => panic!("expected a refused completion, got {other:?}"),
        }
        assert!(a.recent_history("a", "+1555", 10).await.unwrap().is_empty());
        // Still claimed, by `b`: its own completion goes through.
        b.complete_answered(
            taken[0].id,
            later + 2,
            Some(line(Role::Assistant, "one", 3)),
        )
        .await
        .unwrap();
        let history = a.recent_history("a", "+1555", 10).await.unwrap();
        assert_eq!(history.len(), 1, "{history:?}");
        b.close().await;
        db.drop_schema().await;
    }
}

/// The reads before an answer, as one: what `is_opted_out`, `reply` and `recent_history`
/// answer.
async fn the_answer_context_is_what_the_single_reads_answer(store: Arc<dyn Store>) {
    let empty = store
        .answer_context("a", "+1555", "reply:a:SM1", 2)
        .await
        .unwrap();
    assert!(!empty.opted_out);
    assert_eq!((empty.saved, empty.history), (None, Vec::new()));
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        let at = i64::try_from(i).unwrap();
        let l = line(Role::User, text, at);
        store
            .append_history(&l.account, &l.peer, l.entry)
            .await
            .unwrap();
    }
    store.save_reply(reply("answer")).await.unwrap();
    store
        .set_opt_out(OptOut {
            account: "a".to_owned(),
            number: "+1555".to_owned(),
            keyword: "STOP".to_owned(),
            at: 9,
        })
        .await
        .unwrap();
    let context = store
        .answer_context("a", "+1555", "reply:a:SM1", 2)
        .await
        .unwrap();
    assert!(context.opted_out);
    assert_eq!(context.saved, store.reply("reply:a:SM1").await.unwrap());
    assert_eq!(context.saved.map(|s| s.text), Some("answer".to_owned()));
    assert_eq!(
        context.history,
        store.recent_history("a", "+1555", 2).await.unwrap()
    );
    let texts: Vec<_> = context.history.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["two", "three"]);
    // Another peer: none of it.
    let other = store
        .answer_context("a", "+1666", "reply:a:SM2", 2)
        .await
        .unwrap();
    assert!(!other.opted_out);
    assert_eq!((other.saved, other.history), (None, Vec::new()));
}

on_both_backends!(the_answer_context_is_what_the_single_reads_answer);
