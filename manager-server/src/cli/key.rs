//! The server's key: read from a file or `MANAGER_AUTHKEY` (hex), or generated into a
//! file once and reused on the next runs, and the warnings about a key that is easy to
//! read or to guess.

use manager_server::AuthKey;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Below this many bytes a key on a listener other hosts can reach gets a warning.
pub const SHORT_KEY: usize = 16;

/// Where the key came from.
pub struct Loaded {
    /// The key.
    pub key: AuthKey,
    /// Whether the operator supplied it (a file or the environment), rather than asking
    /// for one to be generated: a generated key is for loopback and Unix sockets only.
    pub explicit: bool,
}

/// The key the flags ask for: `--authkey-file`, else `--generate-authkey`, else
/// `MANAGER_AUTHKEY`.
pub fn load(authkey_file: Option<&Path>, generate: Option<&Path>) -> Result<Loaded, String> {
    if let Some(path) = authkey_file {
        return Ok(Loaded { key: read(path)?, explicit: true });
    }
    if let Some(path) = generate {
        return Ok(Loaded { key: generate_or_reuse(path)?, explicit: false });
    }
    match std::env::var("MANAGER_AUTHKEY") {
        Ok(hex) => {
            Ok(Loaded { key: AuthKey::from_hex(&hex).map_err(|e| format!("MANAGER_AUTHKEY: {e}"))?, explicit: true })
        }
        Err(_) => {
            Err("no key: give --authkey-file PATH, set MANAGER_AUTHKEY (hex), or use --generate-authkey PATH".into())
        }
    }
}

/// A key file's key (hex), with a warning if others than its owner may read it.
fn read(path: &Path) -> Result<AuthKey, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    let key = AuthKey::from_hex(&text).map_err(|e| {
        format!(
            "the key file {} does not hold a key: {e} (expected hex digits, e.g. from --generate-authkey)",
            path.display()
        )
    })?;
    warn_if_readable(path);
    Ok(key)
}

/// `--generate-authkey PATH`: the key already in PATH if there is one (so the same
/// command can be run again), else a fresh random key written there owner-only.
fn generate_or_reuse(path: &Path) -> Result<AuthKey, String> {
    if path.exists() {
        let key = read(path)?;
        tracing::info!("using the existing key in {} (--generate-authkey keeps a key it finds)", path.display());
        return Ok(key);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key: {e}"))?;
    let key = AuthKey::new(bytes).map_err(|e| e.to_string())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create the key file {}: {e}", path.display()))?;
    writeln!(file, "{}", key.to_hex()).map_err(|e| format!("cannot write the key file {}: {e}", path.display()))?;
    tracing::info!("generated a new key in {}", path.display());
    Ok(key)
}

/// Warns when the group or others may read the key file: anyone who can read it can
/// connect.
fn warn_if_readable(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.mode() & 0o044 != 0
    {
        tracing::warn!(
            "the key file {} is readable by its group or others (mode {:o}): anyone who can read it can connect; \
             chmod 600 it",
            path.display(),
            meta.mode() & 0o777
        );
    }
}

/// Warns when a short key guards a listener other hosts can reach.
pub fn warn_if_short(key: &AuthKey, reachable: &str) {
    if key.as_bytes().len() < SHORT_KEY {
        tracing::warn!(
            "the key is {} bytes while listening on {reachable}, reachable from other hosts: use at least {SHORT_KEY} \
             random bytes (e.g. --generate-authkey's 32)",
            key.as_bytes().len()
        );
    }
}
