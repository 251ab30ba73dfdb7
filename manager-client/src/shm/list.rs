//! [`ShareableList`]: Python's `ShareableList` — a fixed number of slots of a fixed
//! capacity in a block, each holding one encoded value — with reads that never tear.
//!
//! Layout (little-endian), all an attaching process needs:
//! - header, 32 bytes: magic `RMSHLIST`, version `1` (u32), 4 reserved bytes, the
//!   number of slots (u64), each slot's capacity in bytes (u64);
//! - then each slot, 8-aligned: a sequence number (u32), the value's encoded length
//!   (u32), its capacity of bytes, padded to 8.
//!
//! Each slot is a seqlock: a writer makes the sequence odd (compare-and-swap, so
//! writers exclude each other), writes, then makes it even; a reader retries until it
//! read the same even number before and after. The bytes are atomics, so concurrent
//! access is defined behaviour at every step. A writer killed mid-write leaves its slot
//! odd: after [`ABANDONED`] a reader reports it, and a writer takes the slot over.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use super::error::ShmError;
use super::memory::SharedMemory;

const MAGIC: [u8; 8] = *b"RMSHLIST";
const VERSION: u32 = 1;
const HEADER: usize = 32;
/// How long a slot may stay half-written before its writer is taken for dead. A live
/// writer holds a slot for the microseconds of a copy; a second is far beyond any
/// scheduling delay yet short enough for a reader to give up promptly.
pub const ABANDONED: Duration = Duration::from_secs(1);

