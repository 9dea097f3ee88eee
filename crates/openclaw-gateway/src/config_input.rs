//! Reading config input as hostile bytes: config and patch files, secret files.
//!
//! - Files are read only when they are regular files (checked on the path before opening and
//!   on the opened handle after), so a FIFO, `/dev/zero` or a socket is refused instead of
//!   blocking or filling memory; and at most a limit of bytes is read, counted while reading
//!   (`Read::take`), never taken from `stat`.
//! - JSON5 is parsed with the `json5` crate through a strict value builder: nesting deeper than
//!   [`MAX_CONFIG_DEPTH`] and duplicate keys are refused, naming the key and where it is. The
//!   builder refuses before it descends, so the parser's recursion is bounded too.

use std::cell::RefCell;
use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::Path;

use anyhow::{anyhow, bail};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of objects and arrays a config, patch or secrets file may have (the top
/// level object is level 1). Real configs use about 6; the limit keeps every recursive step
/// (parse, merge, redact, serialise) far from the stack's end.
pub(crate) const MAX_CONFIG_DEPTH: usize = 64;

/// Reads at most `limit` bytes of the regular file at `path`; a larger file, or anything that
/// is not a regular file, is refused. `what` names the file in messages ("patch file").
/// Errors keep the `io::Error` (for `NotFound`) in their chain.
pub(crate) fn read_regular_file(path: &Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    read_regular_file_checked(path, limit, what, |_| Ok(()))
}

/// [`read_regular_file`] that also runs `check` on the opened handle's metadata before
/// reading (a secrets file's permissions, say).
pub(crate) fn read_regular_file_checked(
    path: &Path,
    limit: u64,
    what: &str,
    check: impl FnOnce(&fs::Metadata) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    let context = || format!("read {what} {}", path.display());
    // Before opening: opening a FIFO for reading blocks until a writer comes.
    let before = fs::metadata(path).map_err(|e| anyhow::Error::new(e).context(context()))?;
    refuse_special(&before, path, what)?;
    let file = fs::File::open(path).map_err(|e| anyhow::Error::new(e).context(context()))?;
    // After opening: the handle is what we read, whatever the path points at now.
    let after = file
        .metadata()
        .map_err(|e| anyhow::Error::new(e).context(context()))?;
    refuse_special(&after, path, what)?;
    check(&after)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::Error::new(e).context(context()))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{what} {} is larger than {limit} bytes; nothing was read from it",
            path.display()
        );
    }
    Ok(bytes)
}

fn refuse_special(meta: &fs::Metadata, path: &Path, what: &str) -> anyhow::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = file_kind(meta);
    bail!(
        "{what} {} is {kind}, not a regular file; write it to a file and name that",
        path.display()
    )
}

fn file_kind(meta: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Parses JSON5 text into a value: nesting at most [`MAX_CONFIG_DEPTH`] levels, no key twice in
/// one object. Errors say where (`line L column C`, 1-based).
pub(crate) fn parse_json5_strict(text: &str) -> anyhow::Result<Value> {
    let state = ParseState::new(Mode::Refuse);
    match parse(text, &state) {
        Ok(value) => Ok(value),
        Err(err) => match state.problem.take() {
            Some(Problem::Duplicate { object, key }) => {
                let second = position_text(&err);
                let first = first_occurrence(text, &object, &key);
                Err(anyhow!(
                    "duplicate key {} at {second}; it is also at {first}: keep one of them",
                    dotted(&object, &key)
                ))
            }
            Some(Problem::TooDeep) => Err(anyhow!(
                "nested deeper than {MAX_CONFIG_DEPTH} levels at {}; no config needs that many",
                position_text(&err)
            )),
            Some(Problem::NotFinite) => Err(anyhow!(
                "{err}: use a number (NaN and Infinity have no JSON form)"
            )),
            None | Some(Problem::Found) => Err(anyhow!("{err}")),
        },
    }
}

fn parse(text: &str, state: &ParseState) -> Result<Value, json5::Error> {
    let mut de = json5::Deserializer::from_str(text);
    let value = Node {
        state,
        depth: 1,
        path: Vec::new(),
    }
    .deserialize(&mut de)?;
    // As `json5::from_str`: nothing but whitespace and comments may follow. The crate's
    // deserializer does not say where it stopped, so `from_str` checks it, parsing the (now
    // known to be shallow) value once more and then only looking at what follows.
    json5::from_str::<de::IgnoredAny>(text)?;
    Ok(value)
}

fn position_text(err: &json5::Error) -> String {
    err.position()
        .map_or_else(|| "an unknown place".to_owned(), |p| p.to_string())
}

/// Where the first `key` of the object at `object` is: the text is parsed again, this time
/// stopping at that key.
fn first_occurrence(text: &str, object: &[String], key: &str) -> String {
    let state = ParseState::new(Mode::Find {
        object: object.to_vec(),
        key: key.to_owned(),
    });
    match parse(text, &state) {
        Err(err) if matches!(state.problem.take(), Some(Problem::Found)) => position_text(&err),
        _ => "an earlier line".to_owned(),
    }
}

fn dotted(object: &[String], key: &str) -> String {
    let mut out = String::new();
    for segment in object.iter().map(String::as_str).chain([key]) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(segment);
    }
    format!("\"{out}\"")
}

