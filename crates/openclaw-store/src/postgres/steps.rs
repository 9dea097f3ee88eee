//! [`PipelineSteps`] on PostgreSQL: each step is one statement (one round trip and its own
//! commit; data-modifying CTEs make it atomic). The part that must hold (the saved answer, the
//! sent part, the completion) and the best-effort part (a history line, the provider's first
//! delivery status) go together; when the statement fails, the part that must hold is written
//! again alone, so that a failed best-effort part never undoes it (as a savepoint did, without
//! its three round trips on every step).

use async_trait::async_trait;

use super::conn::{Conn, Sql};
use super::delivery::{DeliveryParams, record_delivery_sql};
use super::ingress::{complete_in, query, query_opt, refused_completion, try_query_wrote};
use super::outbound::{reply_row, save_reply_in, saved_reply};
use super::usage::{MARK_SENT_SQL, mark_sent_refused};
use super::{PostgresStore, decode, pg};
use crate::outbound::check_part_index;
use crate::steps::{AnswerContext, Completion, FirstPart, HistoryLine, PipelineSteps, SavedAnswer};
use crate::{
    DeliveryObservation, HistoryEntry, IngressId, IntentId, IntentState, NewIntent, NewReply,
    OptOut, OutboundIntent, Role, SavedReply, SentPart, StoreError,
};

const HISTORY_FAILED: &str = "could not append to the conversation history";
const STATUS_FAILED: &str = "SMS delivery initial state could not be persisted";

/// Deletes a peer's oldest history lines so that `$keep` of those before this statement stay
/// (the line this statement adds makes the cap); `{account}` and `{peer}` are parameters.
fn cap_history(account: &str, peer: &str, keep: &str, guard: &str) -> String {
    format!(
        "DELETE FROM history WHERE {guard} account = {account} AND peer = {peer} AND id <= (
            SELECT id FROM history WHERE account = {account} AND peer = {peer}
            ORDER BY id DESC LIMIT 1 OFFSET {keep})"
    )
}

/// Saves a reply (the first writer's text wins) and appends the user's line (capped), then
/// answers what is saved: `$1..$5` the reply, `$6..$10` the line, `$11` lines kept besides it,
/// `$12` whether there is a line.
static SAVE_ANSWER_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH saved AS (
            INSERT INTO saved_replies (reply_id, account, recipient, text, created_at)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reply_id) DO NOTHING
            RETURNING reply_id, account, recipient, text, created_at
        ),
        line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $6::text, $7::text, $8::text, $9::text, $10::bigint WHERE $12::boolean
        ),
        capped AS ({})
        SELECT reply_id, account, recipient, text, created_at FROM saved
        UNION ALL
        SELECT reply_id, account, recipient, text, created_at FROM saved_replies
        WHERE reply_id = $1 AND NOT EXISTS (SELECT 1 FROM saved)",
        cap_history("$6", "$7", "$11::bigint", "$12::boolean AND")
    )
});

/// [`SAVE_ANSWER_SQL`] (`$1..$12`) and, only when the reply is saved now, the first part's
/// intent (`$13..$19`: reply id, account, recipient, body hash, part index, part count, now);
/// answers the saved reply with the new intent's id (NULL when none) and the recipient's
/// opt-out (keyword and time, NULL when none).
static SAVE_ANSWER_SENDING_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH saved AS (
            INSERT INTO saved_replies (reply_id, account, recipient, text, created_at)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reply_id) DO NOTHING
            RETURNING reply_id, account, recipient, text, created_at
        ),
        line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $6::text, $7::text, $8::text, $9::text, $10::bigint WHERE $12::boolean
        ),
        capped AS ({}),
        intent AS (
            INSERT INTO outbound_intents (reply_id, account, recipient, body_hash, part_index,
                                          part_count, state, created_at, updated_at)
            SELECT $13::text, $14::text, $15::text, $16::text, $17::bigint, $18::bigint,
                   'pending', $19::bigint, $19::bigint FROM saved
            ON CONFLICT (reply_id, part_index) DO NOTHING RETURNING id
        )
        SELECT s.reply_id, s.account, s.recipient, s.text, s.created_at,
               (SELECT id FROM intent), o.keyword, o.at
        FROM saved s LEFT JOIN opt_outs o ON o.account = $14 AND o.number = $15
        UNION ALL
        SELECT reply_id, account, recipient, text, created_at, NULL::bigint, NULL::text,
               NULL::bigint
        FROM saved_replies WHERE reply_id = $1 AND NOT EXISTS (SELECT 1 FROM saved)",
        cap_history("$6", "$7", "$11::bigint", "$12::boolean AND")
    )
});

