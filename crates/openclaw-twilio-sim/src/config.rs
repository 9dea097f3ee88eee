//! What the simulator is told at start: accounts, their numbers, Messaging Services, API keys,
//! and the behaviour knobs.

use std::time::Duration;

use secrecy::SecretString;

use crate::faults::Faults;

/// Default for how long a simulated phone waits for the gateway's webhook answer: Twilio's
/// 15 s total for an inbound SMS request.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// HTTP method Twilio uses for a webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WebhookMethod {
    /// A form POST (the default and what the gateway expects).
    #[default]
    Post,
    /// A GET with the parameters in the query string.
    Get,
}

impl WebhookMethod {
    /// `POST` or `GET`, as Twilio writes it in `sms_method`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Get => "GET",
        }
    }
}

/// Whether inbound keyword webhooks carry `OptOutType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OptOutTypeField {
    /// Every keyword webhook carries `OptOutType` (Advanced Opt-Out everywhere; the default).
    #[default]
    Always,
    /// Only numbers in a Messaging Service carry it, as Twilio documents for Advanced Opt-Out;
    /// plain numbers get the keyword handling without the field.
    MessagingServiceOnly,
}

/// Whether a status callback is sent for a message's initial status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialStatusCallback {
    /// Send `queued` too, so callbacks run queued, sent, delivered (the default).
    #[default]
    Send,
    /// Skip the initial status as Twilio documents: a message sent with `From` calls back
    /// sent, delivered; one sent through a Messaging Service (initially `accepted`) calls
    /// back queued, sent, delivered.
    Skip,
}

/// A Twilio phone number owned by an account.
#[derive(Clone, Debug)]
pub struct SimNumber {
    pub(crate) number: String,
    pub(crate) sms_url: Option<String>,
    pub(crate) sms_method: WebhookMethod,
}

impl SimNumber {
    /// A number (E.164) with no webhook yet.
    pub fn new(number: impl Into<String>) -> Self {
        Self {
            number: number.into(),
            sms_url: None,
            sms_method: WebhookMethod::Post,
        }
    }

    /// Sets `sms_url` (POST), the URL texts to this number are sent to and signed over.
    #[must_use]
    pub fn with_sms_url(mut self, url: impl Into<String>) -> Self {
        self.sms_url = Some(url.into());
        self
    }

    /// Sets `sms_method`.
    #[must_use]
    pub fn with_sms_method(mut self, method: WebhookMethod) -> Self {
        self.sms_method = method;
        self
    }

    /// The number.
    #[must_use]
    pub fn number(&self) -> &str {
        &self.number
    }
}

/// A Messaging Service: a pool of the account's numbers with its own inbound settings.
#[derive(Clone, Debug)]
pub struct SimMessagingService {
    pub(crate) sid: String,
    pub(crate) friendly_name: String,
    pub(crate) numbers: Vec<String>,
    pub(crate) inbound_request_url: Option<String>,
    pub(crate) inbound_method: WebhookMethod,
    pub(crate) use_inbound_webhook_on_number: bool,
    pub(crate) status_callback: Option<String>,
}

impl SimMessagingService {
    /// A service `MG…` with an empty pool, no inbound URL, not deferring to numbers
    /// (Twilio's defaults for a new service).
    pub fn new(sid: impl Into<String>) -> Self {
        Self {
            sid: sid.into(),
            friendly_name: "Simulated Messaging Service".to_owned(),
            numbers: Vec::new(),
            inbound_request_url: None,
            inbound_method: WebhookMethod::Post,
            use_inbound_webhook_on_number: false,
            status_callback: None,
        }
    }

    /// Adds one of the account's numbers to the sender pool.
    #[must_use]
    pub fn with_number(mut self, number: impl Into<String>) -> Self {
        self.numbers.push(number.into());
        self
    }

    /// Sets `inbound_request_url` (and POST): texts to pool numbers go here unless the
    /// service defers to the numbers.
    #[must_use]
    pub fn with_inbound_request_url(mut self, url: impl Into<String>) -> Self {
        self.inbound_request_url = Some(url.into());
        self
    }

    /// Sets `inbound_method`.
    #[must_use]
    pub fn with_inbound_method(mut self, method: WebhookMethod) -> Self {
        self.inbound_method = method;
        self
    }

    /// Sets `use_inbound_webhook_on_number = true`: each number's own `sms_url` wins.
    #[must_use]
    pub fn defer_inbound_to_numbers(mut self) -> Self {
        self.use_inbound_webhook_on_number = true;
        self
    }

    /// Sets the service's `status_callback`, used when a create request has none.
    #[must_use]
    pub fn with_status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Sets `friendly_name`.
    #[must_use]
    pub fn with_friendly_name(mut self, name: impl Into<String>) -> Self {
        self.friendly_name = name.into();
        self
    }

    /// The service SID.
    #[must_use]
    pub fn sid(&self) -> &str {
        &self.sid
    }
}

