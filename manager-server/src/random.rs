//! Fresh random bytes from the operating system (keys, nonces, ids).

use crate::error::ServerError;

/// `N` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
    Ok(bytes)
}