/// The reads before an answer (`$1` account, `$2` peer, `$3` reply id, `$4` history lines):
/// whether the peer opted out, the saved reply (NULLs when none) and the recent history
/// (oldest first, as arrays; NULL when empty).
const ANSWER_CONTEXT_SQL: &str = "SELECT
        EXISTS (SELECT 1 FROM opt_outs WHERE account = $1 AND number = $2),
        r.reply_id, r.account, r.recipient, r.text, r.created_at,
        h.roles, h.texts, h.ats
    FROM (SELECT 1) AS one
    LEFT JOIN saved_replies r ON r.reply_id = $3
    CROSS JOIN LATERAL (
        SELECT array_agg(role ORDER BY id) AS roles, array_agg(text ORDER BY id) AS texts,
               array_agg(at ORDER BY id) AS ats
        FROM (SELECT id, role, text, at FROM history WHERE account = $1 AND peer = $2
              ORDER BY id DESC LIMIT $4) AS recent
    ) AS h";

/// An [`ANSWER_CONTEXT_SQL`] row.
fn answer_context_row(row: &tokio_postgres::Row) -> Result<AnswerContext, StoreError> {
    let d = decode("answer context");
    let saved = match row.try_get::<_, Option<String>>(1).map_err(&d)? {
        None => None,
        Some(reply_id) => Some(SavedReply {
            reply_id,
            account: row.try_get(2).map_err(&d)?,
            recipient: row.try_get(3).map_err(&d)?,
            text: row.try_get(4).map_err(&d)?,
            created_at: row.try_get(5).map_err(&d)?,
        }),
    };
    let roles: Vec<String> = row
        .try_get::<_, Option<_>>(6)
        .map_err(&d)?
        .unwrap_or_default();
    let texts: Vec<String> = row
        .try_get::<_, Option<_>>(7)
        .map_err(&d)?
        .unwrap_or_default();
    let ats: Vec<i64> = row
        .try_get::<_, Option<_>>(8)
        .map_err(&d)?
        .unwrap_or_default();
    if roles.len() != texts.len() || roles.len() != ats.len() {
        return Err(StoreError::DecodeRow {
            what: "answer context",
            reason: "history arrays of different lengths".to_owned(),
        });
    }
    let history = roles
        .iter()
        .zip(texts)
        .zip(ats)
        .map(|((role, text), at)| {
            Ok(HistoryEntry {
                role: Role::parse(role)?,
                text,
                at,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(AnswerContext {
        opted_out: row.try_get(0).map_err(&d)?,
        saved,
        history,
    })
}

/// Marks a part sent and counts it ([`MARK_SENT_SQL`], `$1..$5`), and reduces its first
/// delivery status in (`$6..$12`, when `$13`), only if it was marked; answers how many parts
/// were marked (0 or 1).
static PART_SENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {MARK_SENT_SQL},
        status AS ({})
        SELECT count(*) FROM marked",
        record_delivery_sql(6, "WHERE $13::boolean AND EXISTS (SELECT 1 FROM marked)")
    )
});

/// Completes a message this node holds (`$1` id, `$2` node, `$3` now) and, only then, appends
/// the assistant's line (`$4..$8`, when `$10`) keeping `$9` lines besides it; answers how
/// many messages were completed (0 or 1).
static COMPLETE_ANSWERED_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH done AS (
            UPDATE ingress SET state = 'completed', payload = '\\x'::bytea, finished_at = $3,
                   last_error = NULL, owner = NULL, lease_until = NULL
            WHERE id = $1 AND state = 'claimed' AND owner = $2 RETURNING id
        ),
        line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $4::text, $5::text, $6::text, $7::text, $8::bigint FROM done
            WHERE $10::boolean
        ),
        capped AS ({})
        SELECT count(*) FROM done",
        cap_history(
            "$4",
            "$5",
            "$9::bigint",
            "$10::boolean AND EXISTS (SELECT 1 FROM done) AND"
        )
    )
});

