//! The generated code's glue for results that hold proxies or `Shared<T>` values (re-
//! exported through `__private`): encoding a result with its proxies' references taken
//! for the caller, and hosting a `Shared<T>`.

use crate::dispatch::{CallResult, Dispatch};
use crate::hosting::current_host;
use crate::proxy::Handle;
use crate::reply::{Reply, decode_exact};
use crate::{Error, RemoteError, RemoteErrorKind, Shared};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// Encodes a method's return value. Each proxy inside gets a reference for the
/// caller, which the caller's decoded proxy owns (see `decode_reply`).
pub fn encode_return<T: Serialize>(value: &T, what: &str) -> CallResult {
    let (reply, collected) = crate::element::encode_collected(value, what)
        .map_err(|e| RemoteError::new(RemoteErrorKind::Decode, e.to_string()))?;
    if !collected.is_empty() {
        let host = current_host().ok_or_else(|| {
            RemoteError::new(RemoteErrorKind::Protocol, format!("{what} holds proxies, and no server call returns it"))
        })?;
        for (server, object) in collected {
            host.adopt(server, object)?;
        }
    }
    Ok(reply)
}

/// Hosts a method's `Shared<T>` result on the server running the call, and encodes
/// a proxy to it (the caller's one reference). Chosen by autoref specialization
/// (`(&Hosted::<T>::new()).host_return(..)` with [`HostViaDispatch`] and
/// [`HostUnchecked`] in scope), so that a `T` that is not `#[shared]` is reported
/// once, by [`assert_shared_type`].
// A marker for autoref specialization; nothing prints it.
#[allow(missing_debug_implementations)]
pub struct Hosted<T>(PhantomData<fn() -> T>);

impl<T> Hosted<T> {
    /// The tag.
    pub const fn new() -> Self {
        Hosted(PhantomData)
    }
}

impl<T> Default for Hosted<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Hosting a `#[shared]` type.
pub trait HostViaDispatch<T> {
    /// Hosts `value`; see [`Hosted`].
    fn host_return(&self, value: Shared<T>, type_name: &str, what: &str) -> CallResult;
}

impl<T: Dispatch> HostViaDispatch<T> for Hosted<T> {
    fn host_return(&self, value: Shared<T>, type_name: &str, what: &str) -> CallResult {
        let host = current_host().ok_or_else(|| {
            RemoteError::new(
                RemoteErrorKind::Protocol,
                format!("{what}: a `Shared<{type_name}>` is hosted by a server call"),
            )
        })?;
        let handle = host.host(T::shared_type_id(), type_name, Box::new(value.into_inner()))?;
        encode_return(&AsToken(&handle), what)
    }
}

/// The stand-in for a type that is not `#[shared]` (never runs: the program does
/// not compile).
pub trait HostUnchecked<T> {
    /// Fails.
    fn host_return(&self, value: Shared<T>, type_name: &str, what: &str) -> CallResult;
}

impl<T> HostUnchecked<T> for &Hosted<T> {
    fn host_return(&self, _: Shared<T>, type_name: &str, what: &str) -> CallResult {
        Err(RemoteError::new(RemoteErrorKind::NotExposed, format!("{what}: `{type_name}` is not #[shared]")))
    }
}

/// A handle, serialized as a proxy is.
struct AsToken<'a>(&'a Handle);

impl Serialize for AsToken<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::element::serialize_handle(self.0, serializer)
    }
}

/// Compile-time check that a `Shared<T>` result is of a `#[shared]` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[shared] type, so a method cannot return it as `Shared<{Self}>`",
    label = "a `Shared<T>` result is hosted on the server as an object of type `T`",
    note = "put #[shared] on an impl block of `{Self}`, and register it on the server"
)]
pub trait SharedType: Dispatch {}

#[diagnostic::do_not_recommend]
impl<T: Dispatch> SharedType for T {}

/// Asserts `T` is a `#[shared]` type (the one error a `Shared<NotShared>` reports).
pub fn assert_shared_type<T: SharedType>() {}

/// Decodes a call's result: its proxies adopting the references the server took
/// for them when the method is `hosted` (see `__private::start`).
pub(crate) fn decode_result<T: DeserializeOwned>(
    handle: &Handle,
    reply: &Reply,
    what: &str,
    hosted: bool,
) -> Result<T, Error> {
    if hosted {
        crate::element::decode_adopting(reply.bytes(), handle.transport(), what)
    } else {
        decode_exact(reply.bytes(), what)
    }
}

/// Decodes the reply of a call to a method returning `Result<T, E>`: a `User`
/// remote error carries the method's own `E`.
pub(crate) fn fallible_reply<T, E>(
    handle: &Handle,
    reply: Result<Reply, Error>,
    what: &str,
    hosted: bool,
) -> Result<Result<T, E>, Error>
where
    T: DeserializeOwned,
    E: DeserializeOwned,
{
    match reply {
        Ok(reply) => decode_result(handle, &reply, what, hosted).map(Ok),
        Err(Error::Remote(e)) if e.kind == RemoteErrorKind::User => {
            decode_exact(&e.detail, &format!("the error of {what}")).map(Err)
        }
        Err(e) => Err(e),
    }
}
