//! The admin API's Unix socket: where it is, and whether what is there may be trusted.
//!
//! The socket lives in `$TMPDIR/openclaw-<uid>/`. With a shared `/tmp`, another local user can
//! create that directory first and listen there, posing as the gateway (showing fake pairing
//! requests, reading `message send` text). So the CLI talks to a socket only when the
//! directory is a real directory (not a link) owned by this user and writable by no one else,
//! and the socket is a socket owned by this user; the gateway creates the directory 0700 and
//! refuses one that someone else owns.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The effective user id of this process (the owner of what it creates).
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The admin API's Unix socket for a gateway on `port`: in a directory only this user can
/// enter, so that neither other users nor anything proxied to the TCP port (a same-host
/// reverse proxy, Tailscale Funnel) can reach it.
pub(crate) fn socket_path(port: u16) -> PathBuf {
    socket_dir().join(format!("gateway-{port}.sock"))
}

/// `$TMPDIR/openclaw-<uid>`: the directory of this user's admin sockets.
pub(crate) fn socket_dir() -> PathBuf {
    std::env::temp_dir().join(format!("openclaw-{}", current_uid()))
}

/// Why a socket directory or socket is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Untrusted {
    /// It is a symbolic link (which could point anywhere).
    Symlink,
    /// The directory's path is not a directory.
    NotDirectory,
    /// The socket's path is not a socket.
    NotSocket,
    /// Another user owns it.
    Owner { uid: u32 },
    /// Group or others may write it (mode shown).
    Writable { mode: u32 },
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Symlink => f.write_str("is a symbolic link"),
            Self::NotDirectory => f.write_str("is not a directory"),
            Self::NotSocket => f.write_str("is not a socket"),
            Self::Owner { uid } => write!(f, "is owned by uid {uid}, not by you"),
            Self::Writable { mode } => {
                write!(f, "is writable by group or others (mode {mode:04o})")
            }
        }
    }
}

/// Checks the socket directory's own metadata (from `symlink_metadata`: links not followed).
pub(crate) fn check_dir(meta: &Metadata, uid: u32) -> Result<(), Untrusted> {
    check_entry(meta, uid, Kind::Directory)
}

/// Checks a socket's own metadata (from `symlink_metadata`).
pub(crate) fn check_socket(meta: &Metadata, uid: u32) -> Result<(), Untrusted> {
    check_entry(meta, uid, Kind::Socket)
}

#[derive(Clone, Copy)]
enum Kind {
    Directory,
    Socket,
}

fn check_entry(meta: &Metadata, uid: u32, kind: Kind) -> Result<(), Untrusted> {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Err(Untrusted::Symlink);
    }
    match kind {
        Kind::Directory if !file_type.is_dir() => return Err(Untrusted::NotDirectory),
        Kind::Socket if !file_type.is_socket() => return Err(Untrusted::NotSocket),
        _ => {}
    }
    if meta.uid() != uid {
        return Err(Untrusted::Owner { uid: meta.uid() });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Untrusted::Writable { mode });
    }
    Ok(())
}

/// Before the CLI connects to `socket`: `Ok` when its directory and the socket (where they
/// exist) belong to this user and no one else can write them; otherwise an error that says
/// what is wrong and how to fix it. A missing directory or socket is `Ok` (no gateway runs).
pub(crate) fn verify_before_connect(socket: &Path) -> anyhow::Result<()> {
    let dir = socket
        .parent()
        .context("admin socket path has no directory")?;
    verify_socket_dir(dir)?;
    if let Some(meta) = own_metadata(socket)? {
        check_socket(&meta, current_uid())
            .map_err(|why| refusal(dir, &format!("the socket {}", socket.display()), why))?;
    }
    Ok(())
}

/// Before the CLI looks for sockets in `dir`: as [`verify_before_connect`], for the directory.
pub(crate) fn verify_socket_dir(dir: &Path) -> anyhow::Result<()> {
    if let Some(meta) = own_metadata(dir)? {
        check_dir(&meta, current_uid())
            .map_err(|why| refusal(dir, &format!("the directory {}", dir.display()), why))?;
    }
    Ok(())
}

fn refusal(dir: &Path, what: &str, why: Untrusted) -> anyhow::Error {
    anyhow::anyhow!(
        "refusing to use the gateway's admin socket: {what} {why}, so another user could pose as the gateway; remove the directory (`rm -r {}`) and restart the gateway, which recreates it private (0700)",
        dir.display(),
    )
}

/// `symlink_metadata` of `path`, `None` when nothing is there.
fn own_metadata(path: &Path) -> anyhow::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(anyhow::Error::new(err).context(format!("inspect {}", path.display()))),
    }
}

/// At gateway start: makes sure `dir` is a private directory of this user. A missing one is
/// created 0700 (the mode given to `mkdir`); an existing one of ours is tightened to 0700; a
/// link, a non-directory or a directory of another user is refused (it cannot be made safe:
/// its owner could still replace what is inside).
pub(crate) fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("create {}", dir.display())));
        }
    }
    let meta =
        std::fs::symlink_metadata(dir).with_context(|| format!("inspect {}", dir.display()))?;
    match check_dir(&meta, current_uid()) {
        Ok(()) | Err(Untrusted::Writable { .. }) => {}
        Err(why) => anyhow::bail!(
            "the admin socket directory {} {why}: another user could pose as this gateway; remove it (`rm -r {}`) and start again",
            dir.display(),
            dir.display()
        ),
    }
    if meta.permissions().mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("make {} private", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_mode(mode: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    /// `check_dir` of a fresh directory with `mode`, as the user `ours`.
    fn check(mode: u32, ours: u32, expected: Result<(), Untrusted>) {
        let dir = dir_with_mode(mode);
        let meta = std::fs::symlink_metadata(dir.path()).unwrap();
        assert_eq!(check_dir(&meta, ours), expected, "mode {mode:o}");
    }

    #[test]
    fn directory_checks() {
        let me = current_uid();
        let other = me.wrapping_add(1);
        check(0o700, me, Ok(()));
        check(0o755, me, Ok(()));
        check(0o770, me, Err(Untrusted::Writable { mode: 0o770 }));
        check(0o777, me, Err(Untrusted::Writable { mode: 0o777 }));
        check(0o1777, me, Err(Untrusted::Writable { mode: 0o1777 }));
        check(0o702, me, Err(Untrusted::Writable { mode: 0o702 }));
        check(0o700, other, Err(Untrusted::Owner { uid: me }));
    }

    #[test]
    fn links_and_files_are_refused() {
        let dir = dir_with_mode(0o700);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert_eq!(check_dir(&meta, current_uid()), Err(Untrusted::Symlink));
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert_eq!(
            check_dir(&meta, current_uid()),
            Err(Untrusted::NotDirectory)
        );
        assert_eq!(
            check_socket(&meta, current_uid()),
            Err(Untrusted::NotSocket)
        );
    }

    #[test]
    fn prepare_tightens_our_directory_and_refuses_a_link() {
        let dir = dir_with_mode(0o777);
        let sockets = dir.path().join("openclaw-test");
        prepare_dir(&sockets).unwrap();
        let mode = std::fs::metadata(&sockets).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o777)).unwrap();
        prepare_dir(&sockets).unwrap();
        let mode = std::fs::metadata(&sockets).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        let link = dir.path().join("openclaw-link");
        std::os::unix::fs::symlink(&sockets, &link).unwrap();
        let err = prepare_dir(&link).unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
    }
}
