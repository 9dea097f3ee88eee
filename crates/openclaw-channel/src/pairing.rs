//! Pairing orchestration over the store and the access policy: the decision for a sender, a
//! new request stored (challenge), a live one refreshed, approval with the sender's notice
//! (the store releases the held message in the approval's transaction), and denial.
//!
//! The policy (`openclaw-access-policy`) decides and draws codes; the store
//! (`openclaw-store`) only stores. What a channel does around them (text or speak the code,
//! tell the owners, park the message that asked) it supplies through [`Challenger`] and
//! [`ApprovalNotice`].
//!
//! ```
//! use openclaw_access_policy::{DmPolicy, PairingLimits};
//! use openclaw_channel::pairing::{Admission, NewRequest, NoEffects, Pairing, approve};
//! use openclaw_store::{PairingKey, SqliteStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open_in_memory()?;
//! let key = PairingKey::new("voice", "default");
//! let pairing = Pairing {
//!     store: &store,
//!     key: &key,
//!     policy: DmPolicy::Pairing,
//!     config_allow: &[],
//!     limits: PairingLimits::default(),
//! };
//! let caller = "+15550001111";
//! let Admission::Challenged(request) =
//!     pairing.admit(caller, 1_000, NewRequest::default(), &NoEffects).await?
//! else {
//!     return Err("an unknown caller is challenged".into());
//! };
//! let code = request.code.to_lowercase();
//! let approved = approve(&store, &key, &code, 2_000, pairing.ttl_ms(), None).await?;
//! assert_eq!(approved.map(|a| a.request.sender_id).as_deref(), Some(caller));
//! assert!(pairing.decision(caller, 3_000).await?.is_allow());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use async_trait::async_trait;
use openclaw_access_policy::{
    AllowRule, Challenge, Decision, DecisionInput, DmPolicy, DropReason, PairingCode,
    PairingLimits, Timestamp, decide,
};
use openclaw_store::{
    CreateRequestOutcome, IngressId, NewPairingRequest, PairingKey, PairingRequest, PairingStore,
    PendingCap, StoreError,
};

use crate::ChannelError;

/// How many codes [`Pairing::admit`] draws when another sender took the drawn one meanwhile.
pub const CODE_DRAWS: u32 = 3;

/// One channel account's pairing: its list in the store and the policy that reads it.
#[derive(Clone, Copy)]
pub struct Pairing<'a> {
    /// The store holding the requests and allow entries.
    pub store: &'a dyn PairingStore,
    /// Which list: the channel and account.
    pub key: &'a PairingKey,
    /// The account's `dmPolicy`.
    pub policy: DmPolicy,
    /// The account's `allowFrom` rules from config.
    pub config_allow: &'a [AllowRule],
    /// Pairing bounds (pending cap, code lifetime).
    pub limits: PairingLimits,
}

impl std::fmt::Debug for Pairing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairing")
            .field("key", self.key)
            .field("policy", &self.policy)
            .field("config_allow", &self.config_allow)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What to store with a new request besides its code and sender.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRequest {
    /// Free-form metadata (`{"accountId": …}`); `null` stores none.
    pub meta: serde_json::Value,
    /// The message that asked, parked in the ingress queue until approval.
    pub held_event_id: Option<IngressId>,
}

/// What [`Pairing::admit`] decided and did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Admission {
    /// Serve the sender.
    Allowed,
    /// Drop silently, for the policy's reason (the store's pending cap counts as the policy's
    /// [`DropReason::PendingLimitReached`]).
    Dropped(DropReason),
    /// A new request was stored and [`Challenger::challenged`] ran.
    Challenged(PairingRequest),
    /// The sender already has a request: refreshed, and [`Challenger::still_pending`] ran.
    AlreadyPending,
    /// The policy wanted a new request but [`Challenger::may_challenge`] said no: nothing
    /// was stored.
    Declined,
    /// A decision this version does not know (the policy's `Decision` is non-exhaustive).
    Undecided,
}

/// What a channel does around a pairing challenge. Every method has a do-nothing default.
#[async_trait]
pub trait Challenger: Send + Sync {
    /// Whether a new code may go to `sender` now (SMS: the daily cap on code texts). Asked
    /// only when the policy wants a new request, before anything is stored.
    async fn may_challenge(&self, _sender: &str, _now: i64) -> bool {
        true
    }