enum Mode {
    /// Refuse a duplicate key.
    Refuse,
    /// Stop at the first time `key` appears in the object at `object`.
    Find { object: Vec<String>, key: String },
}

enum Problem {
    Duplicate { object: Vec<String>, key: String },
    TooDeep,
    NotFinite,
    Found,
}

struct ParseState {
    mode: Mode,
    problem: RefCell<Option<Problem>>,
}

impl ParseState {
    fn new(mode: Mode) -> Self {
        Self {
            mode,
            problem: RefCell::new(None),
        }
    }

    fn fail<E: de::Error>(&self, problem: Problem, message: &str) -> E {
        *self.problem.borrow_mut() = Some(problem);
        E::custom(message)
    }
}

/// One value at `path` (object keys and array indexes) and `depth`.
struct Node<'s> {
    state: &'s ParseState,
    depth: usize,
    path: Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Node<'_> {
    fn child(&self, segment: String) -> Node<'_> {
        let mut path = self.path.clone();
        path.push(segment);
        Node {
            state: self.state,
            depth: self.depth + 1,
            path,
        }
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_CONFIG_DEPTH {
            return Err(self.state.fail(Problem::TooDeep, "nested too deep"));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON5 value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| self.state.fail(Problem::NotFinite, "not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(items.len().to_string()))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key {
            node: &self,
            seen: &out,
        })? {
            let value = map.next_value_seed(self.child(key.clone()))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A key of the object at `node`, checked against the keys `seen` so far in that object. Its
/// errors carry the key's position (the crate adds it).
struct Key<'a, 's> {
    node: &'a Node<'s>,
    seen: &'a Map<String, Value>,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        let state = self.node.state;
        match &state.mode {
            Mode::Refuse if self.seen.contains_key(key) => Err(state.fail(
                Problem::Duplicate {
                    object: self.node.path.clone(),
                    key: key.to_owned(),
                },
                "duplicate key",
            )),
            Mode::Find {
                object,
                key: wanted,
            } if *object == self.node.path && wanted == key => {
                Err(state.fail(Problem::Found, "found"))
            }
            _ => Ok(key.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use serde_json::json;

    use super::*;

    fn nested(levels: usize) -> String {
        // `levels` objects, one inside the other: {"a":{"a":…{}…}}
        let mut text = String::new();
        for _ in 1..levels {
            text.push_str("{\"a\":");
        }
        text.push_str("{}");
        for _ in 1..levels {
            text.push('}');
        }
        text
    }

    #[test]
    fn depth_limit_exactly_and_one_over() {
        let value = parse_json5_strict(&nested(MAX_CONFIG_DEPTH)).unwrap();
        assert!(value.is_object());
        let err = parse_json5_strict(&nested(MAX_CONFIG_DEPTH + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "nested deeper than 64 levels at line 1 column {}; no config needs that many",
                5 * MAX_CONFIG_DEPTH + 1
            )
        );
        // Arrays count as levels too.
        let arrays = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_CONFIG_DEPTH),
            "]".repeat(MAX_CONFIG_DEPTH)
        );
        assert!(parse_json5_strict(&arrays).is_err());
    }

    #[test]
    fn twenty_thousand_levels_are_refused_without_overflowing_the_stack() {
        let text = nested(20_000);
        let err = parse_json5_strict(&text).unwrap_err();
        assert!(err.to_string().starts_with("nested deeper than 64 levels"));
    }

    #[test]
    fn duplicate_keys_name_the_key_and_both_places() {
        let top = "{\n  dmPolicy: \"disabled\",\n  \"dmPolicy\": \"open\",\n}";
        assert_eq!(
            parse_json5_strict(top).unwrap_err().to_string(),
            "duplicate key \"dmPolicy\" at line 3 column 3; it is also at line 2 column 3: keep one of them"
        );
        let nested = "{ channels: { sms: {\n enabled: true,\n accounts: { a: {}, b: {} },\n 'enabled': false } } }";
        assert_eq!(
            parse_json5_strict(nested).unwrap_err().to_string(),
            "duplicate key \"channels.sms.enabled\" at line 4 column 2; it is also at line 2 column 2: keep one of them"
        );
        // The same key in two different objects is fine; escapes spell the same key.
        assert_eq!(
            parse_json5_strict("{ a: { x: 1 }, b: { x: 2 } }").unwrap(),
            json!({"a": {"x": 1}, "b": {"x": 2}})
        );
        assert!(parse_json5_strict("{ x: 1, '\\u0078': 2 }").is_err());
        // In an array of objects, the path names the index.
        let err = parse_json5_strict("{ l: [{ k: 1 }, { k: 1, k: 2 }] }").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "duplicate key \"l.1.k\" at line 1 column 25; it is also at line 1 column 19"
            ),
            "{err}"
        );
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::super::{MAX_CONFIG_DEPTH, parse_json5_strict};

        /// JSON values (no floats: their text form is not this test's subject), unique keys
        /// by construction, a few levels deep.
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| Value::Number(n.into())),
                "[a-z\\\\\"'\n\u{e9}\u{1f600}]{0,8}".prop_map(Value::String),
            ];
            leaf.prop_recursive(6, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map("[a-e]{1,3}", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
                ]
            })
        }

        proptest! {
            #[test]
            fn json_text_parses_to_the_same_value(v in value()) {
                let text = serde_json::to_string_pretty(&v).unwrap();
                prop_assert_eq!(parse_json5_strict(&text).unwrap(), v);
            }

            #[test]
            fn a_duplicate_anywhere_is_named_by_its_path(
                path in prop::collection::vec("[a-c]", 0..8),
                siblings in prop::collection::btree_set("[m-p]", 0..4),
                second_line in any::<bool>(),
            ) {
                // { "a": { "b": { "k": 1, <siblings>, "k": 2 } } }
                let mut inner = String::from("{\"k\": 1");
                for s in &siblings {
                    inner.push_str(&format!(", \"{s}\": [{{}}]"));
                }
                inner.push_str(if second_line { ",\n\"k\": 2}" } else { ", k: 2}" });
                let mut text = inner;
                for key in path.iter().rev() {
                    text = format!("{{\"{key}\": {text}}}");
                }
                let dotted: Vec<&str> = path.iter().map(String::as_str).chain(["k"]).collect();
                let err = parse_json5_strict(&text).unwrap_err().to_string();
                let expected = format!("duplicate key \"{}\" at line {} column ", dotted.join("."), if second_line { 2 } else { 1 });
                prop_assert!(err.starts_with(&expected), "{} / {}", err, expected);
                prop_assert!(err.contains("it is also at line 1 column "), "{}", err);
            }

            #[test]
            fn nesting_is_accepted_up_to_the_limit_exactly(levels in 1usize..200) {
                let text = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
                let text = format!("{{\"a\": {text}}}");
                prop_assert_eq!(parse_json5_strict(&text).is_ok(), levels < MAX_CONFIG_DEPTH);
            }
        }
    }

    #[test]
    fn json5_features_still_load() {
        let value = parse_json5_strict(
            "// comment\n{ unquoted: 'single', hex: 0x10, trailing: [1, 2,], /* c */ n: null, f: .5, }",
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"unquoted": "single", "hex": 16, "trailing": [1, 2], "n": null, "f": 0.5})
        );
        assert!(parse_json5_strict("{ a: 1 } x").is_err());
        assert!(parse_json5_strict("{ a: NaN }").is_err());
        assert!(parse_json5_strict("{ a: ").is_err());
    }

    #[test]
    fn bounded_read_exactly_and_one_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, vec![b' '; 100]).unwrap();
        assert_eq!(read_regular_file(&path, 100, "file").unwrap().len(), 100);
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b" ")
            .unwrap();
        let err = read_regular_file(&path, 100, "file").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is larger than 100 bytes; nothing was read from it"),
            "{err}"
        );
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_blocking() {
        let err = read_regular_file(Path::new("/dev/zero"), 1024, "patch file").unwrap_err();
        assert_eq!(
            err.to_string(),
            "patch file /dev/zero is a device, not a regular file; write it to a file and name that"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_regular_file(dir.path(), 1024, "file")
                .unwrap_err()
                .to_string()
                .contains("is a directory")
        );
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_regular_file(&fifo, 1024, "secrets file").unwrap_err();
        assert!(
            err.to_string().contains("is a FIFO, not a regular file"),
            "{err}"
        );
    }
}
