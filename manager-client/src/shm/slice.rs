//! [`SharedSlice`]: a block viewed as a slice of plain-data values (`T: Pod`).

use bytemuck::Pod;
use std::marker::PhantomData;

use super::error::ShmError;
use super::memory::SharedMemory;

/// A shared memory block (or part of one) viewed as `[T]` for a plain-data `T`
/// (`bytemuck::Pod`: every bit pattern is a value, no padding, no pointers): made by
/// [`SharedMemory::slice`] or [`SharedMemory::slice_at`]. Element access copies, like
/// [`SharedMemory`]'s byte access, and is bounds-checked; the view keeps the mapping
/// alive.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = manager_server::Server::builder().start().await?;
/// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
/// let block = client.shared_memory(8 * 1000).await?;
/// let xs = block.map().await?.slice::<f64>()?; // 1000 f64s
/// xs.set(3, 2.5)?;
/// xs.copy_from_slice(10, &[1.0, 2.0, 3.0])?;
/// assert_eq!((xs.len(), xs.get(3)?, xs.get(11)?), (1000, 2.5, 2.0));
/// assert!(xs.get(1000).is_err());
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedSlice<T> {
    /// The mapping (held alive by the view).
    memory: SharedMemory,
    /// Where the view starts in the block, in bytes (a multiple of `T`'s alignment).
    start: usize,
    /// Its length in elements.
    len: usize,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedSlice<T> {
    fn clone(&self) -> Self {
        SharedSlice { memory: self.memory.clone(), start: self.start, len: self.len, _type: PhantomData }
    }
}

impl SharedMemory {
    /// The whole block as `[T]`: its size must be a whole number of `T`s.
    pub fn slice<T: Pod>(&self) -> Result<SharedSlice<T>, ShmError> {
        let size = std::mem::size_of::<T>();
        if size != 0 && !self.len().is_multiple_of(size) {
            return Err(self.bad_view::<T>(format!(
                "its {} bytes are not a whole number of {size}-byte elements; use slice_at for a part",
                self.len()
            )));
        }
        self.slice_at(0, self.len().checked_div(size).unwrap_or(0))
    }

    /// `len` `T`s starting `byte_offset` bytes into the block (a multiple of `T`'s
    /// alignment).
    pub fn slice_at<T: Pod>(&self, byte_offset: usize, len: usize) -> Result<SharedSlice<T>, ShmError> {
        let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
        if size == 0 {
            return Err(self.bad_view::<T>("a zero-sized type has no bytes to share".into()));
        }
        // The mapping starts on a page, so an offset aligned for `T` is an aligned address.
        if !(self.region.as_ptr() as usize).wrapping_add(byte_offset).is_multiple_of(align) {
            return Err(self.bad_view::<T>(format!("offset {byte_offset} is not a multiple of its alignment {align}")));
        }
        let bytes = len.checked_mul(size);
        if bytes.and_then(|b| b.checked_add(byte_offset)).is_none_or(|end| end > self.len()) {
            return Err(self.out_of_bounds(byte_offset, bytes.unwrap_or(usize::MAX)));
        }
        Ok(SharedSlice { memory: self.clone(), start: byte_offset, len, _type: PhantomData })
    }

    fn bad_view<T>(&self, reason: String) -> ShmError {
        ShmError::BadView { object: self.object.to_string(), type_name: std::any::type_name::<T>(), reason }
    }
}

impl<T: Pod> SharedSlice<T> {
    /// Its length in elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The byte offset of elements `index..index+count`, if they are all inside.
    fn at(&self, index: usize, count: usize) -> Result<usize, ShmError> {
        match index.checked_add(count) {
            Some(end) if end <= self.len => Ok(self.start + index * std::mem::size_of::<T>()),
            _ => Err(ShmError::IndexOutOfRange {
                index: index.saturating_add(count.saturating_sub(1)),
                len: self.len,
                what: "a SharedSlice",
            }),
        }
    }

    /// Element `index` (a copy).
    pub fn get(&self, index: usize) -> Result<T, ShmError> {
        let mut value = T::zeroed();
        self.copy_to_slice(index, std::slice::from_mut(&mut value))?;
        Ok(value)
    }

    /// Sets element `index`.
    pub fn set(&self, index: usize, value: T) -> Result<(), ShmError> {
        self.copy_from_slice(index, std::slice::from_ref(&value))
    }

    /// Copies `values` into elements `index..index+values.len()`.
    pub fn copy_from_slice(&self, index: usize, values: &[T]) -> Result<(), ShmError> {
        let at = self.at(index, values.len())?;
        self.memory.write(at, bytemuck::cast_slice(values))
    }

    /// Copies elements `index..index+out.len()` into `out`.
    pub fn copy_to_slice(&self, index: usize, out: &mut [T]) -> Result<(), ShmError> {
        let at = self.at(index, out.len())?;
        self.memory.read(at, bytemuck::cast_slice_mut(out))
    }

    /// A copy of every element.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zeroed(); self.len];
        // In range by construction.
        let _ = self.copy_to_slice(0, &mut out);
        out
    }

    /// The mapped block this views.
    pub fn memory(&self) -> &SharedMemory {
        &self.memory
    }
}