    /// The new `request` is stored: park or finish the message that asked, send the code,
    /// tell the owners.
    ///
    /// # Errors
    ///
    /// A [`ChannelError`] when a step that must not be lost failed (the caller retries).
    async fn challenged(&self, _request: &PairingRequest, _now: i64) -> Result<(), ChannelError> {
        Ok(())
    }

    /// A sender with a live request wrote again (its `last_seen_at` was refreshed): resend
    /// what did not go out.
    async fn still_pending(&self, _sender: &str, _now: i64) {}

    /// A store write that pairing goes on without (`touch_request`) failed: log it with the
    /// step (the default), and count it where the channel keeps such counts.
    fn write_failed(&self, step: &'static str, err: &StoreError) {
        tracing::warn!(step, "state store write failed, going on without it: {err}");
    }
}

/// A [`Challenger`] that does nothing around the store (a caller that speaks the code itself).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEffects;

impl Challenger for NoEffects {}

impl Pairing<'_> {
    /// The code lifetime in milliseconds.
    #[must_use]
    pub fn ttl_ms(&self) -> i64 {
        ttl_ms(&self.limits)
    }

    /// The policy's decision for `sender` at `now`, read from config and the store; nothing
    /// is written.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Store`] when the allow entries or the requests could not be read.
    pub async fn decision(&self, sender: &str, now: i64) -> Result<Decision, ChannelError> {
        if let Some(decision) = self.settled_without_store(sender, now) {
            return Ok(decision);
        }
        let state = self.read(now).await?;
        Ok(self.decide(&state, sender, now))
    }

    /// Decides for `sender` and carries the decision out: a new request stored with `new`
    /// (the code redrawn when another sender took it meanwhile, up to [`CODE_DRAWS`] times),
    /// or a live one refreshed, with `challenger` called around it.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Store`] when a read or write failed, the error of
    /// [`Challenger::challenged`], or [`ChannelError::NoFreePairingCode`].
    pub async fn admit(
        &self,
        sender: &str,
        now: i64,
        new: NewRequest,
        challenger: &dyn Challenger,
    ) -> Result<Admission, ChannelError> {
        let state = match self.settled_without_store(sender, now) {
            Some(Decision::Allow { .. }) => return Ok(Admission::Allowed),
            Some(Decision::Drop { reason }) => return Ok(Admission::Dropped(reason)),
            _ => self.read(now).await?,
        };
        for _ in 0..CODE_DRAWS {
            let code = match self.decide(&state, sender, now) {
                Decision::Allow { .. } => return Ok(Admission::Allowed),
                Decision::Drop { reason } => return Ok(Admission::Dropped(reason)),
                Decision::Challenge(Challenge::AlreadyPending { .. }) => {
                    return Ok(self.still_pending(sender, now, challenger).await);
                }
                Decision::Challenge(Challenge::New(request)) => request.code,
                _ => return Ok(Admission::Undecided),
            };
            if !challenger.may_challenge(sender, now).await {
                return Ok(Admission::Declined);
            }
            match self.create(&code, sender, now, &new).await? {
                CreateRequestOutcome::Created(created) => {
                    challenger.challenged(&created, now).await?;
                    return Ok(Admission::Challenged(created));
                }
                CreateRequestOutcome::SenderExists(_) => {
                    return Ok(self.still_pending(sender, now, challenger).await);
                }
                // The account's cap filled up meanwhile: the policy's drop.
                CreateRequestOutcome::CapReached => {
                    return Ok(Admission::Dropped(DropReason::PendingLimitReached));
                }
                // Another sender took the code meanwhile: draw again.
                _ => {}
            }
        }
        Err(ChannelError::NoFreePairingCode { tries: CODE_DRAWS })
    }

    /// The decision when the stored state cannot change it, without reading the store (two
    /// statements per message on PostgreSQL): a sender the config allows is allowed, and
    /// outside `pairing` the stored entries and requests do not count. `None`: read them.
    fn settled_without_store(&self, sender: &str, now: i64) -> Option<Decision> {
        let decision = self.decide(&PairingState::default(), sender, now);
        let settled =
            matches!(decision, Decision::Allow { .. }) || self.policy != DmPolicy::Pairing;
        settled.then_some(decision)
    }

    /// The allow entries and live requests, as the policy reads them.
    async fn read(&self, now: i64) -> Result<PairingState, ChannelError> {
        let stored_allow = self
            .store
            .allow_entries(self.key)
            .await
            .map_err(|e| ChannelError::store("read allow entries", e))?
            .into_iter()
            .map(|e| e.entry)
            .collect();
        let pending = self
            .store
            .list_requests(self.key, now, self.ttl_ms())
            .await
            .map_err(|e| ChannelError::store("read pairing requests", e))?
            .into_iter()
            .filter_map(policy_request)
            .collect();
        Ok(PairingState {
            stored_allow,
            pending,
        })
    }

    fn decide(&self, state: &PairingState, sender: &str, now: i64) -> Decision {
        let input = DecisionInput {
            policy: self.policy,
            config_allow: self.config_allow,
            stored_allow: &state.stored_allow,
            pending: &state.pending,
            sender,
            now: Timestamp::from_unix_millis(now),
            limits: &self.limits,
        };
        decide(&input, &mut rand::rng())
    }

    /// Stores a new request; the store checks the same pending cap the decision used in the
    /// insert's transaction (other gateways or tasks may have created requests meanwhile).
    async fn create(
        &self,
        code: &PairingCode,
        sender: &str,
        now: i64,
        new: &NewRequest,
    ) -> Result<CreateRequestOutcome, ChannelError> {
        let request = NewPairingRequest {
            code: code.as_str().to_owned(),
            sender_id: sender.to_owned(),
            meta: new.meta.clone(),
            created_at: now,
            held_event_id: new.held_event_id,
            pending_cap: Some(PendingCap {
                max: self.limits.max_pending,
                ttl_ms: self.ttl_ms(),
            }),
        };
        self.store
            .create_request(self.key, request)
            .await
            .map_err(|e| ChannelError::store("store the pairing request", e))
    }

    /// Refreshes the sender's request (a failure is logged: `last_seen_at` is informative)
    /// and lets the channel resend what did not go out.
    async fn still_pending(
        &self,
        sender: &str,
        now: i64,
        challenger: &dyn Challenger,
    ) -> Admission {
        if let Err(err) = self.store.touch_request(self.key, sender, now).await {
            challenger.write_failed("touch_request", &err);
        }
        challenger.still_pending(sender, now).await;
        Admission::AlreadyPending
    }
}

