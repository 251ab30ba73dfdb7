//! What one request may make the server allocate. A peer chooses the numbers in its
//! requests (a count to repeat, a slice's step, how many elements it sends); these
//! bounds keep the memory a request costs proportional to what the server is willing
//! to hold for it, whatever the numbers. Checked before allocating: a request over a
//! bound gets a `LimitExceeded` error naming the method, and nothing changes.

use manager_proto::frame::DEFAULT_MAX_FRAME;

/// Per-request bounds, from the server's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The largest reply (the max frame size): a result that would not fit in one frame
    /// (a snapshot, a slice, `items()`) is refused before it is built.
    pub(crate) max_reply: usize,
    /// The most memory one request may make the server store: the elements a call adds
    /// to an object (`extend`, `update`, `repeat`, a constructor's contents), counted as
    /// their encoded bytes plus the fixed cost of each stored element.
    pub(crate) max_request_memory: usize,
}

impl Limits {
    /// The bounds for frames of `max_frame` bytes; the request memory defaults to twice
    /// that (a full frame of small elements costs several times its size once stored).
    pub(crate) fn new(max_frame: usize, max_request_memory: Option<usize>) -> Limits {
        Limits {
            max_reply: max_frame,
            max_request_memory: max_request_memory.unwrap_or_else(|| max_frame.saturating_mul(2)),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(DEFAULT_MAX_FRAME, None)
    }
}