/// [`PART_SENT_SQL`] (`$1..$13`) and, only when the part was marked, completes the message
/// this node holds (`$14` id, `$15` node, at `$3`) and then appends the assistant's line
/// (`$16..$20`, when `$22`) keeping `$21` lines besides it; answers how many parts were marked
/// and how many messages completed (0 or 1 each).
static LAST_PART_SENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {MARK_SENT_SQL},
        status AS ({}),
        done AS (
            UPDATE ingress SET state = 'completed', payload = '\\x'::bytea, finished_at = $3,
                   last_error = NULL, owner = NULL, lease_until = NULL
            WHERE id = $14 AND state = 'claimed' AND owner = $15
              AND EXISTS (SELECT 1 FROM marked) RETURNING id
        ),
        line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $16::text, $17::text, $18::text, $19::text, $20::bigint FROM done
            WHERE $22::boolean
        ),
        capped AS ({})
        SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM done)",
        record_delivery_sql(6, "WHERE $13::boolean AND EXISTS (SELECT 1 FROM marked)"),
        cap_history(
            "$16",
            "$17",
            "$21::bigint",
            "$22::boolean AND EXISTS (SELECT 1 FROM done) AND"
        )
    )
});

/// Appends a line and drops the peer's oldest lines beyond `cap` (`$1..$5` the line, `$6`
/// lines kept besides it, `$7` whether to write it); answers the new line's id.
static APPEND_HISTORY_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint WHERE $7::boolean
            RETURNING id
        ),
        capped AS ({})
        SELECT id FROM line",
        cap_history("$1", "$2", "$6::bigint", "")
    )
});

/// Appends a history line (capped) on `c`, in one statement.
pub(super) async fn append_history_on<C: Sql + ?Sized>(
    c: &C,
    line: &HistoryLine,
    cap: i64,
) -> Result<(), StoreError> {
    let p = LineParams::new(Some(line), cap);
    query(
        c,
        "append history",
        &APPEND_HISTORY_SQL,
        &[
            &p.account, &p.peer, &p.role, &p.text, &p.at, &p.keep, &p.present,
        ],
    )
    .await
    .map(drop)
}

/// A history line's parameters: an absent line binds empty values (and is not written).
struct LineParams {
    account: String,
    peer: String,
    role: &'static str,
    text: String,
    at: i64,
    /// Lines kept besides this one.
    keep: i64,
    present: bool,
}

impl LineParams {
    fn new(line: Option<&HistoryLine>, cap: i64) -> Self {
        let keep = cap.saturating_sub(1).max(0);
        match line {
            Some(HistoryLine {
                account,
                peer,
                entry: HistoryEntry { role, text, at },
            }) => Self {
                account: account.clone(),
                peer: peer.clone(),
                role: role.as_str(),
                text: text.clone(),
                at: *at,
                keep,
                present: cap > 0,
            },
            None => Self {
                account: String::new(),
                peer: String::new(),
                role: "",
                text: String::new(),
                at: 0,
                keep,
                present: false,
            },
        }
    }
}

