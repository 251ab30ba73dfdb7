//! Tokens: a proxy's identity as plain data, to hand to another process — as a value
//! (serde) or as text (`Display` / `FromStr`).

use crate::{Address, ObjectId, ServerId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What every token's text starts with: the format's name and version, so a future
/// format can be told apart (and a stray string is not mistaken for a token).
pub const TEXT_PREFIX: &str = "mgr1-";

/// How long a server holds a token's object by default after the token is minted.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The shortest token lease a server accepts. A client does not learn the server's
/// lease length (leases are sent without an answer, so minting a token never waits):
/// it only relies on every lease lasting at least this long.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

/// A token minted again from the same proxy within this long reuses the lease asked
/// for by the first, instead of sending another request; such a token is good for at
/// least the server's lease minus this. Half of [`MIN_LEASE`].
pub const LEASE_REUSE: Duration = Duration::from_millis(500);

/// Everything needed to reach one shared object from any process: the server's
/// address and run id, the object id, and its type id. It carries no secret (the
/// attaching process brings its own authkey).
///
/// A token is data, not a reference: what keeps the object alive while the token
/// travels is its *lease*. Minting a token from a proxy (`proxy.token()`, or
/// serializing a proxy outside a container's element) asks the server to hold the
/// object itself for its lease length (30 s by default, `ServerBuilder::token_lease`),
/// so the sender may drop its proxy at once. Attach within the lease, or while some
/// other holder (a proxy, a container, a name) still holds the object; after that the
/// object is gone and `attach` says so. Object ids are never reused within a server
/// run, so a late token never reaches another object.
///
/// As text a token is [`TEXT_PREFIX`] followed by the base64url (no padding) of its
/// postcard encoding: letters, digits, `-` and `_` only, so it is safe in a shell
/// word, a URL and an environment variable.
///
/// ```
/// use manager_proto::{Address, ObjectId, ServerId, Token};
/// let t = Token {
///     address: "tcp://127.0.0.1:5000".parse::<Address>().unwrap(),
///     server: ServerId(0xabc),
///     object: ObjectId(3),
///     type_id: "counter".into(),
/// };
/// let text = t.to_string();
/// assert!(text.starts_with("mgr1-"));
/// assert_eq!(text.parse::<Token>().unwrap(), t);
/// assert!("mgr1-nonsense".parse::<Token>().is_err());
/// // Serde stays: a token is also a plain value.
/// let bytes = postcard::to_allocvec(&t).unwrap();
/// assert_eq!(postcard::from_bytes::<Token>(&bytes).unwrap(), t);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Token {
    /// Where the server listens.
    pub address: Address,
    /// Which run of that server.
    pub server: ServerId,
    /// The object.
    pub object: ObjectId,
    /// The object's type id.
    pub type_id: String,
}

impl Token {
    /// A description for people (error messages, logs): the type, the object, the
    /// server and its run. Not parseable; the token's text is its `Display`.
    ///
    /// ```
    /// # use manager_proto::{Address, ObjectId, ServerId, Token};
    /// let t = Token {
    ///     address: "tcp://127.0.0.1:5000".parse::<Address>().unwrap(),
    ///     server: ServerId(0xabc),
    ///     object: ObjectId(3),
    ///     type_id: "counter".into(),
    /// };
    /// assert!(t.describe().contains("`counter` object"));
    /// ```
    pub fn describe(&self) -> String {
        format!("`{}` object {} at {} (server run {})", self.type_id, self.object, self.address, self.server)
    }
}

/// The token's text: [`TEXT_PREFIX`] and base64url of its postcard encoding.
impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Strings and integers only: postcard cannot fail on them.
        let bytes = postcard::to_allocvec(self).map_err(|_| fmt::Error)?;
        f.write_str(TEXT_PREFIX)?;
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// Text that is not a token's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a token: {0}")]
pub struct TokenError(String);

impl FromStr for Token {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Token, TokenError> {
        let text = text.trim();
        let shown = shorten(text);
        let body = text.strip_prefix(TEXT_PREFIX).ok_or_else(|| {
            TokenError(format!(
                "`{shown}` does not start with `{TEXT_PREFIX}` (tokens are printed by `token.to_string()`)"
            ))
        })?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|e| {
            TokenError(format!("`{shown}` is not base64url after `{TEXT_PREFIX}` ({e}); was it cut short?"))
        })?;
        let (token, rest) = postcard::take_from_bytes::<Token>(&bytes)
            .map_err(|e| TokenError(format!("`{shown}` is cut short or damaged ({e})")))?;
        if !rest.is_empty() {
            return Err(TokenError(format!("`{shown}` has {} bytes after the token", rest.len())));
        }
        Ok(token)
    }
}

/// At most 40 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(address: &str, type_id: &str) -> Token {
        Token {
            address: address.parse().unwrap(),
            server: ServerId(u64::MAX - 5),
            object: ObjectId(1 << 40),
            type_id: type_id.into(),
        }
    }

    #[test]
    fn text_round_trips_and_is_shell_url_and_env_safe() {
        for t in [
            token("tcp://127.0.0.1:5000", "counter"),
            token("unix:/tmp/a dir with spaces/manager.sock", "dict"),
            token("tcp://[::1]:1", "é and / and $HOME"),
        ] {
            let text = t.to_string();
            assert!(text.starts_with(TEXT_PREFIX), "{text}");
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
            assert_eq!(text.parse::<Token>().unwrap(), t);
            // Pasted with a line end.
            assert_eq!(format!("{text}\n").parse::<Token>().unwrap(), t);
        }
    }

    #[test]
    fn garbage_and_truncated_text_are_refused_clearly() {
        let text = token("tcp://127.0.0.1:5000", "counter").to_string();
        for bad in ["", "hello", "mgr1-", "mgr1-!!!!", "mgr2-AAAA", &text[..text.len() - 3], &text[5..]] {
            let err = bad.parse::<Token>().unwrap_err().to_string();
            assert!(err.starts_with("not a token: "), "{bad:?}: {err}");
        }
        let longer = format!("{text}AAAA");
        assert!(longer.parse::<Token>().is_err(), "trailing bytes are refused");
        let err = "x".repeat(500).parse::<Token>().unwrap_err().to_string();
        assert!(err.len() < 200, "a long input is shortened in the message: {err}");
    }
}
