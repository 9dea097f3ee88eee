//! `channels status --probe`: which agent answers SMS, and whether it is reachable.
//!
//! For `openclaw-gateway`: `GET <gateway>/v1/models` with the token, which says whether the
//! OpenClaw gateway is up, whether it accepts the token, whether its chat-completions
//! endpoints are enabled (they are served together), and whether the agent is listed (as
//! `openclaw/<agentId>`). For `openai-completions`: `GET <baseUrl>/models`, the same way.
//! Nothing is sent that runs a turn.

use std::time::Duration;

use openclaw_sms::config::SecretInput;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use super::openai::read_limited;
use super::openclaw::gateway_base;
use crate::secrets::SecretsRuntime;

/// How long the probe waits for the agent's server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The agent the config names, probed: `{"name", "api", "ok", …}`.
pub(crate) async fn probe_agent(config: &Value, secrets: &SecretsRuntime<'_>) -> Value {
    let primary = config
        .pointer("/agents/defaults/model/primary")
        .or_else(|| {
            config
                .pointer("/agents/defaults/model")
                .filter(|m| m.is_string())
        })
        .and_then(Value::as_str)
        .map(str::trim);
    let Some((provider_id, model_id)) = primary.and_then(|p| p.split_once('/')) else {
        return json!({"name": "echo", "api": "echo", "ok": true});
    };
    let path = format!("models.providers.{provider_id}");
    let Some(provider) = config.pointer(&format!("/models/providers/{provider_id}")) else {
        return failed(provider_id, "unknown", format!("{path} is not configured"));
    };
    let api = provider
        .get("api")
        .and_then(Value::as_str)
        .unwrap_or("openai-completions");
    let base_url = provider
        .get("baseUrl")
        .and_then(Value::as_str)
        .unwrap_or("");
    let key = match provider.get("apiKey") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value::<SecretInput>(v.clone())
            .map_err(|_| anyhow::anyhow!("{path}.apiKey must be a string or a SecretRef"))
            .and_then(|input| secrets.resolve(&format!("{path}.apiKey"), &input))
            .map(Some),
    };
    let key = match key {
        Ok(key) => key,
        Err(err) => {
            return failed(
                &format!("{provider_id}/{model_id}"),
                api,
                format!("{err:#}"),
            );
        }
    };
    match api {
        "openclaw-gateway" => match gateway_base(base_url) {
            Ok(base) => {
                let target = Target {
                    name: format!("openclaw:{model_id}"),
                    api,
                    url: format!("{base}/v1/models"),
                    listed_as: format!("openclaw/{model_id}"),
                    path: &path,
                    openclaw: true,
                };
                check(&target, key.as_ref()).await
            }
            Err(why) => failed(model_id, api, format!("{path}.baseUrl {why}")),
        },
        "openai-completions" => {
            let target = Target {
                name: format!("openai:{model_id}"),
                api,
                url: format!("{}/models", base_url.trim_end_matches('/')),
                listed_as: model_id.to_owned(),
                path: &path,
                openclaw: false,
            };
            check(&target, key.as_ref()).await
        }
        other => json!({"name": format!("{other}:{model_id}"), "api": other, "ok": true}),
    }
}

fn failed(name: &str, api: &str, error: String) -> Value {
    json!({"name": name, "api": api, "ok": false, "reachable": false, "error": error})
}

struct Target<'a> {
    name: String,
    api: &'a str,
    url: String,
    listed_as: String,
    path: &'a str,
    openclaw: bool,
}

async fn check(target: &Target<'_>, key: Option<&SecretString>) -> Value {
    let mut report = json!({"name": target.name, "api": target.api, "url": target.url});
    let client = match reqwest::Client::builder().timeout(PROBE_TIMEOUT).build() {
        Ok(c) => c,
        Err(err) => {
            report["ok"] = json!(false);
            report["error"] = json!(format!("cannot build an HTTP client: {err}"));
            return report;
        }
    };
    let mut request = client.get(&target.url);
    if let Some(key) = key {
        request = request.bearer_auth(key.expose_secret());
    }
    let (ok, reachable, error, listed) = match request.send().await {
        Err(err) if err.is_connect() || err.is_timeout() => (
            false,
            false,
            Some(if target.openclaw {
                format!(
                    "cannot reach the OpenClaw gateway at {}: is it running (`openclaw gateway run`) and is {}.baseUrl right?",
                    target.url, target.path
                )
            } else {
                format!("cannot reach the model server at {}", target.url)
            }),
            None,
        ),
        Err(err) => (
            false,
            false,
            Some(format!("request failed: {}", err.without_url())),
            None,
        ),
        Ok(response) => {
            let status = response.status().as_u16();
            let body = read_limited(response).await.unwrap_or_default();
            match status {
                401 | 403 => (
                    false,
                    true,
                    Some(format!(
                        "the token was refused ({status}): set {}.apiKey{}",
                        target.path,
                        if target.openclaw {
                            " (e.g. OPENCLAW_GATEWAY_TOKEN) to the OpenClaw gateway's gateway.auth.token"
                        } else {
                            ""
                        }
                    )),
                    None,
                ),
                404 | 405 if target.openclaw => (
                    false,
                    true,
                    Some(
                        "the OpenClaw gateway does not serve /v1/models: enable gateway.http.endpoints.chatCompletions in the OpenClaw config and restart it"
                            .to_owned(),
                    ),
                    None,
                ),
                200..=299 => {
                    let listed = listed(&body, &target.listed_as);
                    let error = (target.openclaw && listed == Some(false)).then(|| {
                        format!(
                            "the OpenClaw gateway has no agent {}: check agents.defaults.model.primary and the agents in the OpenClaw config",
                            target.listed_as
                        )
                    });
                    (error.is_none(), true, error, listed)
                }
                // An OpenAI-compatible server without /models still answers chat.
                _ if !target.openclaw => (true, true, None, None),
                other => (
                    false,
                    true,
                    Some(format!("the OpenClaw gateway answered {other}")),
                    None,
                ),
            }
        }
    };
    report["ok"] = json!(ok);
    report["reachable"] = json!(reachable);
    report["listed"] = json!(listed);
    if let Some(error) = error {
        report["error"] = json!(error);
    }
    report
}

