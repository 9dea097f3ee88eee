//! Where the config file and the state directory are.
//!
//! Config file: `--config`, else `$OPENCLAW_CONFIG_PATH`, else `$OPENCLAW_STATE_DIR/openclaw.json`,
//! else `~/.openclaw/openclaw.json`. State directory: `--state-dir`, else `$OPENCLAW_STATE_DIR`,
//! else `~/.openclaw`. Blank values count as unset.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::env::Env;

/// The file name of the config inside the state directory.
pub(crate) const CONFIG_FILE_NAME: &str = "openclaw.json";

/// Resolved locations for one invocation.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) config: PathBuf,
    pub(crate) state_dir: PathBuf,
}

impl Paths {
    /// Resolves the paths from the flags and the environment.
    pub(crate) fn resolve(
        config_flag: Option<&Path>,
        state_flag: Option<&Path>,
        env: &Env,
    ) -> anyhow::Result<Self> {
        let home = || -> anyhow::Result<PathBuf> {
            match env.get("HOME") {
                Some(home) => Ok(PathBuf::from(home).join(".openclaw")),
                None => bail!(
                    "cannot find the state directory: set HOME, OPENCLAW_STATE_DIR or --state-dir"
                ),
            }
        };
        let env_state = env.get("OPENCLAW_STATE_DIR").map(PathBuf::from);
        let state_dir = match (state_flag, &env_state) {
            (Some(flag), _) => flag.to_path_buf(),
            (None, Some(dir)) => dir.clone(),
            (None, None) => home()?,
        };
        let config = match (config_flag, env.get("OPENCLAW_CONFIG_PATH"), &env_state) {
            (Some(flag), _, _) => flag.to_path_buf(),
            (None, Some(path), _) => PathBuf::from(path),
            (None, None, Some(dir)) => dir.join(CONFIG_FILE_NAME),
            (None, None, None) => home()
                .context("cannot find the config file")?
                .join(CONFIG_FILE_NAME),
        };
        Ok(Self { config, state_dir })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        config: Option<&str>,
        state: Option<&str>,
        env: &[(&str, &str)],
        expected: (&str, &str),
    ) {
        let env = Env::from_pairs(env);
        let paths =
            Paths::resolve(config.map(Path::new), state.map(Path::new), &env).expect("resolves");
        assert_eq!(
            (
                paths.config.to_str().unwrap(),
                paths.state_dir.to_str().unwrap()
            ),
            expected
        );
    }

    #[test]
    fn resolution_order() {
        let home = ("HOME", "/home/u");
        check(
            None,
            None,
            &[home],
            ("/home/u/.openclaw/openclaw.json", "/home/u/.openclaw"),
        );
        check(
            None,
            None,
            &[home, ("OPENCLAW_STATE_DIR", "/s")],
            ("/s/openclaw.json", "/s"),
        );
        check(
            None,
            None,
            &[
                home,
                ("OPENCLAW_STATE_DIR", "/s"),
                ("OPENCLAW_CONFIG_PATH", "/c.json"),
            ],
            ("/c.json", "/s"),
        );
        check(
            Some("/f.json"),
            Some("/d"),
            &[home, ("OPENCLAW_STATE_DIR", "/s")],
            ("/f.json", "/d"),
        );
        // Blank values do not count.
        check(
            None,
            None,
            &[home, ("OPENCLAW_STATE_DIR", "  ")],
            ("/home/u/.openclaw/openclaw.json", "/home/u/.openclaw"),
        );
        // A --state-dir flag does not move an explicit config path.
        check(
            None,
            Some("/d"),
            &[home],
            ("/home/u/.openclaw/openclaw.json", "/d"),
        );
    }

    #[test]
    fn no_home_is_an_error_that_says_what_to_set() {
        let err = Paths::resolve(None, None, &Env::from_pairs(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("OPENCLAW_STATE_DIR"), "{err:#}");
    }
}