/// A fixed-length list of `T`s in a shared memory block, readable and writable by every
/// process that maps the block. Each slot holds one value's encoding (postcard) up to
/// the slot's capacity, chosen when the list is made (by default the largest initial
/// value's encoding); a larger value is refused ([`ShmError::SlotOverflow`]). Reads
/// never see a half-written value.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = manager_server::Server::builder().start().await?;
/// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
/// let (block, list) = client.shareable_list(&["howdy".to_string(), "hi".into()]).await?;
/// list.set(1, &"hello".to_string())?;
/// assert!(list.set(0, &"a much longer greeting".to_string()).is_err()); // exceeds the slot
/// // Another process: `block.map().await?.list::<String>()?` (the block's proxy passed on).
/// let again = block.map().await?.list::<String>()?;
/// assert_eq!(again.to_vec()?, ["howdy", "hello"]);
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ShareableList<T> {
    memory: SharedMemory,
    /// The number of slots.
    len: usize,
    /// Each slot's capacity in bytes.
    slot: usize,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for ShareableList<T> {
    fn clone(&self) -> Self {
        ShareableList { memory: self.memory.clone(), len: self.len, slot: self.slot, _type: PhantomData }
    }
}

/// A slot's stride: its sequence, its length, its capacity padded to 8.
fn stride(slot: usize) -> Option<usize> {
    slot.checked_add(7).map(|s| s / 8 * 8)?.checked_add(8)
}

/// The bytes a list of `len` slots of `slot` bytes takes.
fn layout(len: usize, slot: usize) -> Option<usize> {
    stride(slot)?.checked_mul(len)?.checked_add(HEADER)
}

fn encode<T: Serialize>(index: usize, value: &T) -> Result<Vec<u8>, ShmError> {
    manager_proto::postcard::to_allocvec(value)
        .map_err(|e| ShmError::Codec { index, reason: format!("cannot encode: {e}") })
}

impl<T: Serialize + DeserializeOwned> ShareableList<T> {
    /// The block size a list of `values` needs (each slot `slot` bytes, or by default
    /// the largest value's encoding).
    pub fn size_for(values: &[T], slot: Option<usize>) -> Result<usize, ShmError> {
        let (_, slot) = Self::encodings(values, slot)?;
        layout(values.len(), slot).ok_or(ShmError::TooSmall {
            object: "(none yet)".into(),
            size: 0,
            what: "the ShareableList (more bytes than an address space holds)",
            needed: usize::MAX,
        })
    }

    fn encodings(values: &[T], slot: Option<usize>) -> Result<(Vec<Vec<u8>>, usize), ShmError> {
        let encoded = values.iter().enumerate().map(|(i, v)| encode(i, v)).collect::<Result<Vec<_>, _>>()?;
        let largest = encoded.iter().map(Vec::len).max().unwrap_or(0);
        let slot = slot.unwrap_or(largest).min(u32::MAX as usize);
        if let Some((index, e)) = encoded.iter().enumerate().find(|(_, e)| e.len() > slot) {
            return Err(ShmError::SlotOverflow { index, needed: e.len(), capacity: slot });
        }
        Ok((encoded, slot))
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no slots.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each slot's capacity in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot
    }

    /// The mapped block it lives in.
    pub fn memory(&self) -> &SharedMemory {
        &self.memory
    }

    fn slot_at(&self, index: usize) -> Result<usize, ShmError> {
        if index >= self.len {
            return Err(ShmError::IndexOutOfRange { index, len: self.len, what: "a ShareableList" });
        }
        // In the block: checked when the list was made or attached.
        Ok(HEADER + index * stride(self.slot).unwrap_or(0))
    }

    fn sequence(&self, at: usize) -> &AtomicU32 {
        static NEVER: AtomicU32 = AtomicU32::new(0);
        // Aligned and in bounds by the layout's check; `NEVER` is unreachable.
        self.memory.region.atomic_u32(at).unwrap_or(&NEVER)
    }

    /// Value `index` (a consistent copy, even while others write it).
    pub fn get(&self, index: usize) -> Result<T, ShmError> {
        let at = self.slot_at(index)?;
        let (seq, len_word) = (self.sequence(at), self.memory.region.atomic_u32(at + 4));
        let bytes = self.memory.region.atomic_bytes(at + 8, self.slot).unwrap_or_default();
        let started = Instant::now();
        let mut buf = vec![0u8; self.slot];
        let mut spins = 0u32;
        loop {
            let before = seq.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                let len = len_word.map_or(0, |w| w.load(Ordering::Relaxed)) as usize;
                let n = len.min(self.slot);
                for (out, b) in buf.iter_mut().zip(bytes).take(n) {
                    *out = b.load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    if len > self.slot {
                        return Err(ShmError::NotAList {
                            object: self.memory.object.to_string(),
                            reason: format!("slot {index} says it holds {len} bytes, more than its {}", self.slot),
                        });
                    }
                    return manager_proto::postcard::from_bytes(&buf[..n])
                        .map_err(|e| ShmError::Codec { index, reason: format!("does not decode: {e}") });
                }
            }
            wait(&mut spins);
            if started.elapsed() > ABANDONED {
                return Err(ShmError::SlotAbandoned { index, waited: ABANDONED });
            }
        }
    }

    /// Sets value `index`; fails if its encoding exceeds the slot.
    pub fn set(&self, index: usize, value: &T) -> Result<(), ShmError> {
        let encoded = encode(index, value)?;
        if encoded.len() > self.slot {
            return Err(ShmError::SlotOverflow { index, needed: encoded.len(), capacity: self.slot });
        }
        let at = self.slot_at(index)?;
        self.write_slot(at, &encoded);
        Ok(())
    }

    /// Writes a slot under its seqlock (`encoded` fits: checked by the caller).
    fn write_slot(&self, at: usize, encoded: &[u8]) {
        let seq = self.sequence(at);
        let mut spins = 0u32;
        let started = Instant::now();
        let mut current = seq.load(Ordering::Relaxed);
        let mine = loop {
            // Even: free. Odd past the deadline: its writer died; take it over (odd + 2
            // stays odd, so readers keep waiting).
            let free = current.is_multiple_of(2);
            if free || started.elapsed() > ABANDONED {
                let claim = current.wrapping_add(if free { 1 } else { 2 });
                match seq.compare_exchange(current, claim, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => break claim,
                    Err(now) => {
                        current = now;
                        continue;
                    }
                }
            }
            wait(&mut spins);
            current = seq.load(Ordering::Relaxed);
        };
        fence(Ordering::Release);
        if let Some(w) = self.memory.region.atomic_u32(at + 4) {
            w.store(encoded.len() as u32, Ordering::Relaxed);
        }
        for (b, v) in self.memory.region.atomic_bytes(at + 8, encoded.len()).unwrap_or_default().iter().zip(encoded) {
            b.store(*v, Ordering::Relaxed);
        }
        // A writer taken for dead (stalled past the deadline) finds its claim gone and
        // leaves the slot to the one that took it.
        let _ = seq.compare_exchange(mine, mine.wrapping_add(1), Ordering::Release, Ordering::Relaxed);
    }

    /// A copy of every value.
    pub fn to_vec(&self) -> Result<Vec<T>, ShmError> {
        (0..self.len).map(|i| self.get(i)).collect()
    }
}

