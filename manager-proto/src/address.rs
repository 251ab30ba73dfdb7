//! Where a manager listens: `tcp://host:port` or `unix:/path`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A manager's address.
///
/// ```
/// use manager_proto::Address;
/// let a: Address = "tcp://127.0.0.1:5000".parse().unwrap();
/// assert_eq!(a.to_string(), "tcp://127.0.0.1:5000");
/// let u: Address = "unix:/tmp/m.sock".parse().unwrap();
/// assert_eq!(u, Address::Unix("/tmp/m.sock".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// TCP, as `host:port` (a name or an IP literal; IPv6 in brackets).
    Tcp(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
}

/// An address that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid manager address {input:?}: {reason} (expected tcp://HOST:PORT or unix:/PATH)")]
pub struct AddressError {
    input: String,
    reason: &'static str,
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressError { input: s.to_owned(), reason };
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = rest.rsplit_once(':').ok_or(err("no port"))?;
            if host.is_empty() {
                return Err(err("no host"));
            }
            port.parse::<u16>().map_err(|_| err("bad port"))?;
            Ok(Address::Tcp(rest.to_owned()))
        } else if let Some(rest) = s.strip_prefix("unix:") {
            // Accept unix:/p, unix://p and unix:///p alike.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(err("empty path"));
            }
            Ok(Address::Unix(PathBuf::from(path)))
        } else {
            Err(err("unknown scheme"))
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(hostport) => write!(f, "tcp://{hostport}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["tcp://localhost:1", "tcp://[::1]:80", "unix:/a/b.sock"] {
            assert_eq!(s.parse::<Address>().unwrap().to_string(), s);
        }
        assert_eq!("unix:///x".parse::<Address>().unwrap(), Address::Unix("/x".into()));
        for bad in ["", "tcp://nohost", "tcp://:1", "tcp://h:99999", "http://x:1", "unix:"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }
}
