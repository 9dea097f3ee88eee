//! TwiML: documents compared with the TwiML Twilio publishes for the same verbs (the `output`
//! files of TwilioDevEd/api-snippets, `twiml/voice/...`, whitespace between elements and
//! comments removed), and escaping at its edges.

use openclaw_twilio::twiml::{
    Gather, GatherInput, Method, Pause, Play, Response, Say, XML_DECLARATION, escape_text,
};

/// Removes XML comments and the whitespace between elements of a pretty-printed document.
fn compact(pretty: &str) -> String {
    let mut s = pretty.to_owned();
    while let (Some(start), Some(end)) = (s.find("<!--"), s.find("-->")) {
        s.replace_range(start..end + 3, "");
    }
    let mut out = String::new();
    for piece in s.split('<').filter(|p| !p.is_empty()) {
        let (tag, text) = piece.split_once('>').unwrap();
        out.push('<');
        out.push_str(tag);
        out.push('>');
        out.push_str(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out
}

#[test]
fn gather_speech_with_action() {
    // api-snippets twiml/voice/gather/gather-4/output/gather-4.twiml
    let published = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- page located at http://example.com/simple_gather.xml -->
<Response>
    <Gather input="speech" action="/completed">
           <Say>Welcome to Twilio, please tell us why you're calling</Say>
    </Gather>
</Response>"#;
    let built = Response::new()
        .gather(
            Gather::new()
                .input(&[GatherInput::Speech])
                .action("/completed")
                .say(Say::new(
                    "Welcome to Twilio, please tell us why you're calling",
                )),
        )
        .to_xml();
    assert_eq!(built, compact(published));
}

#[test]
fn gather_speech_and_dtmf_with_timeout_and_digits() {
    // api-snippets twiml/voice/gather/gather-1/output/gather-1.twiml
    let published = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Gather input="speech dtmf" timeout="3" numDigits="1">
        <Say>Please press 1 or say sales for sales.</Say>
    </Gather>
</Response>"#;
    let built = Response::new()
        .gather(
            Gather::new()
                .input(&[GatherInput::Speech, GatherInput::Dtmf])
                .timeout(3)
                .num_digits(1)
                .say(Say::new("Please press 1 or say sales for sales.")),
        )
        .to_xml();
    assert_eq!(built, compact(published));
}

#[test]
fn gather_with_get_then_say() {
    // api-snippets twiml/voice/gather/gather-3/output/gather-3.twiml (its Say text re-flowed)
    let published = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Gather action="/process_gather.php" method="GET">
        <Say>Please enter your account number, followed by the pound sign</Say>
    </Gather>
    <Say>We didn't receive any input. Goodbye!</Say>
</Response>"#;
    let built = Response::new()
        .gather(
            Gather::new()
                .action("/process_gather.php")
                .method(Method::Get)
                .say(Say::new(
                    "Please enter your account number, followed by the pound sign",
                )),
        )
        .say(Say::new("We didn't receive any input. Goodbye!"))
        .to_xml();
    assert_eq!(built, compact(published));
}

#[test]
fn say_language_and_pause() {
    // api-snippets twiml/voice/say/say-language and twiml/voice/pause/pause-1
    assert_eq!(
        Response::new()
            .say(Say::new("Bonjour!").language("fr-FR"))
            .to_xml(),
        compact(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say language="fr-FR">Bonjour!</Say>
</Response>"#
        )
    );
    assert_eq!(
        Response::new()
            .say(Say::new("I will pause 10 seconds starting now!"))
            .pause(Pause::new().length(10))
            .say(Say::new("I just paused 10 seconds"))
            .to_xml(),
        compact(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Say>I will pause 10 seconds starting now!</Say>
    <Pause length="10"/>
    <Say>I just paused 10 seconds</Say>
</Response>"#
        )
    );
}

#[test]
fn the_other_verbs() {
    let xml = Response::new()
        .say(
            Say::new("Hi")
                .voice("Polly.Joanna")
                .language("en-US")
                .repeat(2),
        )
        .play(Play::url("https://example.com/a.mp3").repeat(0))
        .play(Play::digits("1w2"))
        .redirect("/voice/next?x=1&y=2", Some(Method::Post))
        .message("Sent you a text")
        .hangup()
        .to_xml();
    assert_eq!(
        xml,
        format!(
            "{XML_DECLARATION}<Response>\
             <Say voice=\"Polly.Joanna\" language=\"en-US\" loop=\"2\">Hi</Say>\
             <Play loop=\"0\">https://example.com/a.mp3</Play>\
             <Play digits=\"1w2\"/>\
             <Redirect method=\"POST\">/voice/next?x=1&amp;y=2</Redirect>\
             <Message>Sent you a text</Message>\
             <Hangup/></Response>"
        )
    );
    assert_eq!(
        Response::new().to_xml(),
        format!("{XML_DECLARATION}<Response/>")
    );
    // Setting an attribute twice keeps one, in its first place.
    assert_eq!(
        Response::new()
            .say(Say::new("x").voice("a").language("l").voice("b"))
            .to_xml(),
        format!("{XML_DECLARATION}<Response><Say voice=\"b\" language=\"l\">x</Say></Response>")
    );
}

/// Caller-controlled text (an agent's reply, a URL) can never add or close an element.
#[test]
fn escaping_keeps_the_structure() {
    let hostile = "</Say><Hangup/><Say>\"quoted\" & 'single' <script>";
    let xml = Response::new()
        .say(Say::new(hostile).voice(hostile))
        .to_xml();
    assert_eq!(
        xml,
        format!(
            "{XML_DECLARATION}<Response><Say voice=\"&lt;/Say&gt;&lt;Hangup/&gt;&lt;Say&gt;&quot;quoted&quot; &amp; &apos;single&apos; &lt;script&gt;\">\
             &lt;/Say&gt;&lt;Hangup/&gt;&lt;Say&gt;\"quoted\" &amp; 'single' &lt;script&gt;</Say></Response>"
        )
    );
    assert_eq!(xml.matches("<Say").count(), 1);
    assert!(!xml.contains("<Hangup"));
}

#[test]
fn characters_xml_cannot_carry_are_dropped() {
    assert_eq!(
        escape_text("a\u{0}b\u{1}c\u{1f}d\u{fffe}e\u{ffff}f"),
        "abcdef"
    );
    // Tab, line feed, carriage return and everything else printable stay in text.
    assert_eq!(
        escape_text("a\tb\nc\rd é 😀 \u{2028}"),
        "a\tb\nc\rd é 😀 \u{2028}"
    );
    // In attributes, line breaks and tabs are written as references so they survive parsing.
    assert_eq!(
        Response::new()
            .redirect("x", None)
            .say(Say::new("t").voice("a\nb\tc\rd"))
            .to_xml(),
        format!(
            "{XML_DECLARATION}<Response><Redirect>x</Redirect>\
             <Say voice=\"a&#10;b&#9;c&#13;d\">t</Say></Response>"
        )
    );
    // An element whose text is only dropped characters still writes its (empty) content.
    assert_eq!(
        Response::new().say(Say::new("\u{0}")).to_xml(),
        format!("{XML_DECLARATION}<Response><Say></Say></Response>")
    );
}
