//! Generating code from the model.

mod dispatcher;
mod proxy;

use crate::attr;
use crate::fallback::with_errors;
use crate::krate::proto_path;
use crate::model::SharedImpl;
use crate::validate::validate;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Generics, Ident, Item};

/// `#[shared]` on anything.
pub(crate) fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => return with_errors(input, e),
    };
    match item {
        Item::Impl(imp) => expand_impl(args, imp),
        Item::Struct(s) => expand_type(args, &s.ident, &s.generics, &s),
        Item::Enum(e) => expand_type(args, &e.ident, &e.generics, &e),
        other => with_errors(
            &other,
            syn::Error::new_spanned(
                &other,
                "#[shared] goes on a type's inherent impl block (or on the struct, for type-level options)",
            ),
        ),
    }
}

fn expand_impl(args: TokenStream, item: syn::ItemImpl) -> TokenStream {
    let options = match attr::type_options(args) {
        Ok(o) => o,
        Err(e) => return with_errors(&item, e),
    };
    let model = match SharedImpl::build(item, options) {
        Ok(m) => m,
        Err(failed) => {
            let (e, item) = *failed;
            return with_errors(&item, e);
        }
    };
    if let Err(e) = validate(&model) {
        return with_errors(&model.item, e);
    }
    let root = match proto_path(model.options.krate.as_ref()) {
        Ok(r) => r,
        Err(e) => return with_errors(&model.item, e),
    };
    let m = quote!(#root::__private::v1);
    let item = &model.item;
    let dispatcher = dispatcher::expand(&model, &m);
    let proxies = proxy::expand(&model, &m);
    quote! {
        #item
        #dispatcher
        #proxies
    }
}

/// `#[shared(type_id = "..")]` on a struct or enum.
fn expand_type(args: TokenStream, ident: &Ident, generics: &Generics, item: &impl ToTokens) -> TokenStream {
    let options = match attr::type_options(args) {
        Ok(o) => o,
        Err(e) => return with_errors(item, e),
    };
    if !generics.params.is_empty() {
        let e = syn::Error::new_spanned(generics, "#[shared] does not support generic types");
        return with_errors(item, e);
    }
    let Some(type_id) = options.type_id else {
        return item.to_token_stream();
    };
    let root = match proto_path(options.krate.as_ref()) {
        Ok(r) => r,
        Err(e) => return with_errors(item, e),
    };
    quote! {
        #item
        #[automatically_derived]
        impl #root::__private::v1::ExplicitTypeId for #ident {
            const SHARED_TYPE_ID: &'static str = #type_id;
        }
    }
}
