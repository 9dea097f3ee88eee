//! Agent backends: how an allowed SMS becomes a model's answer.
//!
//! Configured the upstream way: `models.providers.<id>` (with `api: "openai-completions"`,
//! `api: "openclaw-gateway"` for an agent of a running OpenClaw gateway, or our
//! `api: "command"`) and `agents.defaults.model.primary: "<provider>/<model>"`. The echo
//! agent answers when `primary` is `"echo"`, and in `gateway --dev` when no model is configured;
//! a gateway for real senders without a model refuses to start ([`no_model_error`]).

mod command;
mod content;
mod echo;
mod openai;
mod openclaw;
mod probe;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use openclaw_sms::Agent;
use openclaw_sms::config::SecretInput;
use serde_json::Value;

pub(crate) use command::CommandAgent;
pub(crate) use echo::EchoAgent;
pub(crate) use openai::{OpenAiAgent, OpenAiOptions};
pub(crate) use openclaw::{OpenClawAgent, OpenClawOptions, SessionScope};
pub(crate) use probe::{agent_line, probe_agent};

use crate::secrets::SecretsRuntime;

/// How many earlier lines of a conversation each turn carries, unless configured.
pub(crate) const DEFAULT_HISTORY_TURNS: usize = 10;
/// Default time a model may take for one answer.
pub(crate) const DEFAULT_MODEL_TIMEOUT: Duration = Duration::from_secs(60);

/// The system prompt every model turn starts with.
pub(crate) const SMS_SYSTEM_PROMPT: &str = "You are a personal assistant answering by SMS. \
Reply in plain text: no markdown, no tables, no code fences. Keep answers short: every 160 \
characters costs the user a text message. If a longer answer is needed, give the essentials first.";

/// The agent settings from `agents.defaults`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentSettings {
    pub(crate) history_turns: usize,
}

/// The ways to give the gateway an agent, for the errors that ask for one (one line each,
/// `; `-separated: the binary prints errors on one line).
pub(crate) const AGENT_CHOICES: &str = "(1) your OpenClaw agent through the OpenClaw bridge: \
models.providers.openclaw: { api: \"openclaw-gateway\", baseUrl: \"http://127.0.0.1:18789\", apiKey: … } \
with agents.defaults.model.primary: \"openclaw/main\" (see docs/channels/sms.md#use-your-openclaw-agent); \
(2) a model server with an OpenAI-compatible API (Ollama, vLLM, OpenAI, …): \
models.providers.<id>: { api: \"openai-completions\", baseUrl: \"http://127.0.0.1:11434/v1\" } \
with agents.defaults.model.primary: \"<id>/<model>\"; \
(3) a program of yours: models.providers.<id>: { api: \"command\", command: [\"/usr/local/bin/my-agent\"] } \
with agents.defaults.model.primary: \"<id>/any\"; \
(4) for testing only, the echo agent: agents.defaults.model.primary: \"echo\" (or `openclaw gateway --dev`)";

/// `agents.defaults.model.primary` (or the `agents.defaults.model` string), if set.
fn primary_model(config: &Value) -> Option<&Value> {
    let defaults = config.pointer("/agents/defaults")?;
    defaults
        .pointer("/model/primary")
        .or_else(|| defaults.get("model").filter(|m| m.is_string()))
}

/// Whether the config names a model (`"echo"` included): a gateway for real senders needs one.
pub(crate) fn names_a_model(config: &Value) -> bool {
    primary_model(config).is_some()
}

/// The start-up error of a gateway whose config names no model: without one it would answer
/// real senders with echoes of their own texts.
pub(crate) fn no_model_error() -> anyhow::Error {
    anyhow!(
        "no agent is configured (agents.defaults.model.primary is not set), so every sender would get an echo of their own text; choose one with `openclaw config patch`: {AGENT_CHOICES}"
    )
}

