//! Inbound MMS: after authorisation, the attachments of a message are fetched with the
//! account's credentials and saved to local files for the agent.
//!
//! Only URLs of this very message under the account's API host are fetched
//! (`/2010-04-01/Accounts/<AccountSid>/Messages/<MessageSid>/Media/ME…`); redirects are
//! followed only to Twilio's media hosts (the client enforces it). Transient failures (429,
//! 5xx, timeouts) retry the message later; anything else makes the attachment unavailable and
//! the agent gets a notice instead.

use std::path::PathBuf;

use openclaw_twilio::RetryClass;
use openclaw_twilio::escape::Escaped;
use openclaw_twilio::webhook::InboundMessage;

use crate::account::AccountRuntime;
use crate::agent::MediaAttachment;
use crate::channel::ChannelOptions;

/// Bytes of media fetched per message at most (upstream: 5 MiB).
pub const MESSAGE_MEDIA_BUDGET: u64 = 5 * 1024 * 1024;

/// The attachments that could be fetched, and how many could not.
#[derive(Debug, Default)]
pub struct Materialized {
    /// Saved attachments.
    pub attachments: Vec<MediaAttachment>,
    /// Declared attachments that are not available.
    pub unavailable: u32,
}

/// Fetches and saves the message's media. `Err` is a transient failure: retry the message.
pub async fn materialize(
    account: &AccountRuntime,
    inbound: &InboundMessage,
    options: &ChannelOptions,
) -> Result<Materialized, String> {
    let mut result = Materialized {
        attachments: Vec::new(),
        unavailable: inbound.unavailable_media,
    };
    if inbound.media.is_empty() {
        return Ok(result);
    }
    if inbound.account_sid.as_str() != account.settings.account_sid {
        tracing::warn!(
            account = account.id(),
            "Refused Twilio MMS attachments for {}: webhook account mismatch",
            inbound.message_sid.as_str()
        );
        result.unavailable += u32::try_from(inbound.media.len()).unwrap_or(u32::MAX);
        return Ok(result);
    }
    let Some(dir) = options.media_dir.clone() else {
        result.unavailable += u32::try_from(inbound.media.len()).unwrap_or(u32::MAX);
        return Ok(result);
    };
    let prefix = format!(
        "{}/2010-04-01/Accounts/{}/Messages/{}/Media/ME",
        account.twilio.api_base().trim_end_matches('/'),
        account.settings.account_sid,
        inbound.message_sid.as_str()
    );
    let per_account_cap = account.settings.media_max_bytes.unwrap_or(u64::MAX);
    let mut remaining = options.media_budget_bytes;
    for (index, media) in inbound.media.iter().enumerate() {
        let tail = media.url.strip_prefix(&prefix).unwrap_or_default();
        let valid_id = openclaw_twilio::sid::is_sid(&format!("ME{tail}"), &["ME"]);
        if !valid_id {
            tracing::warn!(account = account.id(), url = %Escaped(&media.url), "refused a media URL that is not this message's Twilio media");
            result.unavailable += 1;
            continue;
        }
        let max = remaining.min(per_account_cap);
        if max == 0 {
            result.unavailable += 1;
            continue;
        }
        match account.twilio.fetch_media(&media.url, max).await {
            Ok(fetched) => {
                remaining = remaining.saturating_sub(fetched.bytes.len() as u64);
                let content_type = fetched
                    .content_type
                    .or_else(|| media.content_type.clone())
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                let name = format!(
                    "mms-{}-{}{}",
                    inbound.message_sid.as_str(),
                    index + 1,
                    extension(&content_type)
                );
                let path: PathBuf = dir.join(name);
                if let Err(err) = save(&dir, &path, &fetched.bytes).await {
                    tracing::warn!(
                        account = account.id(),
                        "could not save an MMS attachment: {}",
                        Escaped(&err)
                    );
                    result.unavailable += 1;
                    continue;
                }
                result
                    .attachments
                    .push(MediaAttachment { content_type, path });
            }
            Err(err) if matches!(err.retry_class(), RetryClass::Safe | RetryClass::Ambiguous) => {
                return Err(format!("fetching an MMS attachment failed for now: {err}"));
            }
            Err(err) => {
                tracing::warn!(
                    account = account.id(),
                    "Twilio MMS attachment unavailable: {}",
                    Escaped(&err)
                );
                result.unavailable += 1;
            }
        }
    }
    Ok(result)
}

/// Saves an attachment owner-only: the directories 0700 and the file 0600 from the moment they
/// are created (the modes are given to `mkdir`/`open`, so no umask or race widens them).
async fn save(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await?;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

fn extension(content_type: &str) -> &'static str {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "image/jpeg" | "image/jpg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/heic" => ".heic",
        "image/webp" => ".webp",
        "video/mp4" => ".mp4",
        "video/3gpp" => ".3gp",
        "audio/mpeg" => ".mp3",
        "audio/ogg" => ".ogg",
        "audio/amr" => ".amr",
        "text/vcard" | "text/x-vcard" => ".vcf",
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        _ => ".bin",
    }
}
