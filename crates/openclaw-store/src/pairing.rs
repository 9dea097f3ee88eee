//! Pairing requests and allow entries per (channel, account).
//!
//! The store only stores: code generation, the pending cap and the TTL value are the access
//! policy's (`openclaw-access-policy`). Expiry is evaluated against the caller's `now` and `ttl_ms`.
//! The caller passes its cap with each new request ([`PendingCap`]) and the store enforces it
//! in the insert's transaction, so it holds when several gateways create requests at once.

use async_trait::async_trait;

use crate::{IngressId, StoreError};

/// Which pairing list: a channel (`sms`) and one of its accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairingKey {
    /// The channel, e.g. `sms`.
    pub channel: String,
    /// The channel account id, e.g. `default`.
    pub account: String,
}

impl PairingKey {
    /// A key from its parts.
    pub fn new(channel: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            account: account.into(),
        }
    }
}

/// A pending pairing request.
#[derive(Debug, Clone, PartialEq)]
pub struct PairingRequest {
    /// The code, upper-case as stored.
    pub code: String,
    /// The sender that asked (for SMS the E.164 number); the allow entry on approval.
    pub sender_id: String,
    /// Free-form JSON metadata (upstream: `{accountId, ...}`).
    pub meta: serde_json::Value,
    /// When it was created, unix milliseconds; expiry counts from here.
    pub created_at: i64,
    /// When the sender last wrote, unix milliseconds.
    pub last_seen_at: i64,
    /// The sender's first message, parked in the ingress queue until approval.
    pub held_event_id: Option<IngressId>,
}

impl PairingRequest {
    /// Whether the request is still live at `now` given `ttl_ms`.
    #[must_use]
    pub fn is_live(&self, now: i64, ttl_ms: i64) -> bool {
        self.created_at.saturating_add(ttl_ms) > now
    }
}

/// A request to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPairingRequest {
    /// The code (stored upper-case; approval matches case-insensitively).
    pub code: String,
    /// The sender.
    pub sender_id: String,
    /// Metadata.
    pub meta: serde_json::Value,
    /// Now, unix milliseconds (also the first `last_seen_at`).
    pub created_at: i64,
    /// The held first message, if any.
    pub held_event_id: Option<IngressId>,
    /// The pending cap to enforce atomically with the insert; `None`: no cap in the store.
    pub pending_cap: Option<PendingCap>,
}

/// The caller's pending cap (the access policy's `PairingLimits`: its `max_pending` and the
/// request TTL), passed with each [`NewPairingRequest`].
///
/// Inside the same transaction as the insert, the store counts the requests of the same
/// (channel, account) created after `created_at - ttl_ms` (the live ones, as
/// [`PairingRequest::is_live`] judges them at `created_at`); if there are `max` or more, nothing
/// is stored and the outcome is [`CreateRequestOutcome::CapReached`]. So the cap holds even when
/// several gateways, or several tasks of one, create requests for one account at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCap {
    /// Live requests allowed per (channel, account); 0 refuses every new request.
    pub max: usize,
    /// A request's lifetime, milliseconds; older requests do not count.
    pub ttl_ms: i64,
}

/// The outcome of [`PairingStore::create_request`]. Nothing is written unless `Created`.
///
/// Checked in this order: [`SenderExists`](Self::SenderExists), then
/// [`CodeTaken`](Self::CodeTaken), then [`CapReached`](Self::CapReached).
#[derive(Debug, Clone, PartialEq)]
pub enum CreateRequestOutcome {
    /// Stored.
    Created(PairingRequest),
    /// This sender already has a request (live or not yet pruned); it is returned unchanged.
    SenderExists(PairingRequest),
    /// Another sender's request already uses this code; pick another.
    CodeTaken,
    /// The account already has [`PendingCap::max`] live requests; nothing was stored.
    CapReached,
}

/// An allow entry added by pairing approval (or by import or by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// The entry (for SMS an E.164 number), stored verbatim.
    pub entry: String,
    /// When it was added, unix milliseconds.
    pub added_at: i64,
}

/// Pairing requests and allow entries.
#[async_trait]
pub trait PairingStore: Send + Sync {
    /// Stores a request unless the sender already has one, the code is taken, or the request's
    /// [`PendingCap`] (if any) is reached, all judged in one transaction with the insert.
    async fn create_request(
        &self,
        key: &PairingKey,
        request: NewPairingRequest,
    ) -> Result<CreateRequestOutcome, StoreError>;

    /// Refreshes a sender's `last_seen_at`; false if it has no request.
    async fn touch_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// The sender's request, live or not (`None` if there is none).
    async fn request_for(
        &self,
        key: &PairingKey,
        sender_id: &str,
    ) -> Result<Option<PairingRequest>, StoreError>;

    /// Live requests (created within `ttl_ms` of `now`), oldest first.
    async fn list_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError>;

    /// Approves the live request with this code (case-insensitive), in one transaction: deletes
    /// the request, adds its sender as an allow entry, and releases its held message (if any)
    /// back into the ingress queue due at `now`. `None` if no live request has this code.
    async fn approve(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError>;

    /// Denies the live request with this code (case-insensitive), in one transaction: deletes
    /// the request and discards its held message (if any). The sender is not added anywhere: a
    /// later text is treated as any unknown sender's. `None` if no live request has this code.
    async fn deny(
        &self,
        key: &PairingKey,
        code: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Option<PairingRequest>, StoreError>;

    /// Revokes a sender, in one transaction: removes its allow entry and any request it still
    /// has (a held message is discarded), so that its next text gets the policy's default
    /// treatment again. Returns whether it had an allow entry. History is not touched here (the
    /// history store's `clear_history` forgets it).
    async fn revoke(&self, key: &PairingKey, sender_id: &str, now: i64)
    -> Result<bool, StoreError>;

    /// Deletes a sender's request (its held message, if any, is discarded); false if none.
    async fn delete_request(
        &self,
        key: &PairingKey,
        sender_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes expired requests of this key (their held messages are discarded) and returns them.
    async fn prune_requests(
        &self,
        key: &PairingKey,
        now: i64,
        ttl_ms: i64,
    ) -> Result<Vec<PairingRequest>, StoreError>;

    /// The allow entries (the approved senders), oldest first.
    async fn allow_entries(&self, key: &PairingKey) -> Result<Vec<AllowEntry>, StoreError>;

    /// Adds an allow entry; false if it was already there.
    async fn add_allow_entry(
        &self,
        key: &PairingKey,
        entry: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Removes an allow entry; false if it was not there.
    async fn remove_allow_entry(&self, key: &PairingKey, entry: &str) -> Result<bool, StoreError>;
}
