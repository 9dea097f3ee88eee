//! The user message of a turn as OpenAI chat content: the text, and inbound MMS images as
//! `image_url` parts (`data:<mime>;base64,…`) when the model takes images.
//!
//! The pipeline saves each fetched attachment to a file in the state directory (within the
//! per-message media budget); this reads those files back, again bounded by the same budget,
//! so a file that grew meanwhile cannot make a request larger than the budget allows. A local
//! path never goes into the prompt: a model cannot open it. Attachments that are not sent as
//! images get a one-line notice with their type instead.

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use openclaw_sms::{AgentTurn, MediaAttachment};
use serde_json::{Value, json};

/// Image types sent as parts: what OpenAI-compatible vision models and OpenClaw's
/// chat-completions endpoint accept by default (upstream `images.allowedMimes`, see
/// openclaw/openclaw `docs/gateway/openai-http-api.md`, "Request limits").
const IMAGE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
];

/// Whether the configured model takes images: `models[].input` contains `"image"` (the way
/// OpenClaw declares it, e.g. `input: ["text", "image"]`).
pub(crate) fn declares_image_input(model: Option<&Value>) -> bool {
    model
        .and_then(|m| m.get("input"))
        .and_then(Value::as_array)
        .is_some_and(|input| input.iter().any(|v| v.as_str() == Some("image")))
}

/// The content of the turn's user message: a plain string when there is nothing but text,
/// else an array of parts. `images` says whether the model takes image parts; `budget` bounds
/// the bytes of all images read for this turn together.
pub(crate) fn user_content(turn: &AgentTurn, images: bool, budget: u64) -> Value {
    let mut text = turn.text.clone();
    let mut parts = Vec::new();
    let mut remaining = budget;
    for media in &turn.media {
        let image = images && is_image_type(&media.content_type);
        let read = if image {
            read_bounded(&media.path, remaining)
        } else {
            Err(Skipped::NotSent)
        };
        match read {
            Ok(bytes) => {
                remaining = remaining.saturating_sub(bytes.len() as u64);
                parts.push(image_part(&media.content_type, &bytes));
            }
            Err(skipped) => push_line(&mut text, &notice(media, skipped)),
        }
    }
    if parts.is_empty() {
        return Value::String(text);
    }
    let mut content = Vec::with_capacity(parts.len() + 1);
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    content.extend(parts);
    Value::Array(content)
}

/// Why an attachment is not sent as an image part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skipped {
    /// Not an image, or the model does not take images.
    NotSent,
    /// It would go over the per-message media budget.
    OverBudget,
    /// The saved file could not be read.
    Unreadable,
}

fn notice(media: &MediaAttachment, skipped: Skipped) -> String {
    // The MIME type came from Twilio or the media server: keep it to one short token.
    let kind: String = media
        .content_type
        .chars()
        .filter(char::is_ascii_graphic)
        .take(64)
        .collect();
    match skipped {
        Skipped::NotSent => format!("[attachment: {kind}, not shown to the model]"),
        Skipped::OverBudget => format!("[attachment: {kind}, too large to show]"),
        Skipped::Unreadable => format!("[attachment: {kind}, unavailable]"),
    }
}

fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(line);
}

fn is_image_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    IMAGE_TYPES.contains(&essence.as_str())
}

fn image_part(content_type: &str, bytes: &[u8]) -> Value {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({"type": "image_url", "image_url": {"url": format!("data:{essence};base64,{data}")}})
}

/// Reads at most `max` bytes of `path`; more than that is [`Skipped::OverBudget`]. The bound
/// is applied while reading, not taken from the file's metadata.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, Skipped> {
    let file = std::fs::File::open(path).map_err(|_| Skipped::Unreadable)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|_| Skipped::Unreadable)?;
    if bytes.len() as u64 > max {
        return Err(Skipped::OverBudget);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn turn(text: &str, media: Vec<MediaAttachment>) -> AgentTurn {
        AgentTurn {
            channel: "sms".into(),
            account_id: "default".into(),
            sender: "+15557654321".into(),
            message_id: "SM1".into(),
            text: text.into(),
            media,
            history: vec![],
            received_at_ms: 0,
        }
    }

    fn saved(dir: &Path, name: &str, content_type: &str, bytes: &[u8]) -> MediaAttachment {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        MediaAttachment {
            content_type: content_type.into(),
            path,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "openclaw-content-{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn text_only_stays_a_string() {
        assert_eq!(user_content(&turn("hi", vec![]), true, 100), json!("hi"));
    }

    #[test]
    fn images_become_data_url_parts_only_when_the_model_takes_images() {
        let dir = scratch("parts");
        let png = saved(&dir, "a.png", "image/png", b"\x89PNG");
        let with = user_content(&turn("look", vec![png.clone()]), true, 100);
        assert_eq!(
            with,
            json!([
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            ])
        );
        let without = user_content(&turn("look", vec![png]), false, 100);
        assert_eq!(
            without,
            json!("look\n[attachment: image/png, not shown to the model]")
        );
        assert!(!without.to_string().contains(dir.to_str().unwrap()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn other_types_over_budget_and_missing_files_get_a_notice_without_a_path() {
        let dir = scratch("notice");
        let vcard = saved(&dir, "a.vcf", "text/vcard", b"BEGIN:VCARD");
        let big = saved(&dir, "b.jpg", "image/jpeg", &[0u8; 11]);
        let small = saved(&dir, "c.jpg", "image/jpeg; q=1", &[1u8; 10]);
        let gone = MediaAttachment {
            content_type: "image/gif".into(),
            path: dir.join("missing.gif"),
        };
        // A budget of 10 bytes: the 11-byte image is over it even alone; the 10-byte one fits.
        let content = user_content(&turn("", vec![vcard, big, small, gone]), true, 10);
        let text = "[attachment: text/vcard, not shown to the model]\n[attachment: image/jpeg, too large to show]\n[attachment: image/gif, unavailable]";
        assert_eq!(content[0], json!({"type": "text", "text": text}));
        assert_eq!(
            content[1]["image_url"]["url"],
            "data:image/jpeg;base64,AQEBAQEBAQEBAQ=="
        );
        assert_eq!(content.as_array().map(Vec::len), Some(2));
        assert!(!content.to_string().contains(dir.to_str().unwrap()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_budget_covers_all_images_of_a_turn_together() {
        let dir = scratch("budget");
        let a = saved(&dir, "a.png", "image/png", &[0u8; 6]);
        let b = saved(&dir, "b.png", "image/png", &[0u8; 6]);
        let content = user_content(&turn("two", vec![a, b]), true, 10);
        assert_eq!(
            content[0]["text"],
            "two\n[attachment: image/png, too large to show]"
        );
        assert_eq!(content.as_array().map(Vec::len), Some(2));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn image_input_is_read_from_the_model_entry() {
        assert!(declares_image_input(Some(
            &json!({"id": "m", "input": ["text", "image"]})
        )));
        assert!(!declares_image_input(Some(
            &json!({"id": "m", "input": ["text"]})
        )));
        assert!(!declares_image_input(Some(&json!({"id": "m"}))));
        assert!(!declares_image_input(None));
    }
}
