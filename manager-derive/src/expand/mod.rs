//! Generating code from the model.

mod dispatcher;
mod fingerprint;
mod implementation;
mod interface;
mod proxy;
mod proxy_stub;
mod stream_methods;

use crate::attr;
use crate::errors::Errors;
use crate::fallback::with_errors;
use crate::krate::proto_path;
use crate::model::{Method, SharedImpl};
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
        Item::Impl(imp) if imp.trait_.is_some() => implementation::expand(args, imp),
        Item::Impl(imp) => expand_impl(args, imp),
        Item::Trait(t) => interface::expand(args, t),
        Item::Struct(s) => expand_type(args, &s.ident, &s.generics, &s),
        Item::Enum(e) => expand_type(args, &e.ident, &e.generics, &e),
        other => with_errors(
            &other,
            syn::Error::new_spanned(
                &other,
                "#[shared] goes on a type's impl block, on a trait (an interface), or on the struct (for type-level \
                 options)",
            ),
        ),
    }
}

fn expand_impl(args: TokenStream, item: syn::ItemImpl) -> TokenStream {
    // Every mistake is reported, each once.
    let mut errors = Errors::default();
    let options = attr::type_options(args, &mut errors);
    let model = SharedImpl::build(item, options, &mut errors);
    validate(&model, &mut errors);
    let m = glue_path(model.options.krate.as_ref(), &mut errors);
    let m = match (errors.finish(), m) {
        (Ok(()), Some(m)) => m,
        (Err(e), m) => return with_stand_ins(&model, m.as_ref(), e),
        // Not reached: a protocol crate not found is an error.
        (Ok(()), None) => return model.item.to_token_stream(),
    };
    let item = &model.item;
    let dispatcher = dispatcher::expand(&model, &m);
    let proxies = proxy::expand(&model, &m);
    quote! {
        #item
        #dispatcher
        #proxies
    }
}

/// An impl block with errors: the block, the errors, and — when the protocol crate
/// was found (`m`) and the type has a name — stand-ins for what the block would have
/// generated (see `fallback`).
fn with_stand_ins(model: &SharedImpl, m: Option<&TokenStream>, error: syn::Error) -> TokenStream {
    let mut out = with_errors(&model.item, error);
    if let (Some(m), true) = (m, model.named) {
        out.extend(dispatcher::stub(model, m));
        out.extend(proxy_stub::stub(model, m));
    }
    out
}

/// `#[shared(id = "..")]` on a struct or enum.
fn expand_type(args: TokenStream, ident: &Ident, generics: &Generics, item: &impl ToTokens) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::type_options(args, &mut errors);
    if let Some((_, meta)) = &options.vis {
        errors.spanned(
            meta,
            "`vis` goes on the impl block, where the proxies are generated: #[shared(vis = \"..\")] impl T { .. }",
        );
    }
    if !generics.params.is_empty() {
        errors.spanned(generics, "#[shared] does not support generic types");
    }
    if let Err(e) = errors.finish() {
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

/// The path of the generated code's glue (`<proto>::__private::v1`), or `None` with the
/// error noted when the protocol crate cannot be named.
pub(super) fn glue_path(krate: Option<&syn::Path>, errors: &mut Errors) -> Option<TokenStream> {
    match proto_path(krate) {
        Ok(root) => Some(quote!(#root::__private::v1)),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// The name of the constant holding a method's id (by position: identifiers may be raw).
fn id_const(model: &SharedImpl, method: &Method) -> syn::Ident {
    let index = model.methods.iter().position(|x| std::ptr::eq(x, method)).unwrap_or_default();
    quote::format_ident!("__METHOD_{}", index)
}
