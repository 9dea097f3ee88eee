//! Markdown to the plain text a phone shows.

use std::borrow::Cow;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Tags whose whole content is model reasoning or tool scaffolding, never meant for the reader.
pub const HIDDEN_BLOCK_TAGS: &[&str] = &[
    "think",
    "thinking",
    "thought",
    "reasoning",
    "antthinking",
    "tool_call",
    "tool_result",
];

/// Converts an agent's markdown reply to plain SMS text.
///
/// - Headings become their text on their own line; emphasis, strong and strikethrough marks
///   disappear; inline code and fenced or indented code are flattened to their content (fence
///   lines gone, code lines kept as they are).
/// - Links become `label (url)`, or just the label when it already is the URL (compared on
///   letters, digits and `@`, without the scheme, so `x.io` is `https://x.io/`) or a
///   `mailto:`/`tel:`/`sms:` address, or when the URL is a
///   `#fragment`; an empty label gives the URL. Bare URLs stay. Images become `alt (url)`.
/// - Lists use GSM-7 characters: `- ` for bullets, `1. ` for numbered items (counting from the
///   list's start), nested items indented by two spaces a level; continuation lines of an item
///   are indented to its text.
/// - Tables become one line per row, `- Header: cell; Header: cell`; blockquote markers and
///   rules go; HTML tags are stripped (`<br>` and closing block tags become line breaks),
///   comments dropped and entities decoded.
/// - Blocks in [`HIDDEN_BLOCK_TAGS`] (`<think>…</think>` and the like) are removed when the
///   opening tag starts a line; an unclosed one runs to the end, and a closing tag that ends a
///   line with no opening before it removes everything before it (a template that put the
///   opening tag in the prompt). Mentions in backticks are left alone.
/// - CR LF and lone CR become LF, trailing spaces on a line go, three or more line feeds become
///   two, and the result is trimmed.
///
/// Smart punctuation is off: `--`, `...` and straight quotes stay GSM-7.
///
/// ```
/// use openclaw_sms_text::to_plain_text;
///
/// let md = "# Plan\n\n**Step one**: read [the docs](https://docs.rs).\n\n* tea\n* coffee";
/// assert_eq!(to_plain_text(md), "Plan\n\nStep one: read the docs (https://docs.rs).\n\n- tea\n- coffee");
/// ```
#[must_use]
pub fn to_plain_text(markdown: &str) -> String {
    let normalized = normalize_newlines(markdown);
    let visible = strip_hidden_blocks(&normalized);
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut renderer = Renderer::default();
    for event in Parser::new_ext(&visible, options) {
        renderer.event(event);
    }
    finish(&renderer.out)
}

fn normalize_newlines(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Separation owed before the next piece of block content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
enum Sep {
    #[default]
    None,
    Line,
    Paragraph,
}

#[derive(Debug)]
struct List {
    next: Option<u64>,
}

#[derive(Debug)]
struct Link {
    dest: String,
    start: usize,
}

#[derive(Debug, Default)]
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell_start: Option<usize>,
}

#[derive(Debug, Default)]
struct Renderer {
    out: String,
    pending: Sep,
    /// Just wrote an item marker: the item's first block follows on the same line.
    after_marker: bool,
    lists: Vec<List>,
    links: Vec<Link>,
    code_block: bool,
    table: Option<Table>,
    html: Option<String>,
}

impl Renderer {
    fn in_cell(&self) -> bool {
        self.table.as_ref().is_some_and(|t| t.cell_start.is_some())
    }

    fn indent(&self) -> usize {
        if self.code_block {
            0
        } else {
            2 * self.lists.len()
        }
    }

    /// A block starts: owe a paragraph break (a line break inside list items).
    fn block(&mut self) {
        if self.after_marker {
            return;
        }
        let sep = if self.lists.is_empty() {
            Sep::Paragraph
        } else {
            Sep::Line
        };
        self.pending = self.pending.max(sep);
    }