/// Spins briefly, then yields the thread.
fn wait(spins: &mut u32) {
    *spins = spins.saturating_add(1);
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

impl SharedMemory {
    /// Lays out a [`ShareableList`] of `values` in this block (each slot `slot` bytes,
    /// or by default the largest value's encoding). The block must be at least
    /// [`ShareableList::size_for`] bytes; its earlier contents are overwritten.
    pub fn create_list<T: Serialize + DeserializeOwned>(
        &self,
        values: &[T],
        slot: Option<usize>,
    ) -> Result<ShareableList<T>, ShmError> {
        let (encoded, slot) = ShareableList::<T>::encodings(values, slot)?;
        let needed = layout(values.len(), slot).unwrap_or(usize::MAX);
        if needed > self.len() {
            return Err(ShmError::TooSmall {
                object: self.object.to_string(),
                size: self.len(),
                what: "the ShareableList",
                needed,
            });
        }
        let list = ShareableList { memory: self.clone(), len: values.len(), slot, _type: PhantomData };
        for (i, e) in encoded.iter().enumerate() {
            let at = HEADER + i * stride(slot).unwrap_or(0);
            self.write(at, &[0u8; 4])?;
            list.write_slot(at, e);
        }
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        header[16..24].copy_from_slice(&(values.len() as u64).to_le_bytes());
        header[24..32].copy_from_slice(&(slot as u64).to_le_bytes());
        self.write(0, &header)?;
        Ok(list)
    }

    /// The [`ShareableList`] this block holds (made by [`create_list`](Self::create_list)
    /// in any process); its header is checked, so another block gives an error.
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ShareableList<T>, ShmError> {
        let bad = |reason: String| ShmError::NotAList { object: self.object.to_string(), reason };
        let mut header = [0u8; HEADER];
        self.read(0, &mut header).map_err(|_| bad(format!("it has {} bytes, less than a header", self.len())))?;
        let word =
            |r: std::ops::Range<usize>| header.get(r).map(|b| b.iter().rev().fold(0u64, |a, x| a << 8 | *x as u64));
        if header[..8] != MAGIC {
            return Err(bad("no ShareableList header at its start".into()));
        }
        if word(8..12) != Some(u64::from(VERSION)) {
            return Err(bad(format!("layout version {:?}, this client reads {VERSION}", word(8..12))));
        }
        let (len, slot) = (word(16..24).unwrap_or(0), word(24..32).unwrap_or(0));
        let fits = usize::try_from(len)
            .ok()
            .zip(usize::try_from(slot).ok())
            .filter(|(len, slot)| *slot <= u32::MAX as usize && layout(*len, *slot).is_some_and(|n| n <= self.len()));
        let (len, slot) = fits.ok_or_else(|| {
            bad(format!("its header's {len} slots of {slot} bytes do not fit in its {} bytes", self.len()))
        })?;
        Ok(ShareableList { memory: self.clone(), len, slot, _type: PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manager_proto::ObjectId;

    /// A block mapped straight from a memfd of this process (no server needed).
    fn block(size: usize) -> SharedMemory {
        use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
        let fd = memfd_create("list-test", MemfdFlags::CLOEXEC).unwrap();
        ftruncate(&fd, size as u64).unwrap();
        let region = super::super::region::Region::map(rustix::fd::AsFd::as_fd(&fd), size, false).unwrap();
        SharedMemory::new(region, ObjectId(1))
    }

    /// A reader racing a writer that flips a slot between two values of different
    /// lengths only ever sees one of them, whole.
    #[test]
    fn reads_never_tear() {
        let memory = block(4096);
        let (a, b) = ("a".repeat(40), "b".repeat(7));
        let list = memory.create_list(std::slice::from_ref(&a), Some(48)).unwrap();
        let writer = {
            let (list, a, b) = (list.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    list.set(0, if i % 2 == 0 { &b } else { &a }).unwrap();
                }
            })
        };
        let mut seen = (0, 0);
        while !writer.is_finished() {
            let v = list.get(0).unwrap();
            assert!(v == a || v == b, "torn: {v:?}");
            if v == a { seen.0 += 1 } else { seen.1 += 1 }
        }
        writer.join().unwrap();
        assert!(seen.0 + seen.1 > 0);
    }

    /// A header another process scribbled on is an error, never a wild read.
    #[test]
    fn a_bad_header_is_refused() {
        let memory = block(256);
        memory.create_list(&[1u32, 2, 3], None).unwrap();
        assert_eq!(memory.list::<u32>().unwrap().to_vec().unwrap(), [1, 2, 3]);
        memory.write(16, &u64::MAX.to_le_bytes()).unwrap(); // the length
        let e = memory.list::<u32>().unwrap_err().to_string();
        assert!(e.contains("do not fit in its 256 bytes"), "{e}");
        memory.write(0, b"garbage!").unwrap();
        assert!(memory.list::<u32>().unwrap_err().to_string().contains("no ShareableList header"));
        let e = memory.create_list(&vec![0u64; 100], None).unwrap_err().to_string();
        assert!(e.contains("has 256 bytes; the ShareableList needs"), "{e}");
    }

    /// A writer that died mid-write leaves its slot odd: a reader says so after
    /// `ABANDONED`, and the next writer takes the slot over.
    #[test]
    fn an_abandoned_slot_is_reported_then_repaired() {
        let memory = block(256);
        let list = memory.create_list(&[5u32, 6], None).unwrap();
        memory.write(HEADER + stride(list.slot_size()).unwrap(), &1u32.to_ne_bytes()).unwrap(); // slot 1: odd
        assert_eq!(list.get(0).unwrap(), 5);
        assert!(matches!(list.get(1), Err(ShmError::SlotAbandoned { index: 1, .. })));
        list.set(1, &7).unwrap();
        assert_eq!(list.to_vec().unwrap(), [5, 7]);
    }
}
