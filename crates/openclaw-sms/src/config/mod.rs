//! The `channels.sms` account model: what the config file says ([`SmsChannelInput`]), checked
//! strictly, and resolved into accounts with environment fallbacks.
//!
//! Secrets are not resolved here: an account carries its [`SecretInput`]s and the gateway's
//! secrets runtime turns them into values once, at start.

mod budgets;
mod raw;
mod resolve;

pub use budgets::{
    BUDGET_KEYS, BudgetSettings, BudgetsInput, DEFAULT_MORE_WINDOW_MINUTES,
    DEFAULT_WARN_AT_PERCENT, LongReplies, MAX_CURRENCY_CHARS, MAX_MORE_WINDOW_MINUTES, Price,
    PriceInput,
};
pub use openclaw_channel::secret::{SecretInput, SecretRef, SecretSource, is_env_name};
pub use raw::{
    ACCOUNT_KEYS, AccountInput, AllowFromInput, AllowFromItem, ChunkLimitInput, LIMIT_KEYS,
    LimitsInput, OwnerNumbersInput, PAIRING_KEYS, PairingInput, QUIET_HOURS_KEYS, QuietHoursInput,
    SmsChannelInput, TOP_LEVEL_ONLY_KEYS, nearest_key,
};

pub use resolve::{
    AccountSettings, DEFAULT_ACCOUNT_ID, DEFAULT_MAX_CODE_TEXTS_PER_DAY,
    DEFAULT_SEND_RATE_PER_SECOND, DEFAULT_TEXT_CHUNK_LIMIT, DEFAULT_WEBHOOK_PATH, ENV_VARS,
    EnvLookup, Limits, MAX_CODE_TTL_MINUTES, MAX_TEXT_CHUNK_LIMIT, NOT_CONFIGURED_REASON,
    PairingSettings, SmsAccounts, allow_rule, check_webhook_paths, resolve_accounts,
};