/// Whether a statement answering `SELECT count(*)` of what it changed wrote.
fn counted_some(rows: &[tokio_postgres::Row]) -> bool {
    rows.first()
        .and_then(|r| r.try_get::<_, i64>(0).ok())
        .is_some_and(|n| n > 0)
}

fn count_of(rows: &[tokio_postgres::Row], what: &'static str) -> Result<i64, StoreError> {
    count_at(rows, 0, what)
}

/// Column `column` of a statement's count row (0 when it answered no row).
fn count_at(
    rows: &[tokio_postgres::Row],
    column: usize,
    what: &'static str,
) -> Result<i64, StoreError> {
    rows.first()
        .map_or(Ok(0), |r| r.try_get::<_, i64>(column))
        .map_err(decode(what))
}

/// The reply another writer saved after a statement that would have saved it began.
async fn saved_by_another(client: &Conn<'_>, reply_id: &str) -> Result<SavedReply, StoreError> {
    saved_reply(client, reply_id)
        .await?
        .ok_or_else(|| StoreError::DecodeRow {
            what: "saved reply",
            reason: "missing right after it was saved (pruned concurrently?)".to_owned(),
        })
}

impl PostgresStore {
    /// The saved reply of `reply` and the user's line, in one statement; `Ok(None)` when the
    /// reply was saved by another writer after this statement began (read it again).
    async fn save_answer_once(
        client: &Conn<'_>,
        reply: &NewReply,
        line: &LineParams,
    ) -> Result<Option<SavedReply>, StoreError> {
        query_opt(
            client,
            "save answer",
            &SAVE_ANSWER_SQL,
            &[
                &reply.reply_id,
                &reply.account,
                &reply.recipient,
                &reply.text,
                &reply.created_at,
                &line.account,
                &line.peer,
                &line.role,
                &line.text,
                &line.at,
                &line.keep,
                &line.present,
            ],
        )
        .await?
        .as_ref()
        .map(reply_row)
        .transpose()
    }

    /// The part marked sent and counted, with its first status when `status` is set; how many
    /// parts were marked (0 or 1).
    async fn part_sent_once(
        client: &Conn<'_>,
        part: &SentPart,
        status: Option<&DeliveryParams>,
    ) -> Result<i64, StoreError> {
        let none = DeliveryParams::none();
        let delivery = status.unwrap_or(&none);
        let [d0, d1, d2, d3, d4, d5, d6] = delivery.params();
        let present = status.is_some();
        let segments = i64::from(part.segments);
        let rows = try_query_wrote(
            client,
            &PART_SENT_SQL,
            &[
                &part.intent.as_i64(),
                &part.message_sid,
                &part.now,
                &part.day,
                &segments,
                d0,
                d1,
                d2,
                d3,
                d4,
                d5,
                d6,
                &present,
            ],
            counted_some,
        )
        .await
        .map_err(pg("mark part sent"))?;
        count_of(&rows, "marked parts")
    }
}

/// The first part's intent and the recipient's opt-out from a row of
/// [`SAVE_ANSWER_SENDING_SQL`] (columns 5..8), when the intent was written.
fn first_part(
    row: &tokio_postgres::Row,
    first: &NewIntent,
) -> Result<Option<FirstPart>, StoreError> {
    let d = decode("saved answer");
    let Some(id) = row.try_get::<_, Option<i64>>(5).map_err(&d)? else {
        return Ok(None);
    };
    let keyword: Option<String> = row.try_get(6).map_err(&d)?;
    let at: Option<i64> = row.try_get(7).map_err(&d)?;
    let opted_out = keyword.zip(at).map(|(keyword, at)| OptOut {
        account: first.account.clone(),
        number: first.recipient.clone(),
        keyword,
        at,
    });
    let intent = OutboundIntent {
        id: IntentId::new(id),
        reply_id: first.reply_id.clone(),
        account: first.account.clone(),
        recipient: first.recipient.clone(),
        body_hash: first.body_hash.clone(),
        part_index: first.part_index,
        part_count: first.part_count,
        state: IntentState::Pending,
        message_sid: None,
        error: None,
        created_at: first.created_at,
        updated_at: first.created_at,
    };
    Ok(Some(FirstPart { intent, opted_out }))
}

