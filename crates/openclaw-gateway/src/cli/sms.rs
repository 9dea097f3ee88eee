//! `openclaw sms segments`: what a reply would cost; `openclaw sms usage` ([`super::usage`]).

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use openclaw_sms_text::{ReplyOptions, prepare_reply};

use super::print_json;

#[derive(Debug, Subcommand)]
pub(crate) enum SmsCommand {
    /// Show the plain text, encoding, segments and parts a reply would be sent as.
    Segments {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
        /// Keep typographic characters (curly quotes, dashes) instead of their GSM-7 look-alikes.
        #[arg(long)]
        no_smart_encoding: bool,
        /// Largest part in UTF-16 units (as `textChunkLimit`).
        #[arg(long, value_name = "UNITS")]
        chunk_limit: Option<usize>,
        /// The reply text (markdown), or `-` to read standard input.
        text: String,
    },
    /// Segments and messages sent, by day and by sender, with an estimated cost when
    /// `budgets.pricePerSegment` is set.
    Usage {
        /// Only this account (default: every account).
        #[arg(long)]
        account: Option<String>,
        /// From this day on (`YYYY-MM-DD`, in the account's `budgets.timeZone`).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(
    cmd: SmsCommand,
    ctx: impl FnOnce() -> anyhow::Result<super::Ctx>,
) -> anyhow::Result<ExitCode> {
    let (json, no_smart_encoding, chunk_limit, text) = match cmd {
        SmsCommand::Segments {
            json,
            no_smart_encoding,
            chunk_limit,
            text,
        } => (json, no_smart_encoding, chunk_limit, text),
        SmsCommand::Usage {
            account,
            since,
            json,
        } => return super::usage::run(&ctx()?, account.as_deref(), since.as_deref(), json),
    };
    let text = if text == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .context("read standard input")?;
        buf
    } else {
        text
    };
    let mut options = ReplyOptions {
        smart_encoding: !no_smart_encoding,
        ..ReplyOptions::default()
    };
    if let Some(limit) = chunk_limit {
        options.split.chunk_limit = openclaw_sms_text::ChunkLimit::new(limit as u64);
    }
    let reply = prepare_reply(&text, &options);
    if json {
        print_json(&reply)?;
    } else {
        outln!(
            "{} segment(s), {}, {} characters, {} part(s)",
            reply.billed_segments,
            reply.report.encoding,
            reply.report.characters,
            reply.parts.len()
        );
        for (i, part) in reply.parts.iter().enumerate() {
            outln!(
                "--- part {} ({} segment(s), {}) ---",
                i + 1,
                part.segments,
                part.encoding
            );
            outln!("{}", part.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
