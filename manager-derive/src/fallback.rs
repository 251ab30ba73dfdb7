//! When the input is invalid, emit it anyway next to the errors (as thiserror's
//! fallback does): one mistake reports one error, instead of burying the crate in
//! errors about what the macro did not generate. For an impl block the expansion adds
//! stand-ins for the generated items (`dispatcher::stub`, `proxy::stub`), so that
//! `register::<T>()`, `TProxy` and `TProxy::incr` report nothing more. The stand-ins
//! never run: the build stops at the errors.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// `item` as written, after `error`.
pub(crate) fn with_errors(item: impl ToTokens, error: syn::Error) -> TokenStream {
    let mut out = error.to_compile_error();
    item.to_tokens(&mut out);
    out
}
