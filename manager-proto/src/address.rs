//! Where a manager listens: `tcp://host:port`, `tls://host:port` or `unix:/path`.

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
/// let t: Address = "tls://db.example:5000".parse().unwrap();
/// assert_eq!(t, Address::Tls("db.example:5000".into()));
/// assert_eq!(t.tls_server_name(), Some("db.example"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// TCP, as `host:port` (a name or an IP literal; IPv6 in brackets).
    Tcp(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
    /// TCP carrying TLS, as `host:port`: the host part is the name the server's
    /// certificate must be valid for.
    Tls(String),
}

impl Address {
    /// For a `tls://` address, the name the server's certificate is checked against:
    /// the host part, without an IPv6 literal's brackets.
    pub fn tls_server_name(&self) -> Option<&str> {
        match self {
            Address::Tls(hostport) => {
                let host = hostport.rsplit_once(':').map_or(hostport.as_str(), |(host, _)| host);
                Some(host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host))
            }
            Address::Tcp(_) | Address::Unix(_) => None,
        }
    }
}

/// An address that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid manager address {input:?}: {reason} (expected tcp://HOST:PORT, tls://HOST:PORT or unix:/PATH)")]
pub struct AddressError {
    input: String,
    reason: &'static str,
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressError { input: s.to_owned(), reason };
        let host_port = |rest: &str| {
            let (host, port) = rest.rsplit_once(':').ok_or(err("no port"))?;
            if host.is_empty() {
                return Err(err("no host"));
            }
            port.parse::<u16>().map_err(|_| err("bad port"))?;
            Ok(rest.to_owned())
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(Address::Tcp(host_port(rest)?))
        } else if let Some(rest) = s.strip_prefix("tls://") {
            Ok(Address::Tls(host_port(rest)?))
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
            Address::Tls(hostport) => write!(f, "tls://{hostport}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["tcp://localhost:1", "tcp://[::1]:80", "unix:/a/b.sock", "tls://h.example:443", "tls://[::1]:9"] {
            assert_eq!(s.parse::<Address>().unwrap().to_string(), s);
        }
        assert_eq!("unix:///x".parse::<Address>().unwrap(), Address::Unix("/x".into()));
        for bad in ["", "tcp://nohost", "tcp://:1", "tcp://h:99999", "http://x:1", "unix:", "tls://nohost", "tls://:1"]
        {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_server_names() {
        let name = |s: &str| s.parse::<Address>().unwrap().tls_server_name().map(str::to_owned);
        assert_eq!(name("tls://localhost:1").as_deref(), Some("localhost"));
        assert_eq!(name("tls://[::1]:9").as_deref(), Some("::1"));
        assert_eq!(name("tls://10.0.0.1:9").as_deref(), Some("10.0.0.1"));
        assert_eq!(name("tcp://localhost:1"), None);
    }
}