/// Builds the agent the config names (echo when none), and its settings.
pub(crate) fn build_agent(
    config: &Value,
    secrets: &SecretsRuntime<'_>,
) -> anyhow::Result<(Arc<dyn Agent>, AgentSettings)> {
    let defaults = config.pointer("/agents/defaults");
    let history_turns = match defaults.and_then(|d| d.get("historyTurns")) {
        None => DEFAULT_HISTORY_TURNS,
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                anyhow!("agents.defaults.historyTurns must be a whole number (0 for none)")
            })?,
    };
    let settings = AgentSettings { history_turns };
    let Some(primary) = primary_model(config) else {
        return Ok((Arc::new(EchoAgent), settings));
    };
    let primary = primary
        .as_str()
        .ok_or_else(|| {
            anyhow!("agents.defaults.model.primary must be a string \"<provider>/<model>\"")
        })?
        .trim();
    if primary == "echo" {
        return Ok((Arc::new(EchoAgent), settings));
    }
    let (provider_id, model_id) = primary.split_once('/').ok_or_else(|| {
        anyhow!("agents.defaults.model.primary is \"{primary}\"; write \"<provider>/<model>\", e.g. \"ollama/llama3.2\" (or \"echo\")")
    })?;
    let path = format!("models.providers.{provider_id}");
    let provider = config
        .pointer(&format!("/models/providers/{provider_id}"))
        .ok_or_else(|| anyhow!("agents.defaults.model.primary names provider \"{provider_id}\", but {path} is not configured: this gateway does not talk to model vendors itself (an OpenClaw config's \"{primary}\" is served by OpenClaw's own gateway); choose one of: {AGENT_CHOICES}"))?;
    let api = provider
        .get("api")
        .and_then(Value::as_str)
        .unwrap_or("openai-completions");
    let timeout = provider
        .get("timeoutMs")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MODEL_TIMEOUT, Duration::from_millis);
    match api {
        "openai-completions" => {
            let base_url = provider
                .get("baseUrl")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("{path}.baseUrl is required for api \"openai-completions\" (e.g. http://127.0.0.1:11434/v1)"))?;
            if let Some(models) = provider.get("models").and_then(Value::as_array) {
                let known = models
                    .iter()
                    .any(|m| m.get("id").and_then(Value::as_str) == Some(model_id));
                if !known {
                    bail!(
                        "agents.defaults.model.primary names model \"{model_id}\", which is not listed in {path}.models"
                    );
                }
            }
            let api_key = match provider.get("apiKey") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let input: SecretInput = serde_json::from_value(v.clone())
                        .map_err(|_| anyhow!("{path}.apiKey must be a string or a SecretRef"))?;
                    Some(secrets.resolve(&format!("{path}.apiKey"), &input)?)
                }
            };
            let agent = OpenAiAgent::new(OpenAiOptions {
                base_url: base_url.to_owned(),
                model: model_id.to_owned(),
                api_key,
                timeout,
                max_attempts: 3,
                image_input: content::declares_image_input(model_entry(provider, model_id)),
                media_budget: openclaw_sms::media::MESSAGE_MEDIA_BUDGET,
            })
            .with_context(|| format!("set up {path}"))?;
            Ok((Arc::new(agent), settings))
        }
        "command" => {
            let command: Vec<String> = provider
                .get("command")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .filter(|c: &Vec<String>| !c.is_empty())
                .ok_or_else(|| anyhow!("{path}.command must be a list such as [\"/usr/local/bin/my-agent\", \"--flag\"]"))?;
            let agent =
                CommandAgent::new(command, timeout).with_context(|| format!("set up {path}"))?;
            Ok((Arc::new(agent), settings))
        }
        "openclaw-gateway" => {
            let agent = openclaw_agent(provider, &path, model_id, secrets)?;
            Ok((Arc::new(agent), settings))
        }
        other => bail!(
            "{path}.api is \"{other}\"; supported: \"openai-completions\", \"openclaw-gateway\", \"command\""
        ),
    }
}

/// The entry of `models` whose `id` is `model_id`, if the provider lists models.
fn model_entry<'a>(provider: &'a Value, model_id: &str) -> Option<&'a Value> {
    provider
        .get("models")
        .and_then(Value::as_array)?
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(model_id))
}

