//! One running SMS account: its settings, its resolved secrets, its Twilio client and its
//! webhook limiters.

use std::time::Duration;

use openclaw_twilio::sid::{AccountSid, ApiKeySid, MessagingServiceSid};
use openclaw_twilio::{ApiBase, Client, ClientConfig, Credentials, Sender};
use secrecy::SecretString;

use crate::SmsError;
use crate::config::AccountSettings;
use crate::limits::{FixedWindowLimiter, InFlightLimiter};
use crate::public_url::{UrlPolicy, status_callback_url};

/// Delivery-status callbacks accepted per route per minute before 503 (upstream's fuse).
pub const CALLBACKS_PER_ROUTE_PER_MINUTE: u32 = 3_000;

/// An account's settings with its secrets resolved (by the gateway's secrets runtime).
#[derive(Debug, Clone)]
pub struct ResolvedAccount {
    /// The settings.
    pub settings: AccountSettings,
    /// The Auth Token (signature key, and API credential unless an API key is set).
    pub auth_token: SecretString,
    /// The API Key secret, when `apiKeySid` is set.
    pub api_key_secret: Option<SecretString>,
}

/// Options for building accounts.
#[derive(Debug, Clone, Copy)]
pub struct AccountOptions {
    /// Twilio connect timeout.
    pub connect_timeout: Duration,
    /// Twilio request timeout.
    pub request_timeout: Duration,
}

impl Default for AccountOptions {
    fn default() -> Self {
        Self {
            connect_timeout: openclaw_twilio::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: openclaw_twilio::DEFAULT_TIMEOUT,
        }
    }
}

/// Per-route webhook limiters, sized from `channels.sms.limits`.
#[derive(Debug)]
pub struct RouteLimiters {
    /// Failed requests per client address.
    pub invalid: FixedWindowLimiter,
    /// Inbound texts per sender.
    pub per_sender: FixedWindowLimiter,
    /// Inbound texts per route.
    pub per_route: FixedWindowLimiter,
    /// Delivery callbacks per route.
    pub callbacks: FixedWindowLimiter,
    /// Unauthenticated requests in flight.
    pub pre_auth: InFlightLimiter,
}

/// A running account.
#[derive(Debug)]
pub struct AccountRuntime {
    /// Settings.
    pub settings: AccountSettings,
    /// The Auth Token.
    pub auth_token: SecretString,
    /// The Twilio REST client.
    pub twilio: Client,
    /// The sender every outbound message uses.
    pub sender: Sender,
    /// The per-message StatusCallback URL, when the public URL can take callbacks.
    pub status_callback: Option<String>,
    /// Webhook limiters.
    pub limiters: RouteLimiters,
}

impl AccountRuntime {
    /// Builds the runtime of a configured account.
    pub fn new(resolved: ResolvedAccount, options: AccountOptions) -> Result<Self, SmsError> {
        let ResolvedAccount {
            settings,
            auth_token,
            api_key_secret,
        } = resolved;
        let path = settings.config_path.clone();
        let invalid =
            |key: &str, message: String| SmsError::invalid(&format!("{path}.{key}"), &message);
        let account_sid = AccountSid::parse(&settings.account_sid)
            .map_err(|e| invalid("accountSid", format!("\"{}\": {e}", settings.account_sid)))?;
        let credentials = match (&settings.api_key_sid, api_key_secret) {
            (Some(key_sid), Some(secret)) => Credentials::ApiKey {
                account_sid,
                key_sid: ApiKeySid::parse(key_sid)
                    .map_err(|e| invalid("apiKeySid", e.to_string()))?,
                secret,
            },
            _ => Credentials::AuthToken {
                account_sid,
                token: auth_token.clone(),
            },
        };
        let base = match (&settings.api_base_url, &settings.region, &settings.edge) {
            (Some(url), _, _) => ApiBase::Custom(url.clone()),
            (None, Some(region), Some(edge)) => ApiBase::Region {
                region: region.clone(),
                edge: edge.clone(),
            },
            (None, Some(_), None) => {
                return Err(invalid(
                    "edge",
                    "is required with region (e.g. region \"au1\", edge \"sydney\")".to_owned(),
                ));
            }
            (None, None, Some(_)) => {
                return Err(invalid(
                    "region",
                    "is required with edge (e.g. region \"au1\", edge \"sydney\")".to_owned(),
                ));
            }
            (None, None, None) => ApiBase::Default,
        };
        let config = ClientConfig::new(credentials)
            .base(base)
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout);
        let twilio = Client::new(config).map_err(|e| invalid("apiBaseUrl", e.to_string()))?;
        let sender = match (&settings.from_number, &settings.messaging_service_sid) {
            (Some(number), _) => Sender::From(number.to_string()),
            (None, Some(sid)) => Sender::MessagingService(
                MessagingServiceSid::parse(sid)
                    .map_err(|e| invalid("messagingServiceSid", e.to_string()))?,
            ),
            (None, None) => {
                return Err(invalid(
                    "fromNumber",
                    "Twilio SMS send requires fromNumber or messagingServiceSid.".to_owned(),
                ));
            }
        };
        // Real Twilio cannot call a loopback URL, but a local Twilio (the simulator) can.
        let policy = UrlPolicy {
            allow_private_hosts: api_is_local(twilio.api_base()),
        };
        let status_callback = settings
            .public_webhook_url
            .as_deref()
            .and_then(|u| status_callback_url(u, policy));
        let limits = settings.limits;
        let limiters = RouteLimiters {
            invalid: FixedWindowLimiter::new(limits.invalid_per_client_per_minute),
            per_sender: FixedWindowLimiter::new(limits.per_sender_per_minute),
            per_route: FixedWindowLimiter::new(limits.per_route_per_minute),
            callbacks: FixedWindowLimiter::new(CALLBACKS_PER_ROUTE_PER_MINUTE),
            pre_auth: InFlightLimiter::new(limits.pre_auth_in_flight as usize),
        };
        Ok(Self {
            settings,
            auth_token,
            twilio,
            sender,
            status_callback,
            limiters,
        })
    }

    /// The account id.
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// The sender as shown to people (`+1555…` or `MG…`).
    pub fn sender_label(&self) -> String {
        self.settings.sender_label()
    }
}

/// Whether a Twilio API base URL is on this machine (the simulator).
pub fn api_is_local(base: &str) -> bool {
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .unwrap_or(base);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    host == "localhost" || host.starts_with("127.") || rest.starts_with("[::1]")
}