    /// Writes the separation owed, if any, before content.
    fn flush(&mut self, indent: usize) {
        if self.in_cell() {
            return;
        }
        self.after_marker = false;
        let sep = std::mem::take(&mut self.pending);
        if self.out.is_empty() {
            return;
        }
        match sep {
            Sep::None => return,
            Sep::Line => self.out.push('\n'),
            Sep::Paragraph => self.out.push_str("\n\n"),
        }
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn write(&mut self, text: &str) {
        self.flush(self.indent());
        self.out.push_str(text);
    }

    fn newline(&mut self) {
        if self.in_cell() {
            self.out.push(' ');
            return;
        }
        self.flush(self.indent());
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', self.indent()));
    }

    fn event(&mut self, event: Event<'_>) {
        // Inside an HTML block, collect the raw HTML and strip it as a whole at its end.
        if let Some(html) = &mut self.html
            && let Event::Html(raw) | Event::Text(raw) = &event
        {
            html.push_str(raw);
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                if self.code_block {
                    // Code lines are kept as they are, without list indentation.
                    self.flush(0);
                    self.out.push_str(&text);
                } else {
                    self.write(&text);
                }
            }
            Event::Code(code) => self.write(&code),
            Event::InlineMath(m) | Event::DisplayMath(m) => self.write(&m),
            Event::Html(raw) => {
                let text = strip_html(&raw);
                self.write(&text);
            }
            Event::InlineHtml(raw) => {
                if is_line_break_tag(&raw) {
                    self.newline();
                }
            }
            Event::SoftBreak | Event::HardBreak => self.newline(),
            Event::Rule => self.block(),
            Event::FootnoteReference(name) => self.write(&format!("[{name}]")),
            Event::TaskListMarker(done) => self.write(if done { "[x] " } else { "[ ] " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph
            | Tag::Heading { .. }
            | Tag::BlockQuote(_)
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => self.block(),
            Tag::CodeBlock(_) => {
                self.block();
                self.code_block = true;
            }
            Tag::HtmlBlock => {
                self.block();
                self.html = Some(String::new());
            }
            Tag::List(start) => {
                self.block();
                self.lists.push(List { next: start });
            }
            Tag::Item => {
                self.after_marker = false;
                self.pending = self.pending.max(Sep::Line);
                let depth = self.lists.len().saturating_sub(1);
                self.flush(2 * depth);
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(n) }) => {
                        let m = format!("{n}. ");
                        *n = n.saturating_add(1);
                        m
                    }
                    _ => "- ".to_owned(),
                };
                self.out.push_str(&marker);
                self.after_marker = true;
            }
            Tag::Table(_) => {
                self.block();
                self.table = Some(Table::default());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.row.clear();
                }
            }
            Tag::TableCell => {
                let start = self.out.len();
                if let Some(t) = &mut self.table {
                    t.cell_start = Some(start);
                }
            }
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.flush(self.indent());
                self.links.push(Link {
                    dest: dest_url.trim().to_owned(),
                    start: self.out.len(),
                });
            }
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::CodeBlock => {
                self.code_block = false;
                while self.out.ends_with('\n') {
                    self.out.pop();
                }
            }
            TagEnd::HtmlBlock => {
                if let Some(raw) = self.html.take() {
                    let text = strip_html(&raw);
                    if !text.trim().is_empty() {
                        self.write(text.trim());
                    }
                }
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.after_marker = false;
            }
            TagEnd::Item => self.after_marker = false,
            TagEnd::TableCell => {
                if let Some(t) = &mut self.table
                    && let Some(start) = t.cell_start.take()
                {
                    let cell = self.out.split_off(start.min(self.out.len()));
                    t.row.push(cell.trim().to_owned());
                }
            }
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.head = std::mem::take(&mut t.row);
                }
            }
            TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    let text = render_table(&t, self.indent());
                    if !text.is_empty() {
                        self.write(&text);
                    }
                }
            }
            TagEnd::Link | TagEnd::Image => {
                if let Some(link) = self.links.pop() {
                    let label = self
                        .out
                        .get(link.start..)
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    if let Some(suffix) = link_suffix(&label, &link.dest) {
                        self.out.push_str(&suffix);
                    }
                }
            }
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_) => self.block(),
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {}
        }
    }
}

