//! One ring with both its ends in one place, and a hostile peer's pen beside them: what
//! the unit tests and the fuzz target (`fuzzing::ring`) drive. Only for tests and
//! fuzzing (a heap segment, no mapping).
//!
//! The ends never leave the testbed (every operation goes through it, by `&mut self`),
//! so the "peer's" scribbles never race the ends' own copies: in one process that would
//! be a data race, where between processes it is only a corrupt ring.

use super::{Consumer, Ends, HeapSegment, Layout, Producer, RingError};
use std::sync::atomic::Ordering;

/// A control word of the ring, for [`Testbed::scribble`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    /// The writer's index.
    Tail,
    /// The reader's index.
    Head,
    /// The reader's sleep mark (the low 32 bits of the value are stored).
    ReaderWaiting,
    /// The writer's sleep mark (the low 32 bits of the value are stored).
    WriterWaiting,
}

/// Ring 0 of a heap segment: the client's producer and the server's consumer.
#[derive(Debug)]
pub struct Testbed {
    /// The client's end: it writes ring 0.
    tx: Producer,
    /// The server's end: it reads ring 0.
    rx: Consumer,
}

impl Testbed {
    /// A fresh segment of rings of `layout`'s capacity.
    pub fn new(layout: Layout) -> Testbed {
        let mut segment = HeapSegment::zeroed(layout.segment_len());
        let made = segment.init(layout).and_then(|()| segment.ends());
        let Ok((client, server)): Result<(Ends, Ends), RingError> = made else {
            unreachable!("a heap segment of the layout's length is a good segment")
        };
        Testbed { tx: client.tx, rx: server.rx }
    }

    /// The capacity of the ring.
    pub fn capacity(&self) -> usize {
        self.tx.ring.capacity()
    }

    /// [`Producer::write`].
    pub fn write(&mut self, src: &[u8]) -> Result<usize, RingError> {
        self.tx.write(src)
    }

    /// [`Producer::write_slices`].
    pub fn write_slices(&mut self, slices: &[&[u8]]) -> Result<usize, RingError> {
        self.tx.write_slices(slices)
    }

    /// [`Producer::space`].
    pub fn space(&mut self) -> Result<usize, RingError> {
        self.tx.space()
    }

    /// [`Producer::prepare_wait`].
    pub fn writer_prepare_wait(&mut self) -> Result<bool, RingError> {
        self.tx.prepare_wait()
    }

    /// [`Producer::take_reader_waiting`].
    pub fn take_reader_waiting(&mut self) -> bool {
        self.tx.take_reader_waiting()
    }

    /// [`Consumer::read_into`].
    pub fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<usize, RingError> {
        self.rx.read_into(buf, max)
    }

    /// [`Consumer::available`].
    pub fn available(&mut self) -> Result<usize, RingError> {
        self.rx.available()
    }

    /// [`Consumer::prepare_wait`].
    pub fn reader_prepare_wait(&mut self) -> Result<bool, RingError> {
        self.rx.prepare_wait()
    }

    /// [`Consumer::take_writer_waiting`].
    pub fn take_writer_waiting(&mut self) -> bool {
        self.rx.take_writer_waiting()
    }

    /// [`Consumer::stop_waiting`].
    pub fn stop_waiting(&mut self) {
        self.rx.stop_waiting()
    }

    /// The peer writes `value` into a control word.
    pub fn scribble(&mut self, word: Word, value: u64) {
        let ring = &self.tx.ring;
        match word {
            Word::Tail => ring.tail().store(value, Ordering::Relaxed),
            Word::Head => ring.head().store(value, Ordering::Relaxed),
            Word::ReaderWaiting => ring.reader_waiting().store(value as u32, Ordering::Relaxed),
            Word::WriterWaiting => ring.writer_waiting().store(value as u32, Ordering::Relaxed),
        }
    }

    /// A control word as the segment holds it now.
    pub fn peek(&self, word: Word) -> u64 {
        let ring = &self.tx.ring;
        match word {
            Word::Tail => ring.tail().load(Ordering::Relaxed),
            Word::Head => ring.head().load(Ordering::Relaxed),
            Word::ReaderWaiting => u64::from(ring.reader_waiting().load(Ordering::Relaxed)),
            Word::WriterWaiting => u64::from(ring.writer_waiting().load(Ordering::Relaxed)),
        }
    }

    /// The peer writes `bytes` into the data from index `at` (modulo the capacity,
    /// wrapping; at most the capacity's worth).
    pub fn scribble_data(&mut self, at: u64, bytes: &[u8]) {
        self.tx.ring.copy_in(at, bytes);
    }
}
