//! The generated code's glue for stream methods (`#[shared]` methods returning
//! `impl Iterator` or `impl Stream`), re-exported in `__private::v1`: on the server,
//! the returned iterator or stream as a producer; on the client, the proxy method's
//! stream. Chosen by autoref specialization, as `Wire` is: for an item type that is not
//! `Serialize + DeserializeOwned` (reported once, by `assert_wire_type`) the unchecked
//! stand-ins compile, and never run.

use crate::proxy::Handle;
use crate::stream::{BoxSource, RawStream, RemoteStream, Stream, iter_source, stream_source};
use crate::{Error, MethodRef, RemoteError, RemoteErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// Names a stream method's item type `T` (and its argument tuple `A`) for the
/// operations below: call as `(&Items::<A, T>::new()).op(..)` with [`ItemsViaSerde`]
/// and [`ItemsUnchecked`] in scope.
#[allow(missing_debug_implementations)]
pub struct Items<A, T>(PhantomData<fn() -> (A, T)>);

impl<A, T> Items<A, T> {
    /// The tag.
    pub const fn new() -> Self {
        Items(PhantomData)
    }
}

impl<A, T> Default for Items<A, T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The stream operations, for arguments and items that cross the wire.
pub trait ItemsViaSerde<A, T> {
    /// The producer of an iterator method's items; `what` names them in an encoding
    /// error.
    fn source_of_iter<I>(&self, iter: I, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        I: Iterator<Item = T> + Send + 'static;
    /// The producer of a `Stream` method's items.
    fn source_of_stream<S>(&self, stream: S, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        S: Stream<Item = T> + Send + 'static;
    /// Opens stream method `id` of `handle`'s object with the argument tuple `args`.
    fn open(&self, handle: &Handle, id: u32, args: &A, what_args: &str, what_items: &'static str) -> RemoteStream<T>;
}

impl<A: Serialize, T: Serialize + DeserializeOwned> ItemsViaSerde<A, T> for Items<A, T> {
    fn source_of_iter<I>(&self, iter: I, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        I: Iterator<Item = T> + Send + 'static,
    {
        Ok(iter_source(iter, what))
    }
    fn source_of_stream<S>(&self, stream: S, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Ok(stream_source(stream, what))
    }
    fn open(&self, handle: &Handle, id: u32, args: &A, what_args: &str, what_items: &'static str) -> RemoteStream<T> {
        RemoteStream::new(handle.open_with(MethodRef::Id(id), args, what_args), what_items)
    }
}

/// The stand-ins for types that do not cross the wire: a program holding one does not
/// compile, so they never run; each fails as it would at run time.
pub trait ItemsUnchecked<A, T> {
    /// Fails.
    fn source_of_iter<I>(&self, iter: I, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        I: Iterator<Item = T> + Send + 'static;
    /// Fails.
    fn source_of_stream<S>(&self, stream: S, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        S: Stream<Item = T> + Send + 'static;
    /// Fails.
    fn open(&self, handle: &Handle, id: u32, args: &A, what_args: &str, what_items: &'static str) -> RemoteStream<T>;
}

/// What a stand-in for a type that cannot cross the wire says (see `WireUnchecked`).
pub(crate) fn not_wire<T>(what: &str) -> String {
    format!("{what} (`{}`) cannot cross the wire", std::any::type_name::<T>())
}

impl<A, T> ItemsUnchecked<A, T> for &Items<A, T> {
    fn source_of_iter<I>(&self, _: I, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        I: Iterator<Item = T> + Send + 'static,
    {
        Err(RemoteError::new(RemoteErrorKind::Decode, not_wire::<T>(what)))
    }
    fn source_of_stream<S>(&self, _: S, what: &'static str) -> Result<BoxSource, RemoteError>
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Err(RemoteError::new(RemoteErrorKind::Decode, not_wire::<T>(what)))
    }
    fn open(&self, _: &Handle, _: u32, _: &A, what_args: &str, what_items: &'static str) -> RemoteStream<T> {
        let error = Error::Encode { what: what_args.to_owned(), reason: not_wire::<A>(what_args) };
        RemoteStream::new(RawStream::failed(error), what_items)
    }
}