/// What follows a link's label: ` (url)`, the url alone for an empty label, or nothing.
fn link_suffix(label: &str, dest: &str) -> Option<String> {
    if dest.is_empty() || dest.starts_with('#') {
        return None;
    }
    if label.is_empty() {
        return Some(dest.to_owned());
    }
    // Compared on letters, digits and `@` only, after the scheme: `x.io` is `https://x.io/`,
    // `+1 555 0100` is `tel:+15550100`.
    let bare = |s: &str| -> String {
        let s = ["mailto:", "tel:", "sms:", "https://", "http://"]
            .iter()
            .find_map(|p| {
                s.get(..p.len())
                    .filter(|h| h.eq_ignore_ascii_case(p))
                    .map(|_| &s[p.len()..])
            })
            .unwrap_or(s);
        s.chars()
            .filter(|c| c.is_alphanumeric() || *c == '@')
            .flat_map(char::to_lowercase)
            .collect()
    };
    if bare(label) == bare(dest) {
        None
    } else {
        Some(format!(" ({dest})"))
    }
}

fn render_table(table: &Table, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut lines = Vec::new();
    for row in &table.rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| match table.head.get(i).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h}: {c}"),
                None => c.clone(),
            })
            .collect();
        if !cells.is_empty() {
            lines.push(format!("- {}", cells.join("; ")));
        }
    }
    if table.rows.is_empty() {
        let head: Vec<&str> = table
            .head
            .iter()
            .map(String::as_str)
            .filter(|h| !h.is_empty())
            .collect();
        if !head.is_empty() {
            lines.push(head.join("; "));
        }
    }
    lines.join(&format!("\n{pad}"))
}

fn is_line_break_tag(raw: &str) -> bool {
    let tag = raw
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim_end_matches('/')
        .trim();
    tag.eq_ignore_ascii_case("br")
}

/// Removes HTML tags and comments, turns `<br>` and closing block tags into line breaks, and
/// decodes entities.
pub(crate) fn strip_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(comment) = after.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(close) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = &after[1..close];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let looks_like_tag = !name.is_empty()
            && (tag.starts_with(|c: char| c.is_ascii_alphabetic()) || tag.starts_with('/'));
        if !looks_like_tag {
            out.push('<');
            rest = &after[1..];
            continue;
        }
        let closing = tag.starts_with('/');
        if name == "br"
            || (closing
                && matches!(
                    name.as_str(),
                    "p" | "div"
                        | "li"
                        | "tr"
                        | "h1"
                        | "h2"
                        | "h3"
                        | "h4"
                        | "h5"
                        | "h6"
                        | "blockquote"
                        | "pre"
                        | "table"
                        | "ul"
                        | "ol"
                ))
        {
            out.push('\n');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    decode_entities(&out)
}

