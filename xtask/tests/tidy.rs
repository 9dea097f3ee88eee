//! Tidy checks: the layout rules of `docs/ARCHITECTURE.md`, enforced.

use std::fs;
use std::path::{Path, PathBuf};

/// Crates that must stay pure: no IO, no clock, no environment.
const PURE: &[&str] = &[
    "openclaw-sms-target",
    "openclaw-sms-text",
    "openclaw-access-policy",
];

/// Dependencies that bring IO (or an async runtime) and so may not appear in a pure crate.
const IO_DEPS: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "axum",
    "rusqlite",
    "mio",
    "tracing-subscriber",
    "openclaw-twilio",
    "openclaw-store",
    "openclaw-sms",
    "openclaw-gateway",
    "openclaw-twilio-sim",
    "tempfile",
];

/// Source fragments that mean IO, the clock or the environment.
const IO_SOURCE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "SystemTime::now",
    "Instant::now",
    "std::thread",
    "std::io::stdin",
    "std::io::stdout",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn package_name(manifest: &str) -> Option<String> {
    let pkg = manifest.split("[package]").nth(1)?;
    pkg.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("name")?.trim_start().strip_prefix('=')?;
        Some(rest.trim().trim_matches('"').to_owned())
    })
}

/// The dependency names of the `[dependencies]` table (not dev- or build-dependencies).
fn normal_deps(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap().trim();
            deps.push(name.to_owned());
        }
    }
    deps
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_crate_is_shaped_alike() {
    let dirs = crate_dirs();
    assert!(
        dirs.len() >= 8,
        "expected the crates that crates/README.md lists (at least eight), found {}",
        dirs.len()
    );
    let index = fs::read_to_string(root().join("crates/README.md")).unwrap();
    let mut problems = Vec::new();
    for dir in &dirs {
        let folder = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        match package_name(&manifest) {
            Some(name) if name == folder => {}
            other => problems.push(format!(
                "{folder}: package name {other:?} differs from folder"
            )),
        }
        if !folder.starts_with("openclaw-") {
            problems.push(format!(
                "{folder}: crate names share the `openclaw-` prefix"
            ));
        }
        if !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!("{folder}: missing `[lints] workspace = true`"));
        }
        for key in ["description", "keywords", "categories", "readme"] {
            if !manifest.lines().any(|l| l.starts_with(key)) {
                problems.push(format!("{folder}: Cargo.toml lacks `{key}`"));
            }
        }
        for key in [
            "version",
            "edition",
            "rust-version",
            "license",
            "repository",
        ] {
            if !manifest.contains(&format!("{key}.workspace = true")) {
                problems.push(format!(
                    "{folder}: Cargo.toml should inherit `{key}` from the workspace"
                ));
            }
        }
        if !dir.join("README.md").is_file() {
            problems.push(format!("{folder}: no README.md"));
        }
        match fs::read_to_string(dir.join("CHANGELOG.md")) {
            Ok(log) if log.contains("## [Unreleased]") => {}
            _ => problems.push(format!(
                "{folder}: CHANGELOG.md with an `## [Unreleased]` section"
            )),
        }
        let entry = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file());
        match entry.map(|p| fs::read_to_string(p).unwrap()) {
            Some(src) if src.starts_with("//!") => {}
            _ => problems.push(format!(
                "{folder}: lib.rs/main.rs must open with a `//!` crate doc"
            )),
        }
        if !index.contains(&format!("[`{folder}`]")) {
            problems.push(format!("{folder}: not listed in crates/README.md"));
        }
    }
    assert!(
        problems.is_empty(),
        "layout problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn pure_crates_do_no_io() {
    let mut problems = Vec::new();
    for name in PURE {
        let dir = root().join("crates").join(name);
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for dep in normal_deps(&manifest) {
            if IO_DEPS.contains(&dep.as_str()) {
                problems.push(format!("{name}: depends on IO crate `{dep}`"));
            }
        }
        if !dir.join("clippy.toml").is_file() {
            problems.push(format!(
                "{name}: no clippy.toml with the disallowed-methods list"
            ));
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let src = fs::read_to_string(&file).unwrap();
            for needle in IO_SOURCE {
                if src.contains(needle) {
                    problems.push(format!("{}: uses `{needle}`", file.display()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "pure crates must stay pure:\n{}",
        problems.join("\n")
    );
}

#[test]
fn access_policy_knows_no_phone_numbers() {
    let manifest =
        fs::read_to_string(root().join("crates/openclaw-access-policy/Cargo.toml")).unwrap();
    let deps = normal_deps(&manifest);
    for banned in ["openclaw-sms-target", "phonenumber"] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "openclaw-access-policy depends on {banned}"
        );
    }
}

#[test]
fn workspace_dependencies_are_declared_once() {
    // Every dependency of every crate comes from [workspace.dependencies].
    let mut problems = Vec::new();
    for dir in crate_dirs().into_iter().chain([root().join("xtask")]) {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let mut in_deps = false;
        for line in manifest.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                in_deps = t.ends_with("dependencies]");
                continue;
            }
            if in_deps && !t.is_empty() && !t.starts_with('#') && !t.contains("workspace = true") {
                problems.push(format!("{}: `{t}`", dir.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "use `dep.workspace = true`:\n{}",
        problems.join("\n")
    );
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let xtask = fs::read_to_string(root().join("xtask/src/main.rs")).unwrap();
    assert!(
        readme.contains("\ncargo test --workspace\n"),
        "README lost its test command"
    );
    assert!(
        xtask.contains(r#"args(["test", "--workspace"])"#),
        "xtask ci no longer runs it"
    );
    let fences = readme.matches("```sh").count();
    assert_eq!(
        fences, 1,
        "the README's quick start holds exactly one command block"
    );
}

/// The string literals of `pub const NAME: &[&str] = &[ ... ];` in `src` (comments skipped).
fn const_str_list(src: &str, name: &str) -> Vec<String> {
    let start = format!("const {name}: &[&str] = &[");
    let Some(at) = src.find(&start) else {
        panic!("`{start}` not found: the docs test must follow the code");
    };
    let body = &src[at + start.len()..];
    let body = &body[..body.find("];").expect("the list ends with `];`")];
    let mut keys = Vec::new();
    for line in body.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut parts = line.split('"');
        // Every second piece between quotes is a literal.
        parts.next();
        while let Some(literal) = parts.next() {
            keys.push(literal.to_owned());
            parts.next();
        }
    }
    assert!(!keys.is_empty(), "{name} is empty");
    keys
}

/// `CamelCase` to `kebab-case`, as clap names subcommands.
fn kebab(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The variant names of `enum <name> { ... }` in `src`: identifiers that start a line at brace
/// depth one (comments, attributes and string literals do not count).
fn enum_variants(src: &str, name: &str) -> Vec<String> {
    let start = format!("enum {name} {{");
    let Some(at) = src.find(&start) else {
        panic!("`{start}` not found: the docs test must follow the code");
    };
    let mut depth = 1usize;
    let mut variants = Vec::new();
    for line in src[at + start.len()..].lines() {
        let code = line.split("//").next().unwrap_or("");
        // Drop string literals so that braces inside them do not count.
        let code: String = code
            .split('"')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect();
        let trimmed = code.trim();
        if depth == 1 && trimmed.starts_with(|c: char| c.is_ascii_uppercase()) {
            let ident: String = trimmed
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            variants.push(ident);
        }
        for c in code.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        if depth == 0 {
            break;
        }
    }
    assert!(!variants.is_empty(), "enum {name} has no variants");
    variants
}

/// Every CLI command, as typed after `openclaw`: `gateway`, `config patch`, `sim text`, …
fn cli_commands() -> Vec<String> {
    let gateway = root().join("crates/openclaw-gateway/src");
    let main = fs::read_to_string(gateway.join("main.rs")).unwrap();
    let mut commands = Vec::new();
    for top in enum_variants(&main, "Command") {
        let group = kebab(&top);
        let file = gateway
            .join("cli")
            .join(format!("{}.rs", group.replace('-', "_")));
        let sub_enum = format!("{top}Command");
        let subs = fs::read_to_string(&file)
            .ok()
            .filter(|src| src.contains(&format!("enum {sub_enum} {{")))
            .map(|src| enum_variants(&src, &sub_enum));
        match subs {
            Some(subs) => commands.extend(subs.iter().map(|s| format!("{group} {}", kebab(s)))),
            None => commands.push(group),
        }
    }
    commands
}

#[test]
fn every_config_key_is_in_the_config_reference() {
    let raw = fs::read_to_string(root().join("crates/openclaw-sms/src/config/raw.rs")).unwrap();
    let docs = fs::read_to_string(root().join("docs/config.md")).unwrap();
    let mut missing = Vec::new();
    for list in [
        "ACCOUNT_KEYS",
        "TOP_LEVEL_ONLY_KEYS",
        "LIMIT_KEYS",
        "PAIRING_KEYS",
        "QUIET_HOURS_KEYS",
    ] {
        for key in const_str_list(&raw, list) {
            if !docs.contains(&format!("`{key}`")) {
                missing.push(format!("{list}: {key}"));
            }
        }
    }
    let budgets =
        fs::read_to_string(root().join("crates/openclaw-sms/src/config/budgets.rs")).unwrap();
    for key in const_str_list(&budgets, "BUDGET_KEYS") {
        if !docs.contains(&format!("`{key}`")) {
            missing.push(format!("BUDGET_KEYS: {key}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md does not document these channels.sms keys (as `key`):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_state_key_is_in_the_config_reference() {
    let src = fs::read_to_string(root().join("crates/openclaw-gateway/src/state.rs")).unwrap();
    let docs = fs::read_to_string(root().join("docs/config.md")).unwrap();
    let section = docs
        .split("\n## ")
        .find(|s| s.starts_with("`state`") || s.starts_with("state"))
        .unwrap_or_else(|| panic!("docs/config.md has no `## state` section"));
    let keys = const_str_list(&src, "STATE_KEYS");
    assert!(keys.len() >= 5, "the STATE_KEYS scan lost keys: {keys:?}");
    let missing: Vec<_> = keys
        .iter()
        .filter(|key| !section.contains(&format!("| `{key}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "the state section of docs/config.md has no table row for: {missing:?}"
    );
}

#[test]
fn every_cli_command_is_in_the_cli_reference() {
    let docs = fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let commands = cli_commands();
    for expected in [
        "gateway",
        "config patch",
        "pairing approve",
        "sms segments",
        "sim text",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "the command scan lost `{expected}`: {commands:?}"
        );
    }
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| !docs.contains(&format!("openclaw {c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/cli.md does not document these commands (as `openclaw <command>`): {missing:?}"
    );
}

#[test]
fn the_readme_links_the_guides() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for guide in [
        "docs/channels/sms.md",
        "docs/ja/channels/sms.md",
        "docs/cli.md",
        "docs/config.md",
        "docs/operations.md",
        "docs/security.md",
        "docs/ARCHITECTURE.md",
    ] {
        assert!(
            readme.contains(&format!("]({guide})")),
            "README does not link {guide}"
        );
        assert!(root().join(guide).is_file(), "{guide} is missing");
    }
}

#[test]
fn the_scanners_read_what_they_should() {
    assert_eq!(kebab("Capabilities"), "capabilities");
    assert_eq!(kebab("DryRun"), "dry-run");
    let src = "pub const KEYS: &[&str] = &[\n    \"a\", // \"not\"\n    // \"nor\"\n    \"b\",\n];";
    assert_eq!(const_str_list(src, "KEYS"), ["a", "b"]);
    let src = "enum XCommand {\n    /// A { doc }\n    #[command(x)]\n    One {\n        /// Two\n        field: u8,\n    },\n    Two(Args),\n    ThreeFour,\n}\nenum Other { Nope }";
    assert_eq!(enum_variants(src, "XCommand"), ["One", "Two", "ThreeFour"]);
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every Rust file of the workspace (crates, xtask, fuzz targets), relative to the root.
fn workspace_rust_files() -> Vec<(String, String)> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["crates", "examples", "xtask", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    files
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "target"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap_or_default();
            let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            (rel, text)
        })
        .collect()
}

/// The lines of `src` that start a run of at least `run` consecutive lines each being one of
/// `names` alone as a list element (`"NAME",`): the shape of a copied list. Lines that set a
/// variable to a value (`("NAME", value)`, `.env("NAME", v)`) are uses, not copies.
fn copied_list_lines(src: &str, names: &[String], run: usize) -> Vec<usize> {
    let elements: Vec<String> = names.iter().map(|n| format!("\"{n}\",")).collect();
    let hits: Vec<bool> = src
        .lines()
        .map(|l| elements.iter().any(|e| l.trim() == e.as_str()))
        .collect();
    (0..hits.len())
        .filter(|&i| {
            (i == 0 || !hits[i - 1]) && hits[i..].iter().take_while(|h| **h).count() >= run
        })
        .map(|i| i + 1)
        .collect()
}

/// Rules that were copied and drifted now live in one place each; new copies fail here.
#[test]
fn rules_live_in_one_place() {
    let resolve = "crates/openclaw-sms/src/config/resolve.rs";
    let env_vars = const_str_list(&read(resolve), "ENV_VARS");
    assert!(env_vars.len() >= 8, "ENV_VARS not found in {resolve}");
    let sid_rule = "crates/openclaw-twilio/src/sid.rs";
    // Percent-decoders read hex digits too; they are not SID checks.
    let hex_readers = [sid_rule, "crates/openclaw-channel/src/public_url.rs"];
    let status_rule = "crates/openclaw-twilio/src/webhook.rs";
    let pairing_rule = "crates/openclaw-channel/src/pairing.rs";
    let mut problems = Vec::new();
    for (path, text) in workspace_rust_files() {
        if path == "xtask/tests/tidy.rs" {
            continue;
        }
        if path != resolve {
            for line in copied_list_lines(&text, &env_vars, 3) {
                problems.push(format!(
                    "{path}:{line}: a copy of the environment-variable list: use openclaw_sms::config::ENV_VARS"
                ));
            }
        }
        if !hex_readers.contains(&path.as_str()) && text.contains("is_ascii_hexdigit") {
            problems.push(format!(
                "{path}: checks hexadecimal digits by hand: use openclaw_twilio::sid::is_sid (or a SID type) for SIDs"
            ));
        }
        problems.extend(pairing_and_status_copies(
            &path,
            &text,
            status_rule,
            pairing_rule,
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Copies of the rules that live in one place each: the terminal delivery statuses
/// (`openclaw_twilio::webhook::MessageStatus::is_terminal`), and pairing orchestration in
/// `openclaw_channel::pairing` (a stored request turned into the policy's, and the store's
/// approve/deny called around it instead of through it).
fn pairing_and_status_copies(
    path: &str,
    text: &str,
    status_rule: &str,
    pairing_rule: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let is_src = path.contains("/src/") && !path.starts_with("crates/openclaw-store/");
    for (n, line) in text.lines().enumerate() {
        let at = format!("{path}:{}", n + 1);
        let alternation = line.contains("\"undelivered\" |") || line.contains("| \"undelivered\"");
        if path != status_rule && alternation {
            problems.push(format!(
                "{at}: a copy of the terminal delivery statuses: use openclaw_twilio::webhook::MessageStatus::is_terminal (openclaw_store::is_terminal for a stored status)"
            ));
        }
        if path == pairing_rule || path.starts_with("crates/openclaw-access-policy/") {
            continue;
        }
        if line.contains("Timestamp::from_unix_millis(") && line.contains(".created_at)") {
            problems.push(format!(
                "{at}: converts a stored pairing request by hand: use openclaw_channel::pairing::policy_request (or Pairing::decision)"
            ));
        }
        if is_src && (line.contains(".approve(&") || line.contains(".deny(&")) {
            problems.push(format!(
                "{at}: calls the store's approve/deny directly: use openclaw_channel::pairing::{{approve, deny}} (SMS: openclaw_sms::owner)"
            ));
        }
    }
    problems
}

#[test]
fn the_one_place_rules_see_their_copies() {
    let (status, pairing) = ("twilio/webhook.rs", "channel/pairing.rs");
    let copy = "matches!(s, \"delivered\" | \"undelivered\")";
    assert_eq!(
        pairing_and_status_copies("a/src/x.rs", copy, status, pairing).len(),
        1
    );
    assert!(pairing_and_status_copies(status, copy, status, pairing).is_empty());
    let by_hand = "created_at: Timestamp::from_unix_millis(r.created_at),\nstore.deny(&key, code)";
    assert_eq!(
        pairing_and_status_copies("c/src/y.rs", by_hand, status, pairing).len(),
        2
    );
    assert!(pairing_and_status_copies(pairing, by_hand, status, pairing).is_empty());
    // Tests may drive the store directly.
    assert_eq!(
        pairing_and_status_copies("c/tests/it/y.rs", by_hand, status, pairing).len(),
        1
    );
}

#[test]
fn the_copy_detector_sees_a_copied_list() {
    let names = ["A_ONE".to_owned(), "A_TWO".to_owned(), "A_THREE".to_owned()];
    let copy = "let x = [\n    \"A_ONE\",\n    \"A_TWO\",\n    \"A_THREE\",\n];\n";
    assert_eq!(copied_list_lines(copy, &names, 3), [2]);
    let two = "cmd.env(\"A_ONE\", \"x\");\n(\"A_TWO\", y),\n\"A_THREE\",\nother();";
    assert!(copied_list_lines(two, &names, 3).is_empty());
}
