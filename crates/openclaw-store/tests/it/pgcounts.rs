//! Statements and commits one answered message costs on PostgreSQL, counted at the client
//! ([`PostgresStore::store_counts`]): the store calls the pipeline makes for one allowed text
//! answered with one reply part (`openclaw-sms`: the webhook's enqueue, the pump's claim,
//! `pipeline.rs` and `outbound.rs`), in their order, and the provider's status callbacks of the
//! sent part (issue 18: at most 12 statements and 4 commits per answered message).

use openclaw_store::{
    ClaimScope, Completion, DeliveryObservation, DeliveryStore as _, HistoryEntry, HistoryLine,
    HistoryStore, IngressQueue as _, NewIntent, NewReply, PairingKey, PairingStore as _,
    PipelineSteps as _, PostgresOptions, PostgresStore, Role, SentPart, StoreCounts,
    TurnLedger as _, body_hash,
};

use crate::support::msg;
use crate::support::pg::fresh_schema;

const ACCOUNT: &str = "default";
const SENDER: &str = "+15551234567";
/// The pump's claim size (`ChannelOptions::max_concurrent`'s default).
const CLAIM_ROOM: usize = 32;

/// One step's cost: statements sent, commits made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cost {
    statements: u64,
    commits: u64,
}

/// Counts what each step costs.
struct Meter<'a> {
    store: &'a PostgresStore,
    last: StoreCounts,
    steps: Vec<(&'static str, Cost)>,
}

impl<'a> Meter<'a> {
    fn new(store: &'a PostgresStore) -> Self {
        Self {
            store,
            last: store.store_counts(),
            steps: Vec::new(),
        }
    }

    fn step(&mut self, name: &'static str) {
        let now = self.store.store_counts();
        let cost = Cost {
            statements: now.statements.unwrap_or(0) - self.last.statements.unwrap_or(0),
            commits: now.transactions - self.last.transactions,
        };
        self.steps.push((name, cost));
        self.last = now;
    }

    fn total(&self, names: &[&str]) -> Cost {
        self.steps
            .iter()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .fold(
                Cost {
                    statements: 0,
                    commits: 0,
                },
                |sum, (_, c)| Cost {
                    statements: sum.statements + c.statements,
                    commits: sum.commits + c.commits,
                },
            )
    }

    fn table(&self) -> String {
        let mut out = String::new();
        for (name, cost) in &self.steps {
            out.push_str(&format!(
                "{name:<28} {:>3} statements {:>2} commits\n",
                cost.statements, cost.commits
            ));
        }
        out
    }
}

fn line(role: Role, text: &str, at: i64) -> HistoryLine {
    HistoryLine {
        account: ACCOUNT.to_owned(),
        peer: SENDER.to_owned(),
        entry: HistoryEntry {
            role,
            text: text.to_owned(),
            at,
        },
    }
}

fn status(status: &str, at: i64) -> DeliveryObservation {
    DeliveryObservation {
        account: ACCOUNT.to_owned(),
        message_sid: "SMout1".to_owned(),
        status: status.to_owned(),
        error_code: None,
        at,
    }
}

