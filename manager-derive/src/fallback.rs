//! When the input is invalid, emit it anyway next to the errors, so one mistake reports
//! one error instead of burying the crate in errors about missing items.

use proc_macro2::TokenStream;
use quote::ToTokens;

pub(crate) fn with_errors(item: impl ToTokens, error: syn::Error) -> TokenStream {
    let mut out = error.to_compile_error();
    item.to_tokens(&mut out);
    out
}