/// The `api: "openclaw-gateway"` provider at `path`, answering with OpenClaw agent `agent_id`.
fn openclaw_agent(
    provider: &Value,
    path: &str,
    agent_id: &str,
    secrets: &SecretsRuntime<'_>,
) -> anyhow::Result<OpenClawAgent> {
    let base_url = provider.get("baseUrl").and_then(Value::as_str).ok_or_else(|| {
        anyhow!("{path}.baseUrl is required for api \"openclaw-gateway\": the OpenClaw gateway's address, e.g. http://127.0.0.1:18789")
    })?;
    if provider.get("models").is_some() && model_entry(provider, agent_id).is_none() {
        bail!(
            "agents.defaults.model.primary names OpenClaw agent \"{agent_id}\", which is not listed in {path}.models (add {{ id: \"{agent_id}\" }})"
        );
    }
    let api_key = match provider.get("apiKey") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let input: SecretInput = serde_json::from_value(v.clone()).map_err(|_| {
                anyhow!("{path}.apiKey must be a string or a SecretRef (the OpenClaw gateway's gateway.auth.token)")
            })?;
            Some(secrets.resolve(&format!("{path}.apiKey"), &input)?)
        }
    };
    let scope = match provider.get("sessionScope") {
        None | Some(Value::Null) => SessionScope::PerChannelPeer,
        Some(v) => v
            .as_str()
            .and_then(SessionScope::parse)
            .ok_or_else(|| anyhow!("{path}.sessionScope must be one of {}", SessionScope::NAMES))?,
    };
    let timeout = match provider.get("timeoutMs") {
        None | Some(Value::Null) => openclaw::DEFAULT_OPENCLAW_TIMEOUT,
        Some(v) => v
            .as_u64()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .ok_or_else(|| anyhow!("{path}.timeoutMs must be a positive number of milliseconds"))?,
    };
    if scope == SessionScope::Main {
        tracing::warn!(
            "{path}.sessionScope is \"main\": every texter shares one OpenClaw session, so each can see what the others said; use \"per-channel-peer\" when more than one sender is allowed"
        );
    }
    tracing::info!(
        "SMS is answered by OpenClaw agent \"{agent_id}\" at {base_url} (sessionScope {})",
        scope.as_str()
    );
    OpenClawAgent::new(OpenClawOptions {
        config_path: path.to_owned(),
        base_url: base_url.to_owned(),
        agent_id: agent_id.to_owned(),
        api_key,
        scope,
        timeout,
        image_input: content::declares_image_input(model_entry(provider, agent_id)),
        media_budget: openclaw_sms::media::MESSAGE_MEDIA_BUDGET,
    })
}

