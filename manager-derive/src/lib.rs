//! `#[shared]`: share a type's methods across processes.
//!
//! On an inherent `impl` block it keeps the block as written and adds:
//! - `T::EXPOSED`, the exposed method names;
//! - a server-side dispatcher (`manager_proto::Dispatch`), so a server can
//!   `register::<T>()` it;
//! - `TProxy`, an async typed proxy with one method per exposed method and
//!   `TProxy::create(&client, ..)`, and `TBlockingProxy`, the same for code without an
//!   async runtime.
//!
//! Exposed methods are the `pub` ones; `#[shared(skip)]` hides one, `#[shared(rename =
//! "name")]` changes its wire name, `#[shared(constructor)]` marks the constructor
//! (default: a `pub fn new(..) -> Self`, else `Default`). On the struct itself,
//! `#[shared(type_id = "name")]` sets the type id (default: the type's module path and
//! name). `#[shared(crate = "path")]` on the impl names the protocol crate when it
//! cannot be found in `Cargo.toml`. `#[shared(vis = "pub(crate)")]` on the impl gives
//! the proxies a visibility other than `pub` (any of Rust's, `""` for private): an
//! attribute on an impl block cannot see the type's own, so say it for a type that is
//! not `pub`.
//!
//! A mistake is one compile error, underlining the whole of what is wrong: the block is
//! still emitted, next to stand-ins for what `#[shared]` would have generated (as
//! thiserror does), so `register::<T>()` and calls through `TProxy` add nothing.
//!
//! The generated code names only items of `manager-proto` (found under whatever name
//! the user's `Cargo.toml` gives `manager-proto`, `manager-client` or
//! `manager-server`), through a versioned hidden module.

mod attr;
mod errors;
mod expand;
mod fallback;
mod krate;
mod model;
mod validate;

use proc_macro::TokenStream;

/// Shares a type's methods across processes. See the crate documentation.
#[proc_macro_attribute]
pub fn shared(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::entry(args.into(), input.into()).into()
}
