//! [`SharedMemory`]'s safe byte access (the type, and its two `unsafe` in-place
//! views, are in `region.rs`, with the rest of the code that touches the mapping).

use super::error::ShmError;
pub use super::region::SharedMemory;

impl SharedMemory {
    /// The block's size in bytes.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Always `false`: a block has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn out_of_bounds(&self, offset: usize, len: usize) -> ShmError {
        ShmError::OutOfBounds { object: self.object.to_string(), offset, len, size: self.len() }
    }

    /// Copies `data` into the block at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), ShmError> {
        if self.region.write(offset, data) { Ok(()) } else { Err(self.out_of_bounds(offset, data.len())) }
    }

    /// Copies `out.len()` bytes from the block at `offset` into `out`.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), ShmError> {
        if self.region.read(offset, out) { Ok(()) } else { Err(self.out_of_bounds(offset, out.len())) }
    }

    /// A copy of the whole block.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len()];
        self.region.read(0, &mut out);
        out
    }
}