/// Runs one answered message's store calls (as the pipeline makes them), metered per step. A
/// sender the config allows is admitted without the store; one approved by pairing (`paired`)
/// costs the two reads of the pairing list.
/// The statements are prepared once per connection: the pool is one connection, warmed up by
/// a first message, so the meter sees the steady state.
async fn answer_one(store: &PostgresStore, event: &str, paired: bool, meter: &mut Meter<'_>) {
    let key = PairingKey::new("sms", ACCOUNT);
    let reply_id = format!("reply:{ACCOUNT}:{event}");
    store
        .enqueue(msg(ACCOUNT, event, &format!("sender:{SENDER}"), 1))
        .await
        .unwrap();
    meter.step("enqueue (webhook ack)");
    let claimed = store
        .claim_next(ClaimScope::Account(ACCOUNT.to_owned()), 2, CLAIM_ROOM)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    meter.step("claim");
    let context = store
        .answer_context(ACCOUNT, SENDER, &reply_id, 10)
        .await
        .unwrap();
    assert!(!context.opted_out);
    assert!(context.saved.is_none());
    meter.step("opt-out, saved reply, history");
    if paired {
        store.allow_entries(&key).await.unwrap();
        store.list_requests(&key, 3, 3_600_000).await.unwrap();
        meter.step("access (pairing reads)");
    }
    store.record_agent_turn(ACCOUNT, event, 4).await.unwrap();
    meter.step("agent turn counted");
    let reply = NewReply {
        reply_id: reply_id.clone(),
        account: ACCOUNT.to_owned(),
        recipient: SENDER.to_owned(),
        text: "hello".to_owned(),
        created_at: 5,
    };
    let first = NewIntent {
        reply_id: reply_id.clone(),
        account: ACCOUNT.to_owned(),
        recipient: SENDER.to_owned(),
        body_hash: body_hash("hello"),
        part_index: 0,
        part_count: 1,
        created_at: 5,
    };
    let saved = store
        .save_answer_sending(reply, line(Role::User, "hi", 1), first)
        .await
        .unwrap();
    meter.step("answer + history + intent");
    let first = saved
        .first
        .expect("the first part's intent is written with the answer");
    assert_eq!(first.opted_out, None);
    let sid = format!("SMout{event}");
    let sent = SentPart {
        intent: first.intent.id,
        message_sid: sid.clone(),
        day: "2026-12-05".to_owned(),
        segments: 1,
        now: 7,
    };
    let queued = DeliveryObservation {
        message_sid: sid.clone(),
        ..status("queued", 7)
    };
    let done = Completion {
        id: claimed[0].id,
        assistant: Some(line(Role::Assistant, "hello", 8)),
    };
    let completed = store
        .last_part_sent(sent, Some(queued), done)
        .await
        .unwrap();
    assert!(completed);
    meter.step("part sent + complete");
    for (word, at) in [("sent", 9), ("delivered", 10)] {
        let observation = DeliveryObservation {
            message_sid: sid.clone(),
            ..status(word, at)
        };
        store.record_delivery(observation).await.unwrap();
    }
    meter.step("status callbacks (2)");
    let history = store.recent_history(ACCOUNT, SENDER, 10).await.unwrap();
    assert_eq!(history.last().map(|e| e.role), Some(Role::Assistant));
    let delivery = store.delivery(ACCOUNT, &sid).await.unwrap().unwrap();
    assert_eq!(delivery.status, "delivered");
}

/// One answered message, counted step by step; the counts are deterministic (one connection,
/// statements prepared by a first message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_answered_message_costs_counted_statements_and_commits() {
    let options = PostgresOptions {
        max_connections: 1,
        ..PostgresOptions::default()
    };
    let Some(db) = fresh_schema(options).await else {
        return;
    };
    let store = &db.store;
    let mut warm_up = Meter::new(store);
    answer_one(store, "SM0", true, &mut warm_up).await;
    let mut meter = Meter::new(store);
    answer_one(store, "SM1", false, &mut meter).await;
    let table = meter.table();
    println!("{table}");
    let cost = |statements, commits| Cost {
        statements,
        commits,
    };
    let expected = [
        ("enqueue (webhook ack)", cost(1, 1)),
        ("claim", cost(1, 1)),
        ("opt-out, saved reply, history", cost(1, 0)),
        ("agent turn counted", cost(1, 1)),
        ("answer + history + intent", cost(1, 1)),
        ("part sent + complete", cost(1, 1)),
        ("status callbacks (2)", cost(2, 2)),
    ];
    assert_eq!(meter.steps, expected, "{table}");
    // Before issue 18's cut: 49 statements and 9 commits (BEGIN/COMMIT around each step, a
    // savepoint around each best-effort part, a read after each write, the pairing list read
    // for a sender the config allows); then 11 and 7 (a statement per step); now 6 and 5: the
    // opt-out check, the saved answer and the history are one read; the answer, its history
    // line, the first part's intent and the opt-out check before the send are one step; and
    // the last part sent, its first status, its usage, the completion and the assistant's
    // line another. The 5 commits are one per store call that must be durable
    // before the next: the ack, the claim, the agent turn (before the model is asked), the
    // answer with its intent (before the provider is asked), and the sent part.
    let callbacks = ["status callbacks (2)"];
    let pipeline: Vec<&str> = expected
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !callbacks.contains(n))
        .collect();
    assert_eq!(meter.total(&pipeline), cost(6, 5), "{table}");
    assert_eq!(meter.total(&[]), cost(8, 7), "{table}");
    // An idle poll of the pump: a claim that finds nothing is one statement and no commit.
    let mut idle = Meter::new(store);
    let none = store
        .claim_next(ClaimScope::Account(ACCOUNT.to_owned()), 20, CLAIM_ROOM)
        .await
        .unwrap();
    assert!(none.is_empty());
    idle.step("empty claim");
    assert_eq!(idle.steps, [("empty claim", cost(1, 0))]);
    // A sender approved by pairing adds the pairing list's two reads.
    let mut paired = Meter::new(store);
    answer_one(store, "SM2", true, &mut paired).await;
    assert_eq!(
        paired.total(&["access (pairing reads)"]),
        cost(2, 0),
        "{}",
        paired.table()
    );
    db.drop_schema().await;
}
