//! Handing a server — and proxies to its objects — to child processes through their
//! environment.
//!
//! A parent sets [`ADDRESS_VAR`] and [`AUTHKEY_VAR`] on a command
//! (`client.configure_child(&mut cmd)`), and one `MANAGER_PROXY_<NAME>` variable per
//! proxy it hands over (`client.pass_proxy(&mut cmd, "name", &proxy)`), whose value is
//! the proxy's token as text, leased (see [`Token`]). The child
//! connects with `Client::from_env()` and takes each proxy with
//! `client.inherited::<P>("name")`. A client connected over TLS hands over the paths of
//! its TLS files too ([`TLS_CA_VAR`], [`TLS_PIN_VAR`], [`TLS_CERT_VAR`], [`TLS_KEY_VAR`]),
//! and one connected over shared memory says so ([`SHARED_MEMORY_VAR`]).

use manager_proto::{Address, AuthKey, AuthKeyError, Error, Token};

/// The server's address, as `tcp://host:port` or `unix:/path`.
pub const ADDRESS_VAR: &str = "MANAGER_ADDRESS";
/// The key, in hex.
pub const AUTHKEY_VAR: &str = "MANAGER_AUTHKEY";
/// A key file (hex, as `manager-server --generate-authkey` writes it), read by
/// [`read`] when [`AUTHKEY_VAR`] is not set: a program run next to the server can
/// `Client::from_env()` with the same file the server was given.
pub const AUTHKEY_FILE_VAR: &str = "MANAGER_AUTHKEY_FILE";
/// For `tls://` addresses: a PEM file of the CA certificates the server's certificate
/// must chain to (see [`ClientTls::from_env`](crate::ClientTls::from_env)).
pub const TLS_CA_VAR: &str = "MANAGER_TLS_CA";
/// For `tls://` addresses: a PEM file holding the server's own certificate, trusted as
/// it is (pinned) instead of through a CA.
pub const TLS_PIN_VAR: &str = "MANAGER_TLS_PIN";
/// For servers that require a client certificate (mutual TLS): the client's
/// certificate chain (PEM).
pub const TLS_CERT_VAR: &str = "MANAGER_TLS_CERT";
/// For mutual TLS: the client's private key (PEM). A child is handed the path, never
/// the key.
pub const TLS_KEY_VAR: &str = "MANAGER_TLS_KEY";
/// `1` to connect over shared memory (`ClientOptions::shared_memory`): set on a child
/// by a parent connected that way, read by `Client::from_env`.
pub const SHARED_MEMORY_VAR: &str = "MANAGER_SHARED_MEMORY";
/// What the variable of a handed-over proxy starts with; its name follows.
pub const PROXY_VAR_PREFIX: &str = "MANAGER_PROXY_";

/// A command whose child process gets environment variables: implemented for
/// [`std::process::Command`] and [`tokio::process::Command`], so both can be handed a
/// server and proxies.
pub trait ChildCommand {
    /// Sets `key` to `value` in the child's environment.
    fn set_env(&mut self, key: &str, value: &str);
}

impl ChildCommand for std::process::Command {
    fn set_env(&mut self, key: &str, value: &str) {
        self.env(key, value);
    }
}

impl ChildCommand for tokio::process::Command {
    fn set_env(&mut self, key: &str, value: &str) {
        self.env(key, value);
    }
}

/// Sets both variables on `command`.
///
/// The key travels in the child's environment, which only the same user (and root)
/// can read on Linux.
pub fn configure(command: &mut impl ChildCommand, address: &Address, authkey: &AuthKey) {
    command.set_env(ADDRESS_VAR, &address.to_string());
    command.set_env(AUTHKEY_VAR, &authkey.to_hex());
}

/// The key in a key file: hex digits, as `manager-server --generate-authkey` writes
/// them (surrounding whitespace ignored). The same key the server reads from that file —
/// not the file's text as raw bytes, which authenticates as a wrong key. (A client-side
/// helper: the protocol crate does no I/O.)
///
/// ```no_run
/// let key = manager_client::env::read_authkey("/tmp/m.key")?;
/// # Ok::<(), manager_client::Error>(())
/// ```
pub fn read_authkey(path: impl AsRef<std::path::Path>) -> Result<AuthKey, Error> {
    let path = path.as_ref();
    let file = |reason: String| AuthKeyError::File { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
    Ok(AuthKey::from_hex(&text).map_err(|e| file(e.to_string()))?)
}

/// Reads the address and the key: [`AUTHKEY_VAR`] (hex), or else the file named by
/// [`AUTHKEY_FILE_VAR`].
pub fn read() -> Result<(Address, AuthKey), Error> {
    let var =
        |name: &str| std::env::var(name).map_err(|_| Error::Config(format!("{name} is not set (or not valid UTF-8)")));
    let address: Address = var(ADDRESS_VAR)?.parse()?;
    let key = match (std::env::var(AUTHKEY_VAR), std::env::var_os(AUTHKEY_FILE_VAR)) {
        (Ok(hex), _) => AuthKey::from_hex(&hex)?,
        (Err(_), Some(path)) => read_authkey(path)?,
        (Err(_), None) => {
            return Err(Error::Config(format!(
                "{AUTHKEY_VAR} is not set (or not valid UTF-8), nor is {AUTHKEY_FILE_VAR}"
            )));
        }
    };
    Ok((address, key))
}

/// The variable that carries the proxy handed over as `name`: `MANAGER_PROXY_` and the
/// name. A name is non-empty and made of ASCII letters, digits and `_`, so the variable
/// is one any shell can set and read.
///
/// ```
/// assert_eq!(manager_client::env::proxy_var("results").unwrap(), "MANAGER_PROXY_results");
/// assert!(manager_client::env::proxy_var("my-results").is_err());
/// ```
pub fn proxy_var(name: &str) -> Result<String, Error> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::Config(format!(
            "`{name}` cannot name a handed-over proxy: use ASCII letters, digits and `_` (it becomes the \
             environment variable {PROXY_VAR_PREFIX}NAME)"
        )));
    }
    Ok(format!("{PROXY_VAR_PREFIX}{name}"))
}

/// Sets the variable of the proxy handed over as `name` to `token`'s text.
pub fn pass_token(command: &mut impl ChildCommand, name: &str, token: &Token) -> Result<(), Error> {
    command.set_env(&proxy_var(name)?, &token.to_string());
    Ok(())
}

/// Reads the token of the proxy handed over as `name`.
pub fn read_token(name: &str) -> Result<Token, Error> {
    let var = proxy_var(name)?;
    let text = std::env::var(&var).map_err(|_| {
        Error::Config(format!(
            "{var} is not set (or not valid UTF-8): the parent must hand this process the proxy with \
             `client.pass_proxy(&mut command, \"{name}\", &proxy)`"
        ))
    })?;
    text.parse::<Token>().map_err(|e| Error::Config(format!("{var}: {e}")))
}
