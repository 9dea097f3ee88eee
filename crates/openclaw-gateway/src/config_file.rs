//! The config file on disk: JSON5 in, JSON out, merge patches, atomic writes.
//!
//! The whole document is kept as a JSON value so that sections we do not use (gateway, models,
//! plugins, … from an upstream `openclaw.json`) survive a patch untouched. Typed, strict
//! validation of `channels.sms` is `openclaw_sms::config`'s job.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

/// Largest config or patch file we read (as upstream).
pub(crate) const MAX_CONFIG_BYTES: u64 = 8 * 1024 * 1024;

/// A loaded config document.
#[derive(Debug, Clone)]
pub(crate) struct ConfigDoc {
    pub(crate) path: PathBuf,
    pub(crate) value: Value,
    pub(crate) existed: bool,
}

impl ConfigDoc {
    /// Loads the config at `path`; a missing file is an empty config, not an error.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        match read_json5_file(path, "config file") {
            Ok(value) => Ok(Self {
                path: path.to_path_buf(),
                value,
                existed: true,
            }),
            Err(err) if is_not_found(&err) => Ok(Self {
                path: path.to_path_buf(),
                value: Value::Object(Map::new()),
                existed: false,
            }),
            Err(err) => Err(err),
        }
    }

    /// Writes the document atomically: temp file in the same directory, fsync, mode 0600,
    /// rename over the old file, fsync the directory.
    pub(crate) fn save(&self) -> anyhow::Result<()> {
        write_atomic(&self.path, &self.value)
    }

    /// Takes the config's write lock and reloads the document under it, so that a
    /// read-modify-write ([`merge_patch`] then [`ConfigDoc::save`]) starts from what the last
    /// writer saved. Hold the returned lock until the save is done.
    pub(crate) fn reload_locked(&mut self) -> anyhow::Result<ConfigLock> {
        let lock = ConfigLock::acquire(&self.path)?;
        *self = Self::load(&self.path)?;
        Ok(lock)
    }
}

/// An exclusive advisory lock (`flock`) on `<config file name>.lock` beside the config file,
/// held by one writer at a time; released when dropped (or when the process dies). The lock
/// file stays: removing it would let two writers lock two different files.
#[derive(Debug)]
pub(crate) struct ConfigLock {
    _file: fs::File,
}

impl ConfigLock {
    /// Waits for and takes the lock of the config file at `path`.
    fn acquire(path: &Path) -> anyhow::Result<Self> {
        let dir = parent_dir(path);
        create_private_dir(dir)?;
        let lock_path = dir.join(format!("{}.lock", file_name(path)));
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options
            .open(&lock_path)
            .with_context(|| format!("open the config lock {}", lock_path.display()))?;
        file.lock()
            .with_context(|| format!("lock {}", lock_path.display()))?;
        Ok(Self { _file: file })
    }
}

/// The directory a config file is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(crate::paths::CONFIG_FILE_NAME)
}

/// Creates `dir` and its missing parents owner-only (0700, given to `mkdir`, so the umask
/// cannot widen it); an existing directory keeps its mode.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("create directory {}", dir.display()))
}

fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}

/// Reads and parses a JSON5 file whose root must be an object: a regular file of at most
/// [`MAX_CONFIG_BYTES`] (counted while reading), nested at most
/// [`MAX_CONFIG_DEPTH`](crate::config_input::MAX_CONFIG_DEPTH) levels, no duplicate keys.
pub(crate) fn read_json5_file(path: &Path, what: &str) -> anyhow::Result<Value> {
    let bytes = crate::config_input::read_regular_file(path, MAX_CONFIG_BYTES, what)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{what} {} is not UTF-8 text", path.display()))?;
    parse_json5_object(&text)
        .with_context(|| format!("{what} {} is not valid JSON5", path.display()))
}

/// Parses JSON5 text whose root must be an object (strictly: see
/// [`parse_json5_strict`](crate::config_input::parse_json5_strict)).
pub(crate) fn parse_json5_object(text: &str) -> anyhow::Result<Value> {
    let value = crate::config_input::parse_json5_strict(text)?;
    if !value.is_object() {
        bail!("the top level must be an object ({{ … }})");
    }
    Ok(value)
}

/// The text [`ConfigDoc::save`] writes for `value`, checked to load again: a config that the
/// loader would refuse (over the byte limit, say, after a large patch) is never written.
pub(crate) fn render_loadable(value: &Value) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("serialise config")?;
    text.push('\n');
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!(
            "the result would be {} bytes, over the {MAX_CONFIG_BYTES}-byte limit of a config file",
            text.len()
        );
    }
    parse_json5_object(&text).context("the result would not load again")?;
    Ok(text)
}