/// `agents.defaults.slowReplyNoticeAfterMs`: after how long a turn still running gets one
/// "working on it" text; `None` (the default) sends none.
pub(crate) fn slow_reply_notice_after(config: &Value) -> anyhow::Result<Option<Duration>> {
    match config.pointer("/agents/defaults/slowReplyNoticeAfterMs") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|ms| (ms > 0).then(|| Duration::from_millis(ms)))
            .ok_or_else(|| {
                anyhow!("agents.defaults.slowReplyNoticeAfterMs must be a number of milliseconds (0 or absent for no notice)")
            }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::env::Env;

    fn build(config: Value) -> anyhow::Result<String> {
        let env = Env::from_pairs(&[("OPENAI_KEY", "sk-test")]);
        let secrets = SecretsRuntime::new(&config, &env);
        build_agent(&config, &secrets).map(|(a, _)| a.name().to_owned())
    }

    #[test]
    fn selection() {
        assert_eq!(build(json!({})).unwrap(), "echo");
        let cfg = json!({"models": {"providers": {"local": {"api": "openai-completions", "baseUrl": "http://127.0.0.1:1/v1",
            "apiKey": "${OPENAI_KEY}", "models": [{"id": "m1"}]}}}, "agents": {"defaults": {"model": {"primary": "local/m1"}}}});
        assert_eq!(build(cfg).unwrap(), "openai:m1");
        let entry = json!({"models": [{"id": "m1", "input": ["text", "image"]}, {"id": "m2"}]});
        assert!(content::declares_image_input(model_entry(&entry, "m1")));
        assert!(!content::declares_image_input(model_entry(&entry, "m2")));
        assert!(!content::declares_image_input(model_entry(
            &json!({}),
            "m1"
        )));
        let cfg = json!({"models": {"providers": {"cmd": {"api": "command", "command": ["/bin/cat"]}}}, "agents": {"defaults": {"model": {"primary": "cmd/any"}}}});
        assert_eq!(build(cfg).unwrap(), "command:/bin/cat");
    }

    #[test]
    fn a_model_is_named_only_by_primary() {
        assert!(!names_a_model(&json!({})));
        assert!(!names_a_model(
            &json!({"agents": {"defaults": {"historyTurns": 3}}})
        ));
        assert!(names_a_model(
            &json!({"agents": {"defaults": {"model": {"primary": "echo"}}}})
        ));
        assert!(names_a_model(
            &json!({"agents": {"defaults": {"model": "local/m"}}})
        ));
        let text = no_model_error().to_string();
        for choice in [
            "openclaw-gateway",
            "openai-completions",
            "\"command\"",
            "primary: \"echo\"",
        ] {
            assert!(text.contains(choice), "{choice}: {text}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let msg = |cfg: Value| format!("{:#}", build(cfg).unwrap_err());
        assert!(
            msg(json!({"agents": {"defaults": {"model": {"primary": "nope"}}}}))
                .contains("write \"<provider>/<model>\"")
        );
        let unknown = msg(json!({"agents": {"defaults": {"model": {"primary": "x/y"}}}}));
        assert!(unknown.contains("models.providers.x is not configured"));
        // What to do instead: the OpenClaw bridge or an OpenAI-compatible server.
        assert!(unknown.contains("api: \"openclaw-gateway\""), "{unknown}");
        assert!(unknown.contains("api: \"openai-completions\""), "{unknown}");
        let cfg = json!({"models": {"providers": {"p": {"api": "openai-completions"}}}, "agents": {"defaults": {"model": {"primary": "p/m"}}}});
        assert!(msg(cfg).contains("models.providers.p.baseUrl is required"));
        let cfg = json!({"models": {"providers": {"p": {"api": "openai-completions", "baseUrl": "http://x", "models": [{"id": "a"}]}}}, "agents": {"defaults": {"model": {"primary": "p/m"}}}});
        assert!(msg(cfg).contains("not listed in models.providers.p.models"));
        let cfg = json!({"models": {"providers": {"p": {"api": "command", "command": ["rel/path"]}}}, "agents": {"defaults": {"model": {"primary": "p/m"}}}});
        assert!(msg(cfg).contains("absolute path"));
        let cfg = json!({"models": {"providers": {"p": {"api": "grpc"}}}, "agents": {"defaults": {"model": {"primary": "p/m"}}}});
        assert!(
            msg(cfg)
                .contains("supported: \"openai-completions\", \"openclaw-gateway\", \"command\"")
        );
    }

    fn openclaw(provider: Value) -> Value {
        json!({"models": {"providers": {"openclaw": provider}}, "agents": {"defaults": {"model": {"primary": "openclaw/main"}}}})
    }

    #[test]
    fn openclaw_gateway_provider() {
        let cfg = openclaw(
            json!({"api": "openclaw-gateway", "baseUrl": "http://127.0.0.1:18789",
            "apiKey": "${OPENAI_KEY}", "sessionScope": "per-account-channel-peer", "models": [{"id": "main"}]}),
        );
        assert_eq!(build(cfg).unwrap(), "openclaw:main");
        let cfg =
            openclaw(json!({"api": "openclaw-gateway", "baseUrl": "http://127.0.0.1:18789/v1"}));
        assert_eq!(build(cfg).unwrap(), "openclaw:main");
        let msg = |provider: Value| format!("{:#}", build(openclaw(provider)).unwrap_err());
        assert!(
            msg(json!({"api": "openclaw-gateway"}))
                .contains("models.providers.openclaw.baseUrl is required")
        );
        assert!(
            msg(json!({"api": "openclaw-gateway", "baseUrl": "127.0.0.1:18789"}))
                .contains("models.providers.openclaw.baseUrl must start with http://")
        );
        assert!(
            msg(json!({"api": "openclaw-gateway", "baseUrl": "http://x", "sessionScope": "per-channel"}))
                .contains("models.providers.openclaw.sessionScope must be one of \"main\"")
        );
        assert!(
            msg(
                json!({"api": "openclaw-gateway", "baseUrl": "http://x", "models": [{"id": "ops"}]})
            )
            .contains(
                "OpenClaw agent \"main\", which is not listed in models.providers.openclaw.models"
            )
        );
        assert!(
            msg(json!({"api": "openclaw-gateway", "baseUrl": "http://x", "timeoutMs": 0}))
                .contains("models.providers.openclaw.timeoutMs must be a positive number")
        );
        assert!(
            msg(json!({"api": "openclaw-gateway", "baseUrl": "http://x", "apiKey": 5}))
                .contains("models.providers.openclaw.apiKey must be a string or a SecretRef")
        );
    }

    #[test]
    fn slow_reply_notice_setting() {
        let at = |v: Value| {
            slow_reply_notice_after(&json!({"agents": {"defaults": {"slowReplyNoticeAfterMs": v}}}))
        };
        assert_eq!(slow_reply_notice_after(&json!({})).unwrap(), None);
        assert_eq!(at(json!(0)).unwrap(), None);
        assert_eq!(at(json!(45000)).unwrap(), Some(Duration::from_secs(45)));
        assert!(
            at(json!("soon"))
                .unwrap_err()
                .to_string()
                .contains("agents.defaults.slowReplyNoticeAfterMs")
        );
    }
}
