//! A conversation as JSON Lines and CSV (pure: rows in, text out).

use openclaw_store::HistoryEntry;
use serde_json::json;

/// The CSV header row.
pub(crate) const CSV_HEADER: &str = "at,role,sender,text\r\n";

/// One JSON Lines line: `{"at", "role", "sender", "text"}` and a newline.
pub(crate) fn jsonl_line(sender: &str, turn: &HistoryEntry) -> String {
    let mut line = json!({
        "at": crate::cli::iso_time(turn.at),
        "role": turn.role.as_str(),
        "sender": sender,
        "text": turn.text,
    })
    .to_string();
    line.push('\n');
    line
}

/// One CSV row (formula-safe, quoted) and its CRLF.
pub(crate) fn csv_row(sender: &str, turn: &HistoryEntry) -> String {
    let cells = [
        crate::cli::iso_time(turn.at),
        turn.role.as_str().to_owned(),
        sender.to_owned(),
        turn.text.clone(),
    ];
    let mut row = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

/// One JSON object per line: `{"at", "role", "sender", "text"}`.
pub(crate) fn jsonl(sender: &str, turns: &[HistoryEntry]) -> String {
    turns.iter().map(|turn| jsonl_line(sender, turn)).collect()
}

/// CSV with a header row (`at,role,sender,text`), RFC 4180 quoting, and cells that a
/// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) prefixed
/// with `'`.
pub(crate) fn csv(sender: &str, turns: &[HistoryEntry]) -> String {
    let mut out = String::from(CSV_HEADER);
    for turn in turns {
        out.push_str(&csv_row(sender, turn));
    }
    out
}

/// One CSV cell, formula-neutralised and quoted.
pub(crate) fn csv_cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use openclaw_store::Role;

    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(csv_cell(input), expected, "{input:?}");
    }

    #[test]
    fn csv_cells_are_quoted_and_formula_safe() {
        check("hello", "\"hello\"");
        check("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
        check("+1555", "\"'+1555\"");
        check("-2", "\"'-2\"");
        check("@SUM(A1)", "\"'@SUM(A1)\"");
        check("a,b\nc", "\"a,b\nc\"");
    }

    #[test]
    fn exports_carry_every_turn() {
        let turns = [
            HistoryEntry {
                role: Role::User,
                text: "hi <b>".into(),
                at: 0,
            },
            HistoryEntry {
                role: Role::Assistant,
                text: "=1+1".into(),
                at: 1000,
            },
        ];
        let lines: Vec<serde_json::Value> = jsonl("+15550001", &turns)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["text"], "hi <b>");
        assert_eq!(lines[1]["role"], "assistant");
        assert_eq!(lines[1]["at"], "1970-01-01T00:00:01.000Z");
        let csv = csv("+15550001", &turns);
        assert_eq!(
            csv,
            "at,role,sender,text\r\n\"1970-01-01T00:00:00.000Z\",\"user\",\"'+15550001\",\"hi <b>\"\r\n\"1970-01-01T00:00:01.000Z\",\"assistant\",\"'+15550001\",\"'=1+1\"\r\n"
        );
    }
}