/// Whether `id` is among the `data[].id` of a models list (`None`: not a models list).
fn listed(body: &[u8], id: &str) -> Option<bool> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?.as_array()?;
    Some(
        data.iter()
            .any(|m| m.get("id").and_then(Value::as_str) == Some(id)),
    )
}

/// One line for the status text: `Agent: openclaw:main (openclaw-gateway): ok` or the error.
pub(crate) fn agent_line(report: &Value) -> String {
    let name = report["name"].as_str().unwrap_or("unknown");
    let api = report["api"].as_str().unwrap_or("unknown");
    let mut line = format!("Agent: {name} ({api})");
    if let Some(url) = report["url"].as_str() {
        line.push_str(&format!(" at {url}"));
    }
    match report["error"].as_str() {
        Some(error) => line.push_str(&format!(": failed ({error})")),
        None if report["reachable"] == true => line.push_str(": reachable"),
        None => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    async fn probe(config: Value) -> Value {
        let env = Env::from_pairs(&[("OPENCLAW_GATEWAY_TOKEN", "gw-secret-token")]);
        let secrets = SecretsRuntime::new(&config, &env);
        probe_agent(&config, &secrets).await
    }

    fn openclaw(url: &str) -> Value {
        json!({"models": {"providers": {"openclaw": {"api": "openclaw-gateway", "baseUrl": url,
            "apiKey": "${OPENCLAW_GATEWAY_TOKEN}", "models": [{"id": "main"}]}}},
            "agents": {"defaults": {"model": {"primary": "openclaw/main"}}}})
    }

    #[tokio::test]
    async fn openclaw_reachable_token_accepted_agent_listed() {
        let mut server = mockito::Server::new_async().await;
        let _m = server
            .mock("GET", "/v1/models")
            .match_header("authorization", "Bearer gw-secret-token")
            .with_body(r#"{"object":"list","data":[{"id":"openclaw"},{"id":"openclaw/main"}]}"#)
            .create_async()
            .await;
        let report = probe(openclaw(&server.url())).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["listed"], true);
        assert_eq!(
            agent_line(&report),
            format!(
                "Agent: openclaw:main (openclaw-gateway) at {}/v1/models: reachable",
                server.url()
            )
        );
    }

    #[tokio::test]
    async fn openclaw_failures_name_the_fix() {
        for (status, body, words) in [
            (
                401,
                r#"{"error":{"message":"Unauthorized"}}"#,
                "OPENCLAW_GATEWAY_TOKEN",
            ),
            (404, "", "enable gateway.http.endpoints.chatCompletions"),
            (
                200,
                r#"{"data":[{"id":"openclaw/ops"}]}"#,
                "no agent openclaw/main",
            ),
        ] {
            let mut server = mockito::Server::new_async().await;
            let _m = server
                .mock("GET", "/v1/models")
                .with_status(status)
                .with_body(body)
                .create_async()
                .await;
            let report = probe(openclaw(&format!("{}/v1", server.url()))).await;
            assert_eq!(report["ok"], false, "{report}");
            assert!(
                report["error"].as_str().unwrap().contains(words),
                "{report}"
            );
            assert!(!report.to_string().contains("gw-secret-token"));
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let report = probe(openclaw(&url)).await;
        assert_eq!(report["reachable"], false, "{report}");
        assert!(
            report["error"].as_str().unwrap().contains("is it running"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn echo_and_openai_compatible() {
        assert_eq!(
            probe(json!({})).await,
            json!({"name": "echo", "api": "echo", "ok": true})
        );
        let mut server = mockito::Server::new_async().await;
        let _m = server
            .mock("GET", "/v1/models")
            .with_body(r#"{"data":[{"id":"m1"}]}"#)
            .create_async()
            .await;
        let cfg = json!({"models": {"providers": {"local": {"baseUrl": format!("{}/v1", server.url())}}},
            "agents": {"defaults": {"model": {"primary": "local/m1"}}}});
        let report = probe(cfg).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["name"], "openai:m1");
        assert_eq!(report["listed"], true);
    }
}
