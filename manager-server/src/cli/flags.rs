//! The checks of the flags that take a number, a duration or a level. Each is a clap
//! `value_parser`, so a bad value is a clap error: it names the flag and the value, says
//! what is accepted, and exits with code 2 before the server does anything.

use std::path::PathBuf;
use std::time::Duration;

/// The longest duration a flag takes: an hour. A longer handshake deadline or shutdown
/// grace is a typo, not a setting.
const MAX_SECONDS: f64 = 3600.0;

/// A duration in seconds: finite, above zero, at most [`MAX_SECONDS`]; fractions allowed.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let accepted = "expected seconds above 0 and at most 3600, e.g. 10 or 0.5";
    let secs: f64 = text.trim().parse().map_err(|_| format!("not a number of seconds ({accepted})"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_SECONDS {
        return Err(format!("out of range ({accepted})"));
    }
    // Positive and finite, so at least a nanosecond once rounded up.
    Ok(Duration::from_secs_f64(secs).max(Duration::from_nanos(1)))
}

/// `--token-lease`: whole seconds, 1 to a day.
pub fn lease(text: &str) -> Result<Duration, String> {
    let accepted = "expected a whole number of seconds from 1 to 86400";
    let secs: u64 = text.trim().parse().map_err(|_| format!("not a whole number ({accepted})"))?;
    if !(1..=86_400).contains(&secs) {
        return Err(format!("out of range ({accepted})"));
    }
    Ok(Duration::from_secs(secs))
}

/// A count from 1 to `max`, or the reason it is not one.
fn count(text: &str, min: usize, max: usize) -> Result<usize, String> {
    let accepted = format!("expected a whole number from {min} to {max}");
    let n: usize = text.trim().parse().map_err(|_| format!("not a whole number ({accepted})"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("out of range ({accepted})"));
    }
    Ok(n)
}

/// `--max-connections`, `--max-in-flight`: at least 1 (0 would refuse everything).
pub fn positive(text: &str) -> Result<usize, String> {
    count(text, 1, u32::MAX as usize)
}

/// `--max-frame-size`: 1 KiB (a handshake and a small call must fit) to the largest
/// length a frame's 4-byte header can carry.
pub fn frame_size(text: &str) -> Result<usize, String> {
    count(text, 1024, u32::MAX as usize)
}

/// `--max-request-memory`: at least 1 KiB.
pub fn memory(text: &str) -> Result<usize, String> {
    count(text, 1024, usize::MAX)
}

/// `--max-shared-memory`: a whole number of bytes, 0 (no blocks) or more.
pub fn shared_memory(text: &str) -> Result<u64, String> {
    let accepted = "expected a whole number of bytes, 0 (no shared memory blocks) or more, e.g. 1073741824";
    text.trim().parse().map_err(|_| format!("not a whole number of bytes ({accepted})"))
}

/// `--tls-cert`, `--tls-client-ca`: a readable PEM file holding at least one
/// certificate.
pub fn pem_certificates(text: &str) -> Result<PathBuf, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(text).map_err(|e| format!("cannot read it: {e}"))?;
    let certs =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| format!("bad PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    Ok(PathBuf::from(text))
}

/// `--tls-key`: a readable PEM file holding a private key (the error never quotes it).
pub fn pem_key(text: &str) -> Result<PathBuf, String> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(text).map_err(|e| format!("cannot read it: {e}"))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| "no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".to_owned())?;
    Ok(PathBuf::from(text))
}

/// The levels `--log-level` accepts.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `--log-level`: one of [`LEVELS`] (any case), nothing else — an unknown word must not
/// silently turn logging off.
pub fn level(text: &str) -> Result<String, String> {
    let lower = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(format!("not a log level (expected one of {})", LEVELS.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_finite_positive_and_bounded() {
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["inf", "-inf", "nan", "NaN", "-1", "0", "3601", "1e300", "ten", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_and_levels() {
        assert_eq!(positive("7"), Ok(7));
        assert!(positive("0").is_err() && positive("-1").is_err() && positive("x").is_err());
        assert!(frame_size("0").is_err() && frame_size("1023").is_err());
        assert_eq!(frame_size("1024"), Ok(1024));
        assert_eq!(level("WARN"), Ok("warn".into()));
        assert!(level("verbose").is_err());
        assert!(lease("0").is_err() && lease("86401").is_err());
        assert_eq!(shared_memory("0"), Ok(0));
        assert!(shared_memory("-1").is_err() && shared_memory("1G").is_err());
    }
}