fn write_atomic(path: &Path, value: &Value) -> anyhow::Result<()> {
    let dir = parent_dir(path);
    create_private_dir(dir)?;
    let text = render_loadable(value)?;
    let tmp = dir.join(format!(".{}.{}.tmp", file_name(path), std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("create {}", tmp.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path).with_context(|| format!("replace {}", path.display()))?;
        if let Ok(dir) = fs::File::open(dir) {
            // Make the rename durable; some filesystems refuse fsync on a directory: not fatal.
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// One change a patch made, by dotted path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Change {
    pub(crate) op: ChangeOp,
    pub(crate) path: String,
}

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChangeOp {
    /// A value was added or replaced.
    Set,
    /// A value was deleted (`null` in the patch).
    Delete,
}

/// Applies a JSON merge patch (RFC 7386): objects merge recursively, arrays and scalars
/// replace, `null` deletes. Returns the paths that actually changed.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    merge_into(target, patch, &mut String::new(), &mut changes);
    changes
}

fn merge_into(target: &mut Value, patch: &Value, path: &mut String, changes: &mut Vec<Change>) {
    let Value::Object(patch_map) = patch else {
        if target != patch {
            changes.push(Change {
                op: ChangeOp::Set,
                path: path.clone(),
            });
            *target = patch.clone();
        }
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        if value.is_null() {
            if target_map.remove(key).is_some() {
                changes.push(Change {
                    op: ChangeOp::Delete,
                    path: path.clone(),
                });
            }
        } else if value.is_object() {
            let entry = target_map.entry(key.clone()).or_insert(Value::Null);
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
                if value.as_object().is_some_and(Map::is_empty) {
                    changes.push(Change {
                        op: ChangeOp::Set,
                        path: path.clone(),
                    });
                }
            }
            merge_into(entry, value, path, changes);
        } else {
            let entry = target_map.entry(key.clone()).or_insert(Value::Null);
            if entry != value {
                *entry = value.clone();
                changes.push(Change {
                    op: ChangeOp::Set,
                    path: path.clone(),
                });
            }
        }
        path.truncate(len);
    }
}

/// Looks up a dotted path (`channels.sms.dmPolicy`; `accounts.support` keys may hold dots only
/// if quoted, which we do not support).
pub(crate) fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.trim().is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(target: Value, patch: Value, expected: Value, expected_changes: &[&str]) {
        let mut target = target;
        let changes = merge_patch(&mut target, &patch);
        assert_eq!(target, expected);
        let rendered: Vec<String> = changes
            .iter()
            .map(|c| {
                format!(
                    "{}:{}",
                    if c.op == ChangeOp::Set {
                        "set"
                    } else {
                        "delete"
                    },
                    c.path
                )
            })
            .collect();
        assert_eq!(rendered, expected_changes);
    }

    #[test]
    fn merge_patch_semantics() {
        check(json!({}), json!({"a": 1}), json!({"a": 1}), &["set:a"]);
        check(json!({"a": 1}), json!({"a": 1}), json!({"a": 1}), &[]);
        check(
            json!({"a": {"b": 1, "c": 2}}),
            json!({"a": {"b": 3}}),
            json!({"a": {"b": 3, "c": 2}}),
            &["set:a.b"],
        );
        check(
            json!({"a": [1, 2]}),
            json!({"a": [3]}),
            json!({"a": [3]}),
            &["set:a"],
        );
        check(
            json!({"a": 1, "b": 2}),
            json!({"a": null}),
            json!({"b": 2}),
            &["delete:a"],
        );
        check(json!({"b": 2}), json!({"a": null}), json!({"b": 2}), &[]);
        check(
            json!({"a": 1}),
            json!({"a": {"b": 2}}),
            json!({"a": {"b": 2}}),
            &["set:a.b"],
        );
        check(
            json!({"gateway": {"port": 1}, "channels": {"sms": {"enabled": false}}}),
            json!({"channels": {"sms": {"enabled": true, "dmPolicy": "pairing"}}}),
            json!({"gateway": {"port": 1}, "channels": {"sms": {"enabled": true, "dmPolicy": "pairing"}}}),
            &["set:channels.sms.enabled", "set:channels.sms.dmPolicy"],
        );
    }

    #[test]
    fn json5_with_comments_and_trailing_commas_loads() {
        let value =
            parse_json5_object("{ channels: { sms: { enabled: true, }, }, // note\n }").unwrap();
        assert_eq!(get_path(&value, "channels.sms.enabled"), Some(&json!(true)));
        assert!(parse_json5_object("[1]").is_err());
        assert!(parse_json5_object("{ a: ").is_err());
    }

    #[test]
    fn atomic_write_is_private_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/openclaw.json");
        let doc = ConfigDoc {
            path: path.clone(),
            value: json!({"a": 1}),
            existed: false,
        };
        doc.save().unwrap();
        let loaded = ConfigDoc::load(&path).unwrap();
        assert!(loaded.existed);
        assert_eq!(loaded.value, json!({"a": 1}));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            // The directory the save created is owner-only too.
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let doc = ConfigDoc::load(&dir.path().join("none.json")).unwrap();
        assert!(!doc.existed);
        assert_eq!(doc.value, json!({}));
    }
}
