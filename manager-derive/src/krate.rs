//! Finding the protocol crate, under whatever name the user's `Cargo.toml` gives it.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// The path generated code uses for `manager_proto`: the crate itself if the user
/// depends on it, else its re-export in `manager-client` or `manager-server`.
pub(crate) fn proto_path(explicit: Option<&syn::Path>) -> syn::Result<TokenStream> {
    if let Some(path) = explicit {
        return Ok(quote!(#path));
    }
    let found = |name: &str| crate_name(name).ok();
    if let Some(found) = found("manager-proto") {
        return Ok(match found {
            FoundCrate::Itself => quote!(crate),
            FoundCrate::Name(name) => {
                let ident = Ident::new(&name, Span::call_site());
                quote!(::#ident)
            }
        });
    }
    for facade in ["manager-client", "manager-server"] {
        if let Some(found) = found(facade) {
            return Ok(match found {
                FoundCrate::Itself => quote!(crate::proto),
                FoundCrate::Name(name) => {
                    let ident = Ident::new(&name, Span::call_site());
                    quote!(::#ident::proto)
                }
            });
        }
    }
    Err(syn::Error::new(
        Span::call_site(),
        "#[shared] needs `manager-client` or `manager-server` among this crate's dependencies \
         (or name the protocol crate with #[shared(crate = \"path::to::manager_proto\")])",
    ))
}