/// The stored side of a decision.
#[derive(Default)]
struct PairingState {
    stored_allow: Vec<String>,
    pending: Vec<openclaw_access_policy::PairingRequest>,
}

/// A pairing code as an operator typed it, as the store matches it: trimmed, upper-case.
#[must_use]
pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// A code lifetime in milliseconds (saturating).
#[must_use]
pub fn ttl_ms(limits: &PairingLimits) -> i64 {
    i64::try_from(limits.ttl.as_millis()).unwrap_or(i64::MAX)
}

/// A stored request as the policy reads it; `None` when its code is not a valid code.
#[must_use]
pub fn policy_request(stored: PairingRequest) -> Option<openclaw_access_policy::PairingRequest> {
    Some(openclaw_access_policy::PairingRequest {
        code: PairingCode::parse(&stored.code).ok()?,
        sender_id: stored.sender_id,
        created_at: Timestamp::from_unix_millis(stored.created_at),
        last_seen_at: Timestamp::from_unix_millis(stored.last_seen_at),
        meta: BTreeMap::new(),
    })
}

/// Tells an approved sender (SMS: a text under a reply id of its own, so once per request).
#[async_trait]
pub trait ApprovalNotice: Send + Sync {
    /// Sends the notice for `request`; whether it went out completely.
    async fn send(&self, request: &PairingRequest) -> bool;
}

/// An approved request, and whether the sender was told.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// The request, as it was before approval (`held_event_id`: the message released).
    pub request: PairingRequest,
    /// Whether the approval notice went out completely (false when not asked for).
    pub notified: bool,
}

/// Approves the live request with `code` (any case, surrounding blanks ignored) in one store
/// transaction (the sender joins the allow entries, its held message is released into the
/// ingress queue due at `now`), then sends `notice` if given. `None` when no live request has
/// the code.
///
/// # Errors
///
/// [`ChannelError::Store`] when the approval could not be written.
pub async fn approve(
    store: &dyn PairingStore,
    key: &PairingKey,
    code: &str,
    now: i64,
    ttl_ms: i64,
    notice: Option<&dyn ApprovalNotice>,
) -> Result<Option<Approval>, ChannelError> {
    let Some(request) = store
        .approve(key, &normalize_code(code), now, ttl_ms)
        .await
        .map_err(|e| ChannelError::store("approve", e))?
    else {
        return Ok(None);
    };
    let notified = match notice {
        Some(notice) => notice.send(&request).await,
        None => false,
    };
    Ok(Some(Approval { request, notified }))
}