/// Account type, as `type` in the Account resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AccountType {
    /// A paid account: sends anywhere.
    #[default]
    Full,
    /// A trial account: sends only to the listed verified numbers (else error 21608).
    Trial {
        /// Verified caller IDs (E.164).
        verified: Vec<String>,
    },
}

/// One simulated Twilio account.
#[derive(Clone, Debug)]
pub struct SimAccount {
    pub(crate) sid: String,
    pub(crate) auth_token: SecretString,
    pub(crate) friendly_name: String,
    pub(crate) account_type: AccountType,
    pub(crate) api_keys: Vec<(String, SecretString)>,
    pub(crate) numbers: Vec<SimNumber>,
    pub(crate) services: Vec<SimMessagingService>,
}

impl SimAccount {
    /// An account `AC…` (34 characters) with its primary Auth Token (used for Basic auth and
    /// to sign every webhook).
    pub fn new(sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            sid: sid.into(),
            auth_token: SecretString::from(auth_token.into()),
            friendly_name: "Simulated account".to_owned(),
            account_type: AccountType::Full,
            api_keys: Vec::new(),
            numbers: Vec::new(),
            services: Vec::new(),
        }
    }

    /// Accepts Basic auth with an API key (`SK…` SID and its secret) for this account.
    #[must_use]
    pub fn with_api_key(mut self, key_sid: impl Into<String>, secret: impl Into<String>) -> Self {
        self.api_keys
            .push((key_sid.into(), SecretString::from(secret.into())));
        self
    }

    /// Sets the account type (trial accounts get 21608 for unverified recipients).
    #[must_use]
    pub fn with_type(mut self, account_type: AccountType) -> Self {
        self.account_type = account_type;
        self
    }

    /// Adds an owned number.
    #[must_use]
    pub fn with_number(mut self, number: SimNumber) -> Self {
        self.numbers.push(number);
        self
    }

    /// Adds a Messaging Service (its pool numbers must be owned numbers of this account).
    #[must_use]
    pub fn with_messaging_service(mut self, service: SimMessagingService) -> Self {
        self.services.push(service);
        self
    }

    /// Sets `friendly_name`.
    #[must_use]
    pub fn with_friendly_name(mut self, name: impl Into<String>) -> Self {
        self.friendly_name = name.into();
        self
    }

    /// The account SID.
    #[must_use]
    pub fn sid(&self) -> &str {
        &self.sid
    }
}

/// Everything [`Simulator::start`](crate::Simulator::start) needs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub(crate) port: u16,
    pub(crate) accounts: Vec<SimAccount>,
    pub(crate) faults: Faults,
    pub(crate) seed: Option<u64>,
    pub(crate) opt_out_type: OptOutTypeField,
    pub(crate) initial_status_callback: InitialStatusCallback,
    pub(crate) delivery_step: Duration,
    pub(crate) webhook_timeout: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SimConfig {
    /// No accounts, any free port on 127.0.0.1, no faults, a random seed.
    #[must_use]
    pub fn new() -> Self {
        Self {
            port: 0,
            accounts: Vec::new(),
            faults: Faults::default(),
            seed: None,
            opt_out_type: OptOutTypeField::default(),
            initial_status_callback: InitialStatusCallback::default(),
            delivery_step: Duration::ZERO,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
        }
    }

    /// Listens on this port of 127.0.0.1 (0, the default, picks a free one).
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Adds an account.
    #[must_use]
    pub fn with_account(mut self, account: SimAccount) -> Self {
        self.accounts.push(account);
        self
    }

    /// Starts with these faults (they can be changed later through the handle).
    #[must_use]
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Seeds the fault RNG so a run's faults are reproducible.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Chooses when keyword webhooks carry `OptOutType`.
    #[must_use]
    pub fn with_opt_out_type_field(mut self, field: OptOutTypeField) -> Self {
        self.opt_out_type = field;
        self
    }

    /// Chooses whether the initial status gets a callback.
    #[must_use]
    pub fn with_initial_status_callback(mut self, initial: InitialStatusCallback) -> Self {
        self.initial_status_callback = initial;
        self
    }

    /// Waits this long between two status transitions of a message (default: none).
    #[must_use]
    pub fn with_delivery_step(mut self, step: Duration) -> Self {
        self.delivery_step = step;
        self
    }

    /// How long a phone waits for a webhook or callback answer (default
    /// [`DEFAULT_WEBHOOK_TIMEOUT`]).
    #[must_use]
    pub fn with_webhook_timeout(mut self, timeout: Duration) -> Self {
        self.webhook_timeout = timeout;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let config = SimConfig::new().with_account(
            SimAccount::new("AC0123456789abcdef0123456789abcdef", "super-secret-token")
                .with_api_key("SK0123456789abcdef0123456789abcdef", "super-secret-key"),
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("AC0123456789abcdef0123456789abcdef"));
    }
}
