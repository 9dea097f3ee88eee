//! A small TwiML builder: the verbs a voice (or messaging) channel answers with. Pure.
//!
//! Text and attribute values are XML-escaped, and characters XML 1.0 cannot carry (C0 controls
//! other than tab, line feed and carriage return, U+FFFE, U+FFFF) are dropped, so no caller
//! input can change the document's structure. Attributes are written in the order they were
//! set, as Twilio's helper libraries do.
//!
//! ```
//! use openclaw_twilio::twiml::{Gather, GatherInput, Response, Say};
//!
//! let twiml = Response::new()
//!     .gather(
//!         Gather::new()
//!             .input(&[GatherInput::Speech])
//!             .action("/voice/gather")
//!             .speech_timeout_auto()
//!             .say(Say::new("What can I do for you?")),
//!     )
//!     .say(Say::new("I did not hear anything. Goodbye."))
//!     .hangup()
//!     .to_xml();
//! assert_eq!(
//!     twiml,
//!     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
//!      <Gather input=\"speech\" action=\"/voice/gather\" speechTimeout=\"auto\">\
//!      <Say>What can I do for you?</Say></Gather>\
//!      <Say>I did not hear anything. Goodbye.</Say><Hangup/></Response>"
//! );
//! ```

/// The XML declaration every document starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// One element: a name, attributes in the order set, text or children.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    name: &'static str,
    attributes: Vec<(&'static str, String)>,
    text: Option<String>,
    children: Vec<Element>,
}

impl Element {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            attributes: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    fn with_text(name: &'static str, text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::new(name)
        }
    }

    /// Sets an attribute, replacing an earlier value of the same name in its place.
    fn set(&mut self, name: &'static str, value: impl Into<String>) {
        let value = value.into();
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attributes {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_into(out, value, true);
            out.push('"');
        }
        let text = self.text.as_deref().filter(|t| !t.is_empty());
        if text.is_none() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(text) = text {
            escape_into(out, text, false);
        }
        for child in &self.children {
            child.write(out);
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `value` escaped for element text (`attribute == false`) or a double-quoted
/// attribute value; characters XML cannot carry are dropped.
fn escape_into(out: &mut String, value: &str, attribute: bool) {
    for c in value.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            // Line breaks in an attribute would be normalised to spaces by the parser.
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// Escapes text for XML element content (`&`, `<`, `>`), dropping characters XML cannot carry.
///
/// ```
/// assert_eq!(openclaw_twilio::twiml::escape_text("a < b & c"), "a &lt; b &amp; c");
/// ```
#[must_use]
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape_into(&mut out, value, false);
    out
}

/// The HTTP method Twilio uses for an `action` or `Redirect` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST` (Twilio's default)
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// `<Say>`: text read to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Say(Element);

impl Say {
    /// Says `text`.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self(Element::with_text("Say", text))
    }

    /// `voice`, e.g. `alice`, `Polly.Joanna`, `Google.en-US-Neural2-F`.
    #[must_use]
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.0.set("voice", voice);
        self
    }

    /// `language`, e.g. `en-US`, `fr-FR`.
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.0.set("language", language);
        self
    }

    /// `loop`: how many times to say it (0: until the call ends).
    #[must_use]
    pub fn repeat(mut self, times: u32) -> Self {
        self.0.set("loop", times.to_string());
        self
    }
}

/// `<Play>`: an audio file (or DTMF digits) played to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play(Element);

impl Play {
    /// Plays the audio at `url`.
    #[must_use]
    pub fn url(url: impl Into<String>) -> Self {
        Self(Element::with_text("Play", url))
    }

    /// Plays DTMF `digits` (`0-9`, `*`, `#`, `w` for a half-second wait).
    #[must_use]
    pub fn digits(digits: impl Into<String>) -> Self {
        let mut element = Element::new("Play");
        element.set("digits", digits);
        Self(element)
    }

    /// `loop`: how many times to play it (0: until the call ends).
    #[must_use]
    pub fn repeat(mut self, times: u32) -> Self {
        self.0.set("loop", times.to_string());
        self
    }
}

/// `<Pause>`: silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause(Element);

impl Pause {
    /// A pause of Twilio's default length (1 second).
    #[must_use]
    pub fn new() -> Self {
        Self(Element::new("Pause"))
    }

    /// `length` in seconds.
    #[must_use]
    pub fn length(mut self, seconds: u32) -> Self {
        self.0.set("length", seconds.to_string());
        self
    }
}

impl Default for Pause {
    fn default() -> Self {
        Self::new()
    }
}

/// What a `<Gather>` listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatherInput {
    /// Key presses (`dtmf`).
    Dtmf,
    /// Speech (`speech`).
    Speech,
}

