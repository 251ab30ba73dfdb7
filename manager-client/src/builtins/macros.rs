//! The declarations every built-in proxy file uses: `proxy_types!` (a proxy and its
//! blocking twin), `proxy_methods!` (methods written once for both) and `constructors!`
//! (a built-in's constructors on both clients).

/// Declares a built-in proxy and its blocking twin: the structs, `Proxy`,
/// `BlockingProxy`, serde (a proxy stored in a container travels as its token), `Debug`.
macro_rules! proxy_types {
    ($(#[$doc:meta])* $proxy:ident, $blocking:ident, [$($param:ident),*], $type_id:expr) => {
        $(#[$doc])*
        pub struct $proxy<$($param),*> {
            handle: manager_proto::Handle,
            _types: std::marker::PhantomData<fn() -> ($($param,)*)>,
        }

        impl<$($param),*> Clone for $proxy<$($param),*> {
            fn clone(&self) -> Self {
                $proxy { handle: self.handle.clone(), _types: std::marker::PhantomData }
            }
        }

        impl<$($param),*> std::fmt::Debug for $proxy<$($param),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($proxy)).field(&self.handle).finish()
            }
        }

        impl<$($param: 'static),*> manager_proto::Proxy for $proxy<$($param),*> {
            fn shared_type_id() -> &'static str {
                $type_id
            }
            /// The element types, as `std::any::type_name` spells them.
            fn fingerprint() -> std::borrow::Cow<'static, str> {
                let kind = stringify!($proxy).trim_end_matches("Proxy");
                manager_proto::fingerprint::elements(kind, &[$(std::any::type_name::<$param>()),*]).into()
            }
            fn from_handle(handle: manager_proto::Handle) -> Self {
                $proxy { handle, _types: std::marker::PhantomData }
            }
            fn handle(&self) -> &manager_proto::Handle {
                &self.handle
            }
        }

        impl<$($param),*> serde::Serialize for $proxy<$($param),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                manager_proto::element::serialize_handle(&self.handle, s)
            }
        }

        impl<'de, $($param: 'static),*> serde::Deserialize<'de> for $proxy<$($param),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let handle = manager_proto::element::deserialize_handle(d)?;
                if handle.type_id() != $type_id {
                    return Err(<D::Error as serde::de::Error>::custom(format!(
                        "expected a `{}` proxy, found a `{}`", $type_id, handle.type_id()
                    )));
                }
                Ok(<Self as manager_proto::Proxy>::from_handle(handle))
            }
        }

        #[doc = concat!("[`", stringify!($proxy), "`] for code without an async runtime.")]
        pub struct $blocking<$($param),*> {
            inner: $proxy<$($param),*>,
            exec: manager_proto::Executor,
        }

        impl<$($param),*> Clone for $blocking<$($param),*> {
            fn clone(&self) -> Self {
                $blocking { inner: self.inner.clone(), exec: self.exec.clone() }
            }
        }

        impl<$($param),*> std::fmt::Debug for $blocking<$($param),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($blocking)).field(&self.inner.handle).finish()
            }
        }

        impl<$($param: 'static),*> manager_proto::BlockingProxy for $blocking<$($param),*> {
            type Async = $proxy<$($param),*>;
            fn from_async(inner: Self::Async, exec: manager_proto::Executor) -> Self {
                $blocking { inner, exec }
            }
            fn as_async(&self) -> &Self::Async {
                &self.inner
            }
        }

        impl<$($param),*> $proxy<$($param),*> {
            /// The object's token, to hand to another process.
            pub fn token(&self) -> manager_proto::Token {
                self.handle.token()
            }
        }

        impl<$($param),*> $blocking<$($param),*> {
            /// The object's token, to hand to another process.
            pub fn token(&self) -> manager_proto::Token {
                self.inner.handle.token()
            }

            /// The async proxy inside.
            pub fn as_async(&self) -> &$proxy<$($param),*> {
                &self.inner
            }

            /// What drives its calls (and the streams it hands out).
            #[allow(dead_code)]
            pub(super) fn executor(&self) -> &manager_proto::Executor {
                &self.exec
            }
        }
    };
}
pub(crate) use proxy_types;

/// Defines methods once: each becomes an async method of the proxy and a blocking
/// method of its twin that runs it on the blocking client's runtime.
macro_rules! proxy_methods {
    (
        impl[$($gen:tt)*] $proxy:ident<$($targ:ident),*>, $blocking:ident {
            $(
                $(#[$attr:meta])*
                async fn $name:ident $([$($mg:tt)*])? (&$self:ident $(, $arg:ident : $aty:ty)* $(,)?) -> $ret:ty
                    $(where [$($w:tt)*])?
                $body:block
            )*
        }
    ) => {
        impl<$($gen)*> $proxy<$($targ),*> {
            $(
                $(#[$attr])*
                pub async fn $name $(<$($mg)*>)? (&$self $(, $arg: $aty)*) -> Result<$ret, manager_proto::Error>
                    $(where $($w)*)?
                $body
            )*
        }

        impl<$($gen)*> $blocking<$($targ),*> {
            $(
                $(#[$attr])*
                pub fn $name $(<$($mg)*>)? (&$self $(, $arg: $aty)*) -> Result<$ret, manager_proto::Error>
                    $(where $($w)*)?
                {
                    manager_proto::__private::v1::run_call(&$self.exec, $self.inner.$name($($arg),*))
                }
            )*
        }
    };
}
pub(crate) use proxy_methods;

/// Declares built-in constructors once: each becomes an async method of
/// [`Client`](crate::Client) and a blocking one of
/// [`blocking::Client`](crate::blocking::Client) returning the proxy's blocking twin.
macro_rules! constructors {
    ($(
        $(#[$doc:meta])*
        fn $name:ident [$($g:tt)*] (&$self:ident $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty | $blocking:ty $body:block
    )*) => {
        impl crate::Client {
            $(
                $(#[$doc])*
                pub async fn $name<$($g)*>(&$self $(, $arg: $ty)*) -> Result<$ret, manager_proto::Error> $body
            )*
        }

        impl crate::blocking::client::Client {
            $(
                $(#[$doc])*
                pub fn $name<$($g)*>(&$self $(, $arg: $ty)*) -> Result<$blocking, manager_proto::Error> {
                    let proxy = $self.run($self.inner.$name($($arg),*))?;
                    Ok($self.wrap(proxy))
                }
            )*
        }
    };
}
pub(crate) use constructors;