impl PostgresStore {
    /// [`SAVE_ANSWER_SENDING_SQL`]: the saved answer; `Ok(None)` when the reply was saved by
    /// another writer after this statement began (read it again).
    async fn save_answer_sending_once(
        client: &Conn<'_>,
        reply: &NewReply,
        line: &LineParams,
        first: &NewIntent,
    ) -> Result<Option<SavedAnswer>, StoreError> {
        let (index, count) = (i64::from(first.part_index), i64::from(first.part_count));
        let Some(row) = query_opt(
            client,
            "save answer",
            &SAVE_ANSWER_SENDING_SQL,
            &[
                &reply.reply_id,
                &reply.account,
                &reply.recipient,
                &reply.text,
                &reply.created_at,
                &line.account,
                &line.peer,
                &line.role,
                &line.text,
                &line.at,
                &line.keep,
                &line.present,
                &first.reply_id,
                &first.account,
                &first.recipient,
                &first.body_hash,
                &index,
                &count,
                &first.created_at,
            ],
        )
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(SavedAnswer {
            reply: reply_row(&row)?,
            first: first_part(&row, first)?,
        }))
    }

    /// [`LAST_PART_SENT_SQL`]: how many parts were marked and messages completed.
    async fn last_part_sent_once(
        &self,
        client: &Conn<'_>,
        part: &SentPart,
        status: Option<&DeliveryParams>,
        done: &Completion,
    ) -> Result<(i64, i64), StoreError> {
        let none = DeliveryParams::none();
        let delivery = status.unwrap_or(&none);
        let [d0, d1, d2, d3, d4, d5, d6] = delivery.params();
        let present = status.is_some();
        let segments = i64::from(part.segments);
        let line = LineParams::new(done.assistant.as_ref(), self.history_cap());
        let node = self.node_id();
        let rows = try_query_wrote(
            client,
            &LAST_PART_SENT_SQL,
            &[
                &part.intent.as_i64(),
                &part.message_sid,
                &part.now,
                &part.day,
                &segments,
                d0,
                d1,
                d2,
                d3,
                d4,
                d5,
                d6,
                &present,
                &done.id.as_i64(),
                &node,
                &line.account,
                &line.peer,
                &line.role,
                &line.text,
                &line.at,
                &line.keep,
                &line.present,
            ],
            counted_some,
        )
        .await
        .map_err(pg("mark the last part sent and complete"))?;
        let what = "marked parts and completed messages";
        Ok((count_at(&rows, 0, what)?, count_at(&rows, 1, what)?))
    }
}

#[async_trait]
impl PipelineSteps for PostgresStore {
    async fn save_answer(
        &self,
        reply: NewReply,
        user: HistoryLine,
    ) -> Result<SavedReply, StoreError> {
        let line = LineParams::new(Some(&user), self.history_cap());
        let client = self.conn().await?;
        match Self::save_answer_once(&client, &reply, &line).await {
            Ok(Some(saved)) => Ok(saved),
            Ok(None) => saved_by_another(&client, &reply.reply_id).await,
            Err(err) => {
                tracing::warn!("{HISTORY_FAILED}: {err}");
                save_reply_in(&client, &reply).await
            }
        }
    }