/// `<Gather>`: collect digits or speech, then call `action` with the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather(Element);

impl Gather {
    /// A gather with Twilio's defaults (DTMF, POST to the current document's URL).
    #[must_use]
    pub fn new() -> Self {
        Self(Element::new("Gather"))
    }

    /// `input`: what to listen for, in order (`speech dtmf` for both).
    #[must_use]
    pub fn input(mut self, inputs: &[GatherInput]) -> Self {
        let value = inputs
            .iter()
            .map(|i| match i {
                GatherInput::Dtmf => "dtmf",
                GatherInput::Speech => "speech",
            })
            .collect::<Vec<_>>()
            .join(" ");
        self.0.set("input", value);
        self
    }

    /// `action`: the URL Twilio calls with the result.
    #[must_use]
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.0.set("action", url);
        self
    }

    /// `method` for `action`.
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.0.set("method", method.as_str());
        self
    }

    /// `timeout`: seconds of silence (or between digits) before the gather ends.
    #[must_use]
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.0.set("timeout", seconds.to_string());
        self
    }

    /// `speechTimeout` in seconds after the caller stops speaking.
    #[must_use]
    pub fn speech_timeout(mut self, seconds: u32) -> Self {
        self.0.set("speechTimeout", seconds.to_string());
        self
    }

    /// `speechTimeout="auto"`: Twilio decides when the caller has finished.
    #[must_use]
    pub fn speech_timeout_auto(mut self) -> Self {
        self.0.set("speechTimeout", "auto");
        self
    }

    /// `numDigits`: end the gather after this many digits.
    #[must_use]
    pub fn num_digits(mut self, digits: u32) -> Self {
        self.0.set("numDigits", digits.to_string());
        self
    }

    /// `language` of the expected speech, e.g. `en-US`.
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.0.set("language", language);
        self
    }

    /// `actionOnEmptyResult`: call `action` even when nothing was heard.
    #[must_use]
    pub fn action_on_empty_result(mut self, yes: bool) -> Self {
        self.0
            .set("actionOnEmptyResult", if yes { "true" } else { "false" });
        self
    }

    /// Says `say` while listening.
    #[must_use]
    pub fn say(mut self, say: Say) -> Self {
        self.0.children.push(say.0);
        self
    }

    /// Plays `play` while listening.
    #[must_use]
    pub fn play(mut self, play: Play) -> Self {
        self.0.children.push(play.0);
        self
    }

    /// Pauses while listening.
    #[must_use]
    pub fn pause(mut self, pause: Pause) -> Self {
        self.0.children.push(pause.0);
        self
    }
}

impl Default for Gather {
    fn default() -> Self {
        Self::new()
    }
}

/// A TwiML document: `<Response>` and its verbs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response(Element);

impl Response {
    /// An empty response (acknowledge, do nothing).
    #[must_use]
    pub fn new() -> Self {
        Self(Element::new("Response"))
    }

    fn push(mut self, element: Element) -> Self {
        self.0.children.push(element);
        self
    }

    /// `<Say>`.
    #[must_use]
    pub fn say(self, say: Say) -> Self {
        self.push(say.0)
    }

    /// `<Play>`.
    #[must_use]
    pub fn play(self, play: Play) -> Self {
        self.push(play.0)
    }

    /// `<Pause>`.
    #[must_use]
    pub fn pause(self, pause: Pause) -> Self {
        self.push(pause.0)
    }

    /// `<Gather>`.
    #[must_use]
    pub fn gather(self, gather: Gather) -> Self {
        self.push(gather.0)
    }

    /// `<Hangup/>`: end the call.
    #[must_use]
    pub fn hangup(self) -> Self {
        self.push(Element::new("Hangup"))
    }

    /// `<Redirect>`: fetch the next TwiML from `url` (POST unless `method` says otherwise).
    #[must_use]
    pub fn redirect(self, url: impl Into<String>, method: Option<Method>) -> Self {
        let mut element = Element::with_text("Redirect", url);
        if let Some(method) = method {
            element.set("method", method.as_str());
        }
        self.push(element)
    }

    /// `<Message>`: a text message sent in answer (messaging webhooks).
    #[must_use]
    pub fn message(self, body: impl Into<String>) -> Self {
        self.push(Element::with_text("Message", body))
    }

    /// The document: the XML declaration, then `<Response>`; no whitespace between elements.
    #[must_use]
    pub fn to_xml(&self) -> String {
        let mut out = String::from(XML_DECLARATION);
        self.0.write(&mut out);
        out
    }
}

impl Default for Response {
    fn default() -> Self {
        Self::new()
    }
}
