//! Stamps the binary with the git commit it was built from, for `openclaw --version`.

use std::process::Command;

fn main() {
    let hash = std::env::var("OPENCLAW_GIT_HASH")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
        });
    println!(
        "cargo:rustc-env=OPENCLAW_GIT_HASH={}",
        hash.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rerun-if-env-changed=OPENCLAW_GIT_HASH");
    // Rebuild when HEAD moves. Ask git where its files are: in a worktree `.git` is a file, and
    // a branch's ref may live in `packed-refs`.
    let git = |arg: &str| {
        Command::new("git")
            .args(["rev-parse", arg])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| std::path::PathBuf::from(s.trim()))
    };
    if let Some(dir) = git("--git-dir") {
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
    }
    if let Some(common) = git("--git-common-dir") {
        for path in ["refs/heads", "packed-refs"] {
            let path = common.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