    async fn part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
    ) -> Result<(), StoreError> {
        let status = first_status.as_ref().map(DeliveryParams::new);
        let client = self.conn().await?;
        let marked = match Self::part_sent_once(&client, &part, status.as_ref()).await {
            Err(err) if status.is_some() => {
                tracing::warn!("{STATUS_FAILED}: {err}");
                Self::part_sent_once(&client, &part, None).await?
            }
            other => other?,
        };
        if marked == 1 {
            return Ok(());
        }
        Err(mark_sent_refused(&client, part.intent).await)
    }

    /// The completion is the part that must hold and it is fenced (this node must still hold
    /// the claim): when it is refused (the lease was taken over, the message is no longer
    /// claimed), the assistant's line is not written either, so that the conversation does
    /// not gain a line for an answer another gateway now owns (as on SQLite, where the step is
    /// one write job).
    async fn complete_answered(
        &self,
        id: IngressId,
        now: i64,
        assistant: Option<HistoryLine>,
    ) -> Result<(), StoreError> {
        let line = LineParams::new(assistant.as_ref(), self.history_cap());
        let client = self.conn().await?;
        let node = self.node_id();
        let rows = try_query_wrote(
            &client,
            &COMPLETE_ANSWERED_SQL,
            &[
                &id.as_i64(),
                &node,
                &now,
                &line.account,
                &line.peer,
                &line.role,
                &line.text,
                &line.at,
                &line.keep,
                &line.present,
            ],
            counted_some,
        )
        .await
        .map_err(pg("complete ingress message"));
        match rows.and_then(|rows| count_of(&rows, "completed messages")) {
            Ok(1) => Ok(()),
            Ok(_) => Err(refused_completion(&client, node, id).await),
            Err(err) if line.present => {
                tracing::warn!("{HISTORY_FAILED}: {err}");
                complete_in(&client, node, id, now).await
            }
            Err(err) => Err(err),
        }
    }

    /// One statement; when it fails (a best-effort part did, or the connection), the part is
    /// marked alone ([`PipelineSteps::part_sent`]) and the caller completes the message.
    async fn last_part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
        done: Completion,
    ) -> Result<bool, StoreError> {
        let status = first_status.as_ref().map(DeliveryParams::new);
        let attempt = {
            let client = self.conn().await?;
            self.last_part_sent_once(&client, &part, status.as_ref(), &done)
                .await
        };
        match attempt {
            Ok((1, completed)) => Ok(completed == 1),
            Ok(_) => {
                let client = self.conn().await?;
                Err(mark_sent_refused(&client, part.intent).await)
            }
            Err(err) => {
                tracing::warn!("the last part and its completion failed together: {err}");
                self.part_sent(part, first_status).await.map(|()| false)
            }
        }
    }

    /// One statement; when it fails, the answer is saved as [`PipelineSteps::save_answer`]
    /// does and the caller creates the intent as usual.
    async fn save_answer_sending(
        &self,
        reply: NewReply,
        user: HistoryLine,
        first: NewIntent,
    ) -> Result<SavedAnswer, StoreError> {
        check_part_index(&first)?;
        let line = LineParams::new(Some(&user), self.history_cap());
        let attempt = {
            let client = self.conn().await?;
            Self::save_answer_sending_once(&client, &reply, &line, &first).await
        };
        match attempt {
            Ok(Some(saved)) => Ok(saved),
            // Saved by another writer meanwhile (the user's line is written): read it.
            Ok(None) => {
                let client = self.conn().await?;
                Ok(SavedAnswer {
                    reply: saved_by_another(&client, &reply.reply_id).await?,
                    first: None,
                })
            }
            // Nothing of the statement was written: the answer alone, as `save_answer`.
            Err(err) => {
                tracing::warn!("the answer and its first part's intent failed together: {err}");
                Ok(SavedAnswer {
                    reply: self.save_answer(reply, user).await?,
                    first: None,
                })
            }
        }
    }

    async fn answer_context(
        &self,
        account: &str,
        peer: &str,
        reply_id: &str,
        limit: usize,
    ) -> Result<AnswerContext, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.conn().await?;
        let rows = query(
            &client,
            "read the answer's context",
            ANSWER_CONTEXT_SQL,
            &[&account, &peer, &reply_id, &limit],
        )
        .await?;
        let row = rows.first().ok_or_else(|| StoreError::DecodeRow {
            what: "answer context",
            reason: "no row".to_owned(),
        })?;
        answer_context_row(row)
    }
}
