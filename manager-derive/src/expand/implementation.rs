//! `#[shared] impl Trait for T`: a server's type implementing an interface. The impl
//! is kept as written — rustc checks it against the trait — and `T` gets a `Dispatch`
//! taken whole from the trait's hidden `__shared_interface` (`interface.rs`): the
//! interface's type id, fingerprint and methods, so a client holding only the trait's
//! proxy can create, name and attach a `T`, and two types implementing one interface
//! on two servers are interchangeable.

use super::dispatcher;
use crate::attr;
use crate::errors::Errors;
use crate::fallback::with_errors;
use crate::krate::proto_path;
use crate::model::generics_node;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl};

pub(super) fn expand(args: TokenStream, mut item: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    let options = attr::type_options(args, &mut errors);
    if let Some(id) = &options.type_id {
        errors.spanned(
            id,
            "the type id belongs to the interface: give it on the trait (`#[shared(id = \"..\")] trait ..`), \
             and every implementation has it",
        );
    }
    if let Some((_, meta)) = &options.vis {
        errors.spanned(meta, "`vis` sets the proxies' visibility: give it on the trait, which generates them");
    }
    if let Some(meta) = &options.watch {
        errors.spanned(meta, "`watch` is not supported on interfaces yet: put it on a type's own impl block");
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.spanned(
            generics_node(&item.generics),
            "#[shared] does not support generic types: a server must know the concrete type it hosts",
        );
    }
    // Method options belong to the interface: an implementation cannot change them.
    for impl_item in &mut item.items {
        if let ImplItem::Fn(f) = impl_item {
            f.attrs.retain(|attr| {
                if attr.path().is_ident("shared") {
                    errors.spanned(
                        attr,
                        "method options go on the trait's methods: every implementation of an interface exposes \
                         the same methods",
                    );
                    return false;
                }
                true
            });
        }
    }
    let trait_path = match &item.trait_ {
        Some((None, path, _)) => {
            if path.segments.iter().any(|seg| !seg.arguments.is_empty()) {
                errors.spanned(path, "a #[shared] trait cannot be generic");
            }
            path.clone()
        }
        Some((Some(bang), path, _)) => {
            errors.spanned(bang, "#[shared] cannot implement an interface negatively");
            path.clone()
        }
        // Not reached: the caller routes inherent impls elsewhere.
        None => return quote!(#item),
    };
    let m = match proto_path(options.krate.as_ref()) {
        Ok(root) => Some(quote!(#root::__private::v1)),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let ty = &item.self_ty;
    let name = quote!(#ty).to_string();
    let m = match (errors.finish(), m) {
        (Ok(()), Some(m)) => m,
        (Err(e), Some(m)) => {
            let mut out = with_errors(&item, e);
            if item.generics.params.is_empty() {
                out.extend(dispatcher::dispatch_stub(ty, &name, &item.generics, &m));
            }
            return out;
        }
        (Err(e), None) => return with_errors(&item, e),
        (Ok(()), None) => return quote!(#item),
    };
    // Spanned on the trait: where a trait that is not a #[shared] interface (one without
    // `__shared_interface`) is reported, once.
    let interface = quote_spanned! {trait_path.span()=>
        <#ty as #trait_path>::__shared_interface()
    };
    quote! {
        #item

        const _: () = {
            #[inline]
            fn interface() -> #m::Interface<#ty> {
                #interface
            }

            #[automatically_derived]
            impl #m::Dispatch for #ty {
                fn shared_type_id() -> &'static str {
                    interface().type_id
                }

                fn fingerprint() -> &'static str {
                    interface().fingerprint
                }

                fn methods() -> &'static [#m::MethodInfo] {
                    interface().methods
                }

                fn construct(args: &[u8]) -> ::core::result::Result<Self, #m::RemoteError> {
                    (interface().construct)(args)
                }

                fn call_ref<'a>(&'a self, method: u32, args: &[u8]) -> #m::Outcome<'a> {
                    (interface().call_ref)(self, method, args)
                }

                fn call_mut<'a>(&'a mut self, method: u32, args: &[u8]) -> #m::Outcome<'a> {
                    (interface().call_mut)(self, method, args)
                }

                fn value_copy(&self) -> #m::CallResult {
                    use #m::{ValueViaSerialize as _, ValueUnsupported as _};
                    (&#m::ValueOf(self)).value_copy()
                }
            }
        };
    }
}
