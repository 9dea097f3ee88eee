//! [`TurnLedger`] on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::StoreError;
use crate::turns::TurnLedger;

/// A stored count as `u32` (counts are written by `record_agent_turn`, never negative).
fn count(stored: i64) -> u32 {
    u32::try_from(stored).unwrap_or(u32::MAX)
}

#[async_trait]
impl TurnLedger for SqliteStore {
    async fn record_agent_turn(
        &self,
        account: &str,
        event_id: &str,
        now: i64,
    ) -> Result<u32, StoreError> {
        let (account, event_id) = (account.to_owned(), event_id.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO agent_turns (account, event_id, turns, first_at, last_at)
                 VALUES (?1, ?2, 1, ?3, ?3)
                 ON CONFLICT (account, event_id)
                 DO UPDATE SET turns = turns + 1, last_at = max(last_at, excluded.last_at)
                 RETURNING turns",
            )
            .and_then(|mut s| s.query_row(params![account, event_id, now], |r| r.get(0)))
            .map(count)
            .map_err(StoreError::query("record agent turn"))
        })
        .await
    }

    async fn agent_turns(&self, account: &str) -> Result<Vec<(String, u32)>, StoreError> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT event_id, turns FROM agent_turns WHERE account = ?1 ORDER BY event_id",
            )
            .and_then(|mut s| {
                s.query_map([account], |r| Ok((r.get(0)?, count(r.get(1)?))))?
                    .collect()
            })
            .map_err(StoreError::query("read agent turns"))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(stored: i64, expected: u32) {
        assert_eq!(count(stored), expected);
    }

    #[test]
    fn stored_counts_saturate() {
        check(0, 0);
        check(3, 3);
        check(i64::from(u32::MAX), u32::MAX);
        check(i64::from(u32::MAX) + 1, u32::MAX);
    }
}
