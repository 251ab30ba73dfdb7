//! The shared secret.

use std::fmt;
use zeroize::Zeroize;

/// The key every peer must prove it knows. Its bytes never appear in `Debug` output,
/// logs or error messages.
///
/// ```
/// use manager_proto::AuthKey;
/// let key = AuthKey::from_hex("00ff10").unwrap();
/// assert_eq!(key.to_hex(), "00ff10");
/// assert_eq!(format!("{key:?}"), "AuthKey(<3 bytes, redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey(Vec<u8>);

/// A key that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthKeyError {
    /// An empty key proves nothing.
    #[error("the authkey is empty")]
    Empty,
    /// Not an even-length string of hex digits.
    #[error("the authkey is not valid hex")]
    NotHex,
    /// A key file that could not be read or holds no hex key.
    #[error("the key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why it gave no key.
        reason: String,
    },
}

impl AuthKey {
    /// A key from raw bytes (any length but zero).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, AuthKeyError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(AuthKeyError::Empty);
        }
        Ok(AuthKey(bytes))
    }

    /// A key from hex digits, as `MANAGER_AUTHKEY` carries it. Surrounding whitespace is
    /// ignored, so a key file may end with a newline.
    pub fn from_hex(hex: &str) -> Result<Self, AuthKeyError> {
        let hex = hex.trim().as_bytes();
        if !hex.len().is_multiple_of(2) {
            return Err(AuthKeyError::NotHex);
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(AuthKeyError::NotHex),
        };
        let bytes = hex
            .chunks_exact(2)
            .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
            .collect::<Result<Vec<u8>, _>>()?;
        AuthKey::new(bytes)
    }

    /// Whether the raw key is itself hex text (an even number of hex digits, perhaps
    /// with a trailing newline) of a usual key's length (16 bytes or more once decoded):
    /// likely a hex key passed as raw bytes instead of through [`AuthKey::from_hex`].
    pub fn looks_like_hex_text(&self) -> bool {
        let text = self.0.trim_ascii();
        text.len() >= 32 && text.len().is_multiple_of(2) && text.iter().all(u8::is_ascii_hexdigit)
    }

    /// The key as lowercase hex.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for AuthKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey(<{} bytes, redacted>)", self.0.len())
    }
}

impl Drop for AuthKey {
    fn drop(&mut self) {
        // Do not leave the secret in freed memory (zeroize's writes are not optimized
        // away).
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_is_recognised() {
        let hex = AuthKey::new([7u8; 32]).unwrap().to_hex();
        assert!(AuthKey::new(format!("{hex}\n")).unwrap().looks_like_hex_text());
        assert!(!AuthKey::new([7u8; 32]).unwrap().looks_like_hex_text());
        assert!(!AuthKey::new("deadbeef").unwrap().looks_like_hex_text());
    }

    #[test]
    fn hex_round_trip_and_refusals() {
        let k = AuthKey::from_hex(" DEADbeef\n").unwrap();
        assert_eq!(k.as_bytes(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(k.to_hex(), "deadbeef");
        assert_eq!(AuthKey::from_hex(""), Err(AuthKeyError::Empty));
        assert_eq!(AuthKey::from_hex("abc"), Err(AuthKeyError::NotHex));
        assert_eq!(AuthKey::from_hex("zz"), Err(AuthKeyError::NotHex));
        assert!(!format!("{k:?}").contains("de"));
    }
}
