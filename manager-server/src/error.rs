//! Why a server could not start or run.

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not bind.
    #[error("could not listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Bad configuration (an empty key, a name bound twice).
    #[error("configuration: {0}")]
    Config(String),
    /// The child server process failed.
    #[error("child server: {0}")]
    Child(String),
    /// Another I/O error.
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
}
