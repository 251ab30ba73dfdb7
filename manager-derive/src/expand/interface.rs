//! `#[shared]` on a trait: the interface. It keeps the trait (its `async fn`s returning
//! `impl Future + Send`), adds the proxies (the interface's identity spelled in them,
//! since there is no type to ask), and one hidden method, `__shared_interface`, which
//! carries the server side of every method — written once, generic over the
//! implementation — for `#[shared] impl Trait for T` to build `Dispatch` from
//! (`implementation.rs`).

use super::{dispatcher, fingerprint, glue_path, proxy, proxy_stub};
use crate::attr;
use crate::errors::Errors;
use crate::fallback::with_errors;
use crate::model::{Constructor, Receiver, SharedImpl, Source};
use crate::validate::validate;
use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemTrait;

pub(super) fn expand(args: TokenStream, item: ItemTrait) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::type_options(args, &mut errors);
    let model = SharedImpl::build_trait(item, options, &mut errors);
    validate(&model, &mut errors);
    let m = glue_path(model.options.krate.as_ref(), &mut errors);
    let mut item = match &model.item {
        Source::Trait(item) => item.clone(),
        // Not reached: `build_trait` models a trait.
        Source::Impl(item) => return quote!(#item),
    };
    match (errors.finish(), m) {
        (Ok(()), Some(m)) => {
            item.items.push(syn::TraitItem::Fn(hidden(&model, &m)));
            let proxies = proxy::expand(&model, &m);
            let wire_checks = dispatcher::wire_checks(&model, &m);
            quote! {
                #item
                #proxies
                #wire_checks
            }
        }
        (Err(e), Some(m)) => {
            item.items.push(syn::TraitItem::Fn(hidden_stub(&model, &m)));
            let mut out = with_errors(&item, e);
            out.extend(proxy_stub::stub(&model, &m));
            out
        }
        (Err(e), None) => with_errors(&item, e),
        // Not reached: a protocol crate not found is an error.
        (Ok(()), None) => quote!(#item),
    }
}

/// `__shared_interface`: the interface's identity and the server side of its methods,
/// for any implementation (`Self: Dispatch` — the implementation's own, which
/// `#[shared] impl` builds from this; plus `Default` when the trait declares no
/// constructor).
fn hidden(model: &SharedImpl, m: &TokenStream) -> syn::TraitItemFn {
    let type_id = dispatcher::type_id(model, m);
    let fingerprint = fingerprint::of(model);
    let infos = dispatcher::infos(model, m);
    let construct = dispatcher::construct(model, m);
    let this = quote!(__manager_this);
    let ref_arms = dispatcher::arms(model, m, Receiver::Ref, &this);
    let mut_arms = dispatcher::arms(model, m, Receiver::Mut, &this);
    let default = match model.constructor {
        Constructor::Default => quote!(+ ::core::default::Default),
        Constructor::Function { .. } => quote!(),
    };
    syn::parse_quote! {
        #[doc(hidden)]
        #[allow(unused_variables, unreachable_code, clippy::needless_question_mark)]
        fn __shared_interface() -> #m::Interface<Self>
        where
            Self: #m::Dispatch #default,
        {
            const METHODS: &[#m::MethodInfo] = &[#(#infos),*];
            #m::Interface {
                type_id: #type_id,
                fingerprint: #fingerprint,
                methods: METHODS,
                construct: |args| {
                    #[allow(unused_imports)]
                    use #m::{WireViaSerde as _, WireUnchecked as _};
                    #construct
                },
                call_ref: |#this, method, args| {
                    #[allow(unused_imports)]
                    use #m::{WireViaSerde as _, WireUnchecked as _, FallibleViaSerde as _, FallibleUnchecked as _};
                    #ref_arms
                },
                call_mut: |#this, method, args| {
                    #[allow(unused_imports)]
                    use #m::{WireViaSerde as _, WireUnchecked as _, FallibleViaSerde as _, FallibleUnchecked as _};
                    #mut_arms
                },
            }
        }
    }
}

/// The stand-in for a trait with errors: the same method, every call an error, so that
/// implementations report nothing more (the build fails on the trait's errors).
fn hidden_stub(model: &SharedImpl, m: &TokenStream) -> syn::TraitItemFn {
    let name = model.name.to_string();
    let failed = format!("the #[shared] trait `{name}` does not compile");
    let error = quote!(#m::RemoteError::new(#m::RemoteErrorKind::NotExposed, #failed));
    syn::parse_quote! {
        #[doc(hidden)]
        fn __shared_interface() -> #m::Interface<Self>
        where
            Self: #m::Dispatch,
        {
            #m::Interface {
                type_id: ::core::concat!(::core::module_path!(), "::", #name),
                fingerprint: "",
                methods: &[],
                construct: |_| ::core::result::Result::Err(#error),
                call_ref: |_, _, _| #m::Outcome::Ready(::core::result::Result::Err(#error)),
                call_mut: |_, _, _| #m::Outcome::Ready(::core::result::Result::Err(#error)),
            }
        }
    }
}