/// Decodes the common named entities and numeric ones (pulldown-cmark already decodes them in
/// markdown text; this is for raw HTML).
pub(crate) fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let decoded = after.get(1..).and_then(|s| {
            let end = s.find(';').filter(|&e| e <= 10)?;
            let name = &s[..end];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let code = if let Some(hex) =
                        name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()?
                    } else {
                        name.strip_prefix('#')?.parse().ok()?
                    };
                    char::from_u32(code).filter(|&c| c != '\0')?
                }
            };
            Some((c, end + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes reasoning and tool blocks (see [`to_plain_text`]).
pub(crate) fn strip_hidden_blocks(text: &str) -> Cow<'_, str> {
    if !text.contains('<') {
        return Cow::Borrowed(text);
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    // A closing tag that ends a line, with no opening tag before it: drop everything before.
    if let Some(close_end) = first_orphan_close(&lower) {
        pos = close_end;
    }
    while pos < text.len() {
        match next_open(&lower, pos) {
            Some((open_start, name)) => {
                out.push_str(&text[pos..open_start]);
                let close = format!("</{name}>");
                pos = lower[open_start..]
                    .find(&close)
                    .map_or(text.len(), |i| open_start + i + close.len());
            }
            None => {
                out.push_str(&text[pos..]);
                break;
            }
        }
    }
    Cow::Owned(out)
}

/// The first opening hidden-block tag at or after `from` that starts a line.
fn next_open(lower: &str, from: usize) -> Option<(usize, &'static str)> {
    let mut search = from;
    while let Some(i) = lower[search..].find('<') {
        let at = search + i;
        let before = lower[..at].trim_end_matches([' ', '\t']);
        let starts_line = before.is_empty() || before.ends_with('\n');
        if starts_line {
            for &name in HIDDEN_BLOCK_TAGS {
                let rest = &lower[at + 1..];
                if rest.starts_with(name) && rest[name.len()..].starts_with(['>', ' ']) {
                    return Some((at, name));
                }
            }
        }
        search = at + 1;
    }
    None
}

/// The end of the first closing tag that ends a line with no opening tag before it.
fn first_orphan_close(lower: &str) -> Option<usize> {
    let (start, end) = HIDDEN_BLOCK_TAGS
        .iter()
        .filter_map(|name| {
            let tag = format!("</{name}>");
            lower.find(&tag).map(|i| (i, i + tag.len()))
        })
        .min()?;
    let ends_line = lower[end..]
        .split('\n')
        .next()
        .is_some_and(|l| l.trim().is_empty());
    let quoted = lower[..start].ends_with('`');
    let opened_before = next_open(lower, 0).is_some_and(|(open, _)| open < start);
    (ends_line && !quoted && !opened_before).then_some(end)
}

/// Trailing spaces go, three or more line feeds become two, the whole is trimmed.
fn finish(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut feeds = 0;
    for line in text.split('\n') {
        let line = line.trim_end_matches([' ', '\t']);
        if line.is_empty() {
            feeds += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if feeds >= 1 { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        feeds = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(markdown: &str, expected: &str) {
        assert_eq!(to_plain_text(markdown), expected, "{markdown:?}");
    }

    #[test]
    fn inline_rules() {
        check("**bold** _em_ ~~gone~~ `code`", "bold em gone code");
        check("[label](https://x.io)", "label (https://x.io)");
        check("[https://x.io](https://x.io)", "https://x.io");
        check("[x.io](https://x.io/)", "x.io");
        check("<https://x.io>", "https://x.io");
        check("[me@x.io](mailto:me@x.io)", "me@x.io");
        check("[top](#intro)", "top");
        check("see https://x.io/a_b_c now", "see https://x.io/a_b_c now");
        check("![a cat](https://x.io/c.png)", "a cat (https://x.io/c.png)");
        check("![](https://x.io/c.png)", "https://x.io/c.png");
        check("a &amp; b &lt;c&gt;", "a & b <c>");
        check("x<br>y", "x\ny");
        check("<b>bold</b> text", "bold text");
        check("a -- b ... \"c\"", "a -- b ... \"c\"");
    }

    #[test]
    fn blocks() {
        check("# Title\nText", "Title\n\nText");
        check("a\r\nb\r\n\r\n\r\n\r\nc", "a\nb\n\nc");
        check("> quoted\n> more", "quoted\nmore");
        check("a\n\n---\n\nb", "a\n\nb");
        check("```rust\nfn main() {}\n  x\n```", "fn main() {}\n  x");
        check("- a\n- b\n  - c\n    1. d", "- a\n- b\n  - c\n    1. d");
        check("3. x\n4. y", "3. x\n4. y");
        check("- one\n\n- two", "- one\n- two");
        check(
            "| A | B |\n|---|---|\n| 1 | 2 |\n| 3 |  |",
            "- A: 1; B: 2\n- A: 3",
        );
        check("<!-- hidden -->\nshown", "shown");
        check("<div>\n<p>Hi &amp; bye</p>\n</div>", "Hi & bye");
    }

    #[test]
    fn hidden_blocks() {
        check("<think>\nsecret\n\nplans\n</think>\nAnswer", "Answer");
        check("<thinking>x</thinking>Answer", "Answer");
        check("reasoning here\n</think>\n\nAnswer", "Answer");
        check("Use the `</think>` tag\nok", "Use the </think> tag\nok");
        check("Answer\n<think>never closed", "Answer");
        check("inline <think>kept</think> text", "inline kept text");
    }
}
