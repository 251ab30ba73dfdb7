//! The stand-in proxies for a `#[shared]` block with errors: the same types, and
//! every method whose signature can be copied, each answering with an error (see
//! `fallback`).

use super::proxy::{Parts, create_results, skeleton};
use crate::model::{Constructor, SharedImpl};
use crate::validate::RESERVED;
use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use std::collections::HashSet;
use syn::{FnArg, ReturnType, Signature};

/// The stand-ins for a block with errors: the same types and trait impls, `create`
/// as the constructor is written, and every method whose signature can be copied, so
/// that code using the proxies reports nothing more. The build fails on the block's
/// errors, so none of it ever runs.
pub(crate) fn stub(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let name = model.name.to_string();
    let failed = format!("`{name}`'s #[shared] impl block does not compile");
    let error = quote! {
        ::core::result::Result::Err(#m::Error::Remote(#m::RemoteError::new(#m::RemoteErrorKind::NotExposed, #failed)))
    };
    let copyable = Copyable::new(model);
    let (ctor_params, ctor_args) = match &model.constructor {
        Constructor::Function { args, .. } if args.iter().all(|a| copyable.ty(&a.ty)) => (
            args.iter()
                .map(|a| {
                    let (i, t) = (&a.ident, &a.ty);
                    quote!(#i: #t)
                })
                .collect(),
            args.iter().map(|a| a.ident.clone()).collect(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let create = quote! {
        let _ = (__manager_client, #(#ctor_args,)*);
        #error
    };
    let ctor_err = match &model.constructor {
        Constructor::Function { err: Some(err), .. } if copyable.ty(err) => Some(&**err),
        _ => None,
    };
    let (create_ok, blocking_create) = create_results(ctor_err);
    let mut seen = HashSet::new();
    let signatures: Vec<_> =
        model.signatures.iter().filter(|sig| copyable.signature(sig) && seen.insert(sig.ident.to_string())).collect();
    let parts = Parts {
        type_id: quote!(::core::concat!(::core::module_path!(), "::", #name)),
        fingerprint: TokenStream::new(),
        ctor_params,
        create,
        create_ok,
        blocking_create,
        ctor_args,
        async_methods: signatures.iter().map(|sig| stub_method(model, sig, quote!(async), m, &error)).collect(),
        blocking_methods: signatures.iter().map(|sig| stub_method(model, sig, quote!(), m, &error)).collect(),
    };
    skeleton(model, m, parts)
}

/// A stand-in method: the signature as written, answering with `error`.
fn stub_method(
    model: &SharedImpl,
    sig: &Signature,
    asyncness: TokenStream,
    m: &TokenStream,
    error: &TokenStream,
) -> TokenStream {
    let vis = &model.vis;
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let types = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(pt) => Some(&pt.ty),
        FnArg::Receiver(_) => None,
    });
    let ok = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    quote! {
        #vis #asyncness fn #ident #generics (&self, #(_: #types),*) -> ::core::result::Result<#ok, #m::Error>
        #where_clause
        {
            #error
        }
    }
}

/// Which signatures the stand-in proxies can copy: those naming neither `Self` (the
/// proxy, there) nor the impl's generic parameters (not in scope there), with no
/// `impl Trait` result (a stand-in body cannot define it), and no name the proxies
/// already use.
struct Copyable {
    /// Identifiers that mean something else, or nothing, in the proxies.
    foreign: HashSet<String>,
}

impl Copyable {
    fn new(model: &SharedImpl) -> Self {
        let mut foreign: HashSet<String> = model
            .item
            .generics()
            .params
            .iter()
            .map(|p| match p {
                syn::GenericParam::Type(t) => t.ident.to_string(),
                syn::GenericParam::Lifetime(l) => l.lifetime.ident.to_string(),
                syn::GenericParam::Const(c) => c.ident.to_string(),
            })
            .collect();
        foreign.insert("Self".to_owned());
        Copyable { foreign }
    }

    fn tokens(&self, tokens: TokenStream) -> bool {
        !any_ident(tokens, &|i| self.foreign.contains(&i.to_string()))
    }

    fn ty(&self, ty: &syn::Type) -> bool {
        self.tokens(ty.to_token_stream())
    }

    fn signature(&self, sig: &Signature) -> bool {
        let inputs_ok = sig.inputs.iter().all(|input| match input {
            FnArg::Typed(pt) => self.ty(&pt.ty),
            FnArg::Receiver(_) => true,
        });
        let output_ok = match &sig.output {
            ReturnType::Default => true,
            ReturnType::Type(_, ty) => self.ty(ty) && !any_ident(ty.to_token_stream(), &|i| i == "impl"),
        };
        inputs_ok
            && output_ok
            && self.tokens(sig.generics.to_token_stream())
            && self.tokens(sig.generics.where_clause.to_token_stream())
            && sig.variadic.is_none()
            && !RESERVED.contains(&sig.ident.to_string().as_str())
    }
}

/// Whether `tokens`, groups included, hold an identifier (or lifetime name) `pred`
/// accepts.
fn any_ident(tokens: TokenStream, pred: &dyn Fn(&Ident) -> bool) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => pred(&i),
        TokenTree::Group(g) => any_ident(g.stream(), pred),
        _ => false,
    })
}
