//! The types a server can create, by type id.

use manager_proto::dispatch::Dispatch;
use manager_proto::fingerprint::{self, Check};
use manager_proto::{RemoteError, RemoteErrorKind, TypeDescription};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::local::ConnHost;
use crate::object::CallContext;
use crate::object::ServerObject;
use crate::table::Fingerprint;
use crate::user_object::UserObject;
use manager_proto::hosting::{Host, run_in};

/// Builds an object from encoded constructor arguments, for the calling connection.
pub(crate) type Constructor =
    Box<dyn Fn(&[u8], &CallContext) -> Result<Arc<dyn ServerObject>, RemoteError> + Send + Sync>;

/// Makes an object of a value a method returned (`Shared<T>`): `None` if the value is
/// not of the registered type.
type Wrap = Box<dyn Fn(Box<dyn Any + Send>) -> Option<Arc<dyn ServerObject>> + Send + Sync>;

/// One registered type.
pub(crate) struct TypeEntry {
    /// How clients create one.
    construct: Constructor,
    /// How a method's `Shared<T>` result becomes one (`#[shared]` types only).
    wrap: Option<Wrap>,
    /// The exposed method names, for `Describe`.
    methods: Vec<String>,
    /// A `#[shared]` type's interface, which a creating client's must agree with and
    /// every object of the type gets; `None` for the built-ins, whose objects keep the
    /// fingerprint their creator gives (their element types).
    fingerprint: Fingerprint,
}

/// Registered types by type id. Filled by the builder, read-only while serving.
#[derive(Default)]
pub(crate) struct Registry {
    types: HashMap<String, TypeEntry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.types.keys().collect();
        ids.sort();
        f.debug_struct("Registry").field("types", &ids).finish()
    }
}

impl Registry {
    /// Registers a `#[shared]` type (again is harmless).
    pub(crate) fn register<T: Dispatch>(&mut self) {
        let methods = T::methods().iter().map(|m| m.name.to_owned()).collect();
        self.insert(
            T::shared_type_id(),
            methods,
            Box::new(|args, ctx| {
                // Constructor arguments may hold proxies: they decode on a host.
                let value = match ctx.hosting() {
                    Some(hosting) => {
                        let host: Arc<dyn Host> = Arc::new(ConnHost::new(ctx.clone(), Arc::clone(hosting)));
                        run_in(0, Some(&host), || T::construct(args))?
                    }
                    None => T::construct(args)?,
                };
                Ok(Arc::new(UserObject::new(value)) as Arc<dyn ServerObject>)
            }),
        );
        if let Some(entry) = self.types.get_mut(T::shared_type_id()) {
            entry.fingerprint = interface::<T>();
            entry.wrap = Some(Box::new(|value| {
                value.downcast::<T>().ok().map(|v| Arc::new(UserObject::new(*v)) as Arc<dyn ServerObject>)
            }));
        }
    }

    /// Registers a type by its parts (the built-ins use this).
    pub(crate) fn insert(&mut self, type_id: &str, methods: Vec<String>, construct: Constructor) {
        self.types.insert(type_id.to_owned(), TypeEntry { construct, wrap: None, methods, fingerprint: None });
    }

    /// `value`, a method's `Shared<T>` result of type `type_id` (`type_name` in Rust),
    /// as an object of that type, with the fingerprint the type's objects keep.
    pub(crate) fn wrap(
        &self,
        type_id: &str,
        type_name: &str,
        value: Box<dyn Any + Send>,
    ) -> Result<(Arc<dyn ServerObject>, Fingerprint), RemoteError> {
        let unregistered = || {
            RemoteError::new(
                RemoteErrorKind::NoSuchType,
                format!(
                    "a method returned a `Shared<{type_name}>`, and `{type_name}` (type id `{type_id}`) is not \
                     registered on this server: register it (`.register::<{type_name}>()`) to host it"
                ),
            )
        };
        let entry = self.types.get(type_id).ok_or_else(unregistered)?;
        let wrap = entry.wrap.as_ref().ok_or_else(unregistered)?;
        Ok((wrap(value).ok_or_else(unregistered)?, entry.fingerprint.clone()))
    }

    fn entry(&self, type_id: &str) -> Result<&TypeEntry, RemoteError> {
        self.types.get(type_id).ok_or_else(|| {
            let mut known: Vec<_> = self.types.keys().map(String::as_str).collect();
            known.sort_unstable();
            RemoteError::new(
                RemoteErrorKind::NoSuchType,
                format!("no type `{type_id}` is registered on this server (registered: {})", known.join(", ")),
            )
        })
    }

    /// Creates an object for a client whose proxy has `fingerprint` (empty for none):
    /// the object, and the fingerprint it keeps. A `#[shared]` type's interface must
    /// agree with the client's, or nothing is constructed.
    pub(crate) fn construct(
        &self,
        type_id: &str,
        fingerprint: &str,
        args: &[u8],
        ctx: &CallContext,
    ) -> Result<(Arc<dyn ServerObject>, Fingerprint), RemoteError> {
        let entry = self.entry(type_id)?;
        let kept = match &entry.fingerprint {
            Some(own) => {
                fingerprint::check(type_id, own, fingerprint, Check::Create)
                    .map_err(|message| RemoteError::new(RemoteErrorKind::WrongType, message))?;
                Some(Arc::clone(own))
            }
            None if fingerprint.is_empty() => None,
            None => Some(Arc::from(fingerprint)),
        };
        Ok(((entry.construct)(args, ctx)?, kept))
    }

    /// Describes a type.
    pub(crate) fn describe(&self, type_id: &str) -> Result<TypeDescription, RemoteError> {
        Ok(TypeDescription { type_id: type_id.to_owned(), methods: self.entry(type_id)?.methods.clone() })
    }
}

/// `T`'s interface as a fingerprint, `None` when it declares none.
pub(crate) fn interface<T: Dispatch>() -> Fingerprint {
    Some(T::fingerprint()).filter(|f| !f.is_empty()).map(Arc::from)
}
