//! The cases of `tests/data/targets.tsv`, one per line.

use openclaw_sms_target::{NumberWarning, ParseOptions, ParseTargetError, Region, Target};

const TABLE: &str = include_str!("../data/targets.tsv");

fn options(spec: &str) -> ParseOptions {
    let mut options = ParseOptions::new();
    for part in spec.split('+') {
        match part {
            "-" => {}
            "strict" => options = options.with_strict(true),
            region => options = options.with_default_region(Region::parse(region).unwrap()),
        }
    }
    options
}

fn variant(err: &ParseTargetError) -> &'static str {
    match err {
        ParseTargetError::Empty => "Empty",
        ParseTargetError::UnsupportedPrefix { .. } => "UnsupportedPrefix",
        ParseTargetError::DoublePrefix { .. } => "DoublePrefix",
        ParseTargetError::Letters { .. } => "Letters",
        ParseTargetError::InvalidCharacter { .. } => "InvalidCharacter",
        ParseTargetError::MisplacedPlus { .. } => "MisplacedPlus",
        ParseTargetError::TooShort { .. } => "TooShort",
        ParseTargetError::TooLong { .. } => "TooLong",
        ParseTargetError::UnknownCountryCode { .. } => "UnknownCountryCode",
        ParseTargetError::MissingCountryCode { .. } => "MissingCountryCode",
        ParseTargetError::NotValidInNumberingPlan { .. } => "NotValidInNumberingPlan",
        _ => "other",
    }
}

fn check(input: &str, spec: &str, expected: &str) {
    let got = match Target::parse(input, &options(spec)) {
        Ok(t) => {
            let prefix = match t.prefix().as_str() {
                "" => "-",
                p => p,
            };
            let plan = match t.warnings() {
                [] => "valid".to_owned(),
                [
                    NumberWarning::NotValidInNumberingPlan {
                        suggestion: None, ..
                    },
                ] => "warn".to_owned(),
                [
                    NumberWarning::NotValidInNumberingPlan {
                        suggestion: Some(s),
                        ..
                    },
                ] => {
                    format!("warn:{s}")
                }
                other => format!("{other:?}"),
            };
            format!("ok {prefix} {} {plan}", t.number())
        }
        Err(e) => {
            // Every error says what to write instead.
            let msg = e.to_string();
            assert!(
                msg.contains("write") || msg.contains("check it"),
                "{input:?}: {msg}"
            );
            format!("err {}", variant(&e))
        }
    };
    assert_eq!(got, expected, "input {input:?} with options {spec}");
}

#[test]
fn fixture_table() {
    let mut cases = 0;
    for line in TABLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut cols = line.split('\t');
        let (Some(input), Some(spec), Some(expected), None) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            panic!("malformed fixture line {line:?}");
        };
        check(input, spec, expected);
        cases += 1;
    }
    assert!(cases > 40, "fixture lost its cases: {cases}");
}
