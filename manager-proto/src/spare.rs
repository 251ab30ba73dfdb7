//! One spare large buffer per thread, so moving large values does not allocate — and
//! fault in — fresh megabytes for every message.
//!
//! A receive buffer handed over with a large reply comes back here when the reply is
//! dropped, and the next large frame is read into it; a large argument comes back once
//! it is written. glibc gives freed megabytes back to the kernel, and every page of a
//! fresh one then costs a page fault when first written: moving 1 MiB values over TCP,
//! those faults took more time than the copies.
//!
//! Only buffers between [`MIN`] and [`MAX`] bytes of capacity are kept, one per thread,
//! so a thread holds at most [`MAX`] bytes it does not use.

use std::cell::RefCell;

/// Smaller buffers are not worth keeping: the allocator recycles them well.
pub const MIN: usize = 64 * 1024;

/// Larger buffers are not kept: a rare huge value must not pin its memory.
pub const MAX: usize = 8 * 1024 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `buf` as this thread's spare if it is the right size and larger than the
/// spare already kept; otherwise drops it.
pub fn give(mut buf: Vec<u8>) {
    let cap = buf.capacity();
    if !(MIN..=MAX).contains(&cap) {
        return;
    }
    buf.clear();
    // A thread being torn down has no spare to keep.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut spare) = s.try_borrow_mut()
            && spare.capacity() < cap
        {
            *spare = buf;
        }
    });
}

/// This thread's spare, if it has room for `len` bytes: an empty buffer; `None` (the
/// spare stays) otherwise.
pub fn take(len: usize) -> Option<Vec<u8>> {
    SPARE
        .try_with(|s| {
            let mut spare = s.try_borrow_mut().ok()?;
            (spare.capacity() >= len && len > 0).then(|| std::mem::take(&mut *spare))
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_mid_sized_buffer_and_hands_it_out_when_it_fits() {
        give(Vec::with_capacity(100));
        assert!(take(10).is_none(), "a small buffer is not kept");
        let mut big = Vec::with_capacity(MIN * 2);
        big.extend_from_slice(&[1, 2, 3]);
        let ptr = big.as_ptr();
        give(big);
        assert!(take(MIN * 4).is_none(), "too small for this");
        let back = take(MIN).unwrap();
        assert!(back.is_empty());
        assert_eq!(back.as_ptr(), ptr, "the same allocation comes back");
        assert!(take(1).is_none(), "and it is gone");
        give(Vec::with_capacity(MAX + 1));
        assert!(take(1).is_none(), "a huge buffer is not kept");
    }
}