/// Denies the live request with `code` (any case, surrounding blanks ignored): the request
/// and its held message are gone, the sender is added nowhere. `None` when no live request
/// has the code.
///
/// # Errors
///
/// [`ChannelError::Store`] when the denial could not be written.
pub async fn deny(
    store: &dyn PairingStore,
    key: &PairingKey,
    code: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<Option<PairingRequest>, ChannelError> {
    store
        .deny(key, &normalize_code(code), now, ttl_ms)
        .await
        .map_err(|e| ChannelError::store("deny", e))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use openclaw_store::SqliteStore;

    use super::*;

    /// Records what the orchestration asked of the channel; `may` answers `may_challenge`.
    #[derive(Default)]
    struct Recorder {
        refuse: bool,
        calls: Mutex<Vec<String>>,
    }

    impl Recorder {
        fn calls(&self) -> Vec<String> {
            self.calls.lock().map(|c| c.clone()).unwrap_or_default()
        }
        fn push(&self, call: String) {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(call);
            }
        }
    }

    #[async_trait]
    impl Challenger for Recorder {
        async fn may_challenge(&self, sender: &str, _now: i64) -> bool {
            self.push(format!("may {sender}"));
            !self.refuse
        }
        async fn challenged(
            &self,
            request: &PairingRequest,
            _now: i64,
        ) -> Result<(), ChannelError> {
            self.push(format!("challenged {}", request.sender_id));
            Ok(())
        }
        async fn still_pending(&self, sender: &str, _now: i64) {
            self.push(format!("pending {sender}"));
        }
    }

    fn pairing<'a>(store: &'a SqliteStore, key: &'a PairingKey) -> Pairing<'a> {
        Pairing {
            store,
            key,
            policy: DmPolicy::Pairing,
            config_allow: &[],
            limits: PairingLimits::default(),
        }
    }

    #[tokio::test]
    async fn a_new_sender_is_challenged_once_then_pending_then_approved() {
        let store = SqliteStore::open_in_memory().expect("store");
        let key = PairingKey::new("voice", "default");
        let pairing = pairing(&store, &key);
        let channel = Recorder::default();
        let first = pairing
            .admit("+15550001111", 10, NewRequest::default(), &channel)
            .await
            .expect("admit");
        let Admission::Challenged(request) = first else {
            panic!("expected a challenge, got {first:?}");
        };
        let again = pairing
            .admit("+15550001111", 20, NewRequest::default(), &channel)
            .await
            .expect("admit");
        assert_eq!(again, Admission::AlreadyPending);
        assert_eq!(
            channel.calls(),
            [
                "may +15550001111",
                "challenged +15550001111",
                "pending +15550001111"
            ]
        );
        let stored = store.request_for(&key, "+15550001111").await.expect("read");
        assert_eq!(stored.map(|r| r.last_seen_at), Some(20));
        let code = format!("  {}\n", request.code.to_lowercase());
        let approved = approve(&store, &key, &code, 30, pairing.ttl_ms(), None)
            .await
            .expect("approve");
        assert_eq!(
            approved.map(|a| (a.request.sender_id, a.notified)),
            Some(("+15550001111".to_owned(), false))
        );
        let allowed = pairing
            .admit("+15550001111", 40, NewRequest::default(), &channel)
            .await
            .expect("admit");
        assert_eq!(allowed, Admission::Allowed);
    }

    /// A pairing store that answers nothing: every call fails.
    struct Unreadable;

    fn down<T>() -> Result<T, StoreError> {
        Err(StoreError::WriterStopped)
    }

    #[async_trait]
    impl PairingStore for Unreadable {
        async fn create_request(
            &self,
            _: &PairingKey,
            _: NewPairingRequest,
        ) -> Result<CreateRequestOutcome, StoreError> {
            down()
        }
        async fn touch_request(&self, _: &PairingKey, _: &str, _: i64) -> Result<bool, StoreError> {
            down()
        }
        async fn request_for(
            &self,
            _: &PairingKey,
            _: &str,
        ) -> Result<Option<PairingRequest>, StoreError> {
            down()
        }
        async fn list_requests(
            &self,
            _: &PairingKey,
            _: i64,
            _: i64,
        ) -> Result<Vec<PairingRequest>, StoreError> {
            down()
        }
        async fn approve(
            &self,
            _: &PairingKey,
            _: &str,
            _: i64,
            _: i64,
        ) -> Result<Option<PairingRequest>, StoreError> {
            down()
        }
        async fn deny(
            &self,
            _: &PairingKey,
            _: &str,
            _: i64,
            _: i64,
        ) -> Result<Option<PairingRequest>, StoreError> {
            down()
        }
        async fn revoke(&self, _: &PairingKey, _: &str, _: i64) -> Result<bool, StoreError> {
            down()
        }
        async fn delete_request(
            &self,
            _: &PairingKey,
            _: &str,
            _: i64,
        ) -> Result<bool, StoreError> {
            down()
        }
        async fn prune_requests(
            &self,
            _: &PairingKey,
            _: i64,
            _: i64,
        ) -> Result<Vec<PairingRequest>, StoreError> {
            down()
        }
        async fn allow_entries(
            &self,
            _: &PairingKey,
        ) -> Result<Vec<openclaw_store::AllowEntry>, StoreError> {
            down()
        }
        async fn add_allow_entry(
            &self,
            _: &PairingKey,
            _: &str,
            _: i64,
        ) -> Result<bool, StoreError> {
            down()
        }
        async fn remove_allow_entry(&self, _: &PairingKey, _: &str) -> Result<bool, StoreError> {
            down()
        }
    }

    /// A sender the config allows, and any sender outside `pairing`, is decided without the
    /// store (two statements per message on PostgreSQL): a store that fails every call does
    /// not matter. Under `pairing`, anyone else needs the stored entries.
    #[tokio::test]
    async fn config_decisions_do_not_read_the_store() {
        let key = PairingKey::new("sms", "default");
        let allow = [AllowRule::parse("+15550001111").expect("rule")];
        let mut pairing = Pairing {
            store: &Unreadable,
            key: &key,
            policy: DmPolicy::Pairing,
            config_allow: &allow,
            limits: PairingLimits::default(),
        };
        let admitted = pairing
            .admit("+15550001111", 10, NewRequest::default(), &NoEffects)
            .await;
        assert_eq!(admitted.ok(), Some(Admission::Allowed));
        let stranger = pairing
            .admit("+15550009999", 10, NewRequest::default(), &NoEffects)
            .await;
        assert!(stranger.is_err(), "{stranger:?}");
        pairing.policy = DmPolicy::Allowlist;
        let dropped = pairing
            .admit("+15550009999", 10, NewRequest::default(), &NoEffects)
            .await;
        assert_eq!(
            dropped.ok(),
            Some(Admission::Dropped(DropReason::NotAllowlisted))
        );
        let decided = pairing.decision("+15550001111", 10).await;
        assert!(matches!(decided, Ok(Decision::Allow { .. })), "{decided:?}");
    }

    #[tokio::test]
    async fn a_declined_challenge_stores_nothing() {
        let store = SqliteStore::open_in_memory().expect("store");
        let key = PairingKey::new("sms", "default");
        let channel = Recorder {
            refuse: true,
            ..Recorder::default()
        };
        let admission = pairing(&store, &key)
            .admit("+15550002222", 10, NewRequest::default(), &channel)
            .await
            .expect("admit");
        assert_eq!(admission, Admission::Declined);
        assert_eq!(store.request_for(&key, "+15550002222").await, Ok(None));
    }

    #[tokio::test]
    async fn deny_takes_any_case_and_unknown_codes_are_none() {
        let store = SqliteStore::open_in_memory().expect("store");
        let key = PairingKey::new("sms", "default");
        let pairing = pairing(&store, &key);
        let Admission::Challenged(request) = pairing
            .admit("+15550003333", 10, NewRequest::default(), &NoEffects)
            .await
            .expect("admit")
        else {
            panic!("expected a challenge");
        };
        let ttl = pairing.ttl_ms();
        assert_eq!(deny(&store, &key, "ZZZZZZZZ", 20, ttl).await, Ok(None));
        let denied = deny(&store, &key, &request.code.to_lowercase(), 20, ttl).await;
        assert_eq!(
            denied.map(|r| r.map(|r| r.sender_id)),
            Ok(Some("+15550003333".to_owned()))
        );
        assert_eq!(
            approve(&store, &key, &request.code, 30, ttl, None).await,
            Ok(None)
        );
    }
}
