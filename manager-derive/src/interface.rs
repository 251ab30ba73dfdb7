//! The model of a `#[shared]` trait: an interface, declared without its implementation.
//! Its methods are modelled as an impl block's are (`model.rs`), with the rules a
//! trait adds: every method is exposed unless `#[shared(skip)]`, none has a body (the
//! implementation is the server's type's), nothing is generic, and an `async fn` is
//! rewritten to return `impl Future + Send`, so that every implementation's calls can
//! run on the server's tasks (and `async_fn_in_trait` has nothing to warn about).

use crate::attr::{self, TypeOptions};
use crate::errors::Errors;
use crate::model::{Constructor, SharedImpl, Source, constructor_from, constructs, generics_node, method};
use quote::quote;
use syn::{Ident, ItemTrait, ReturnType, Signature, TraitItem, Type};

impl SharedImpl {
    /// Builds the model of a trait, reporting into `errors` everything that cannot be
    /// an interface. The model is complete either way (see [`SharedImpl::build`]).
    pub(crate) fn build_trait(mut item: ItemTrait, options: TypeOptions, errors: &mut Errors) -> SharedImpl {
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            errors.spanned(
                generics_node(&item.generics),
                "a #[shared] trait cannot be generic: a client and a server must agree on its concrete types",
            );
        }
        if let Some(unsafety) = &item.unsafety {
            errors.spanned(unsafety, "a #[shared] trait cannot be `unsafe`");
        }
        if let Some(auto) = &item.auto_token {
            errors.spanned(auto, "a #[shared] trait cannot be an auto trait");
        }
        if let Some(meta) = &options.watch {
            errors.spanned(meta, "`watch` is not supported on interfaces yet: put it on a type's own impl block");
        }
        let name = item.ident.clone();
        let vis = options.vis.as_ref().map_or_else(|| item.vis.clone(), |(vis, _)| vis.clone());
        let mut methods = Vec::new();
        let mut signatures = Vec::new();
        let mut constructor = None;
        for trait_item in &mut item.items {
            let f = match trait_item {
                TraitItem::Fn(f) => f,
                other => {
                    errors.spanned(
                        &*other,
                        "a #[shared] trait holds methods only: a proxy has nothing to do with associated types, \
                         constants or macros; move them to another trait",
                    );
                    continue;
                }
            };
            let opts = attr::take_method_options(&mut f.attrs, errors);
            if opts.skip {
                // Not part of the interface: a plain trait method, which may have a body.
                continue;
            }
            if let Some(body) = &f.default {
                errors.spanned(
                    body,
                    format!(
                        "`{}` has a body, but an interface declares methods without them: each server's type \
                         implements them; remove the body, or hide the method with #[shared(skip)]",
                        f.sig.ident
                    ),
                );
            }
            let has_receiver = f.sig.receiver().is_some();
            let is_constructor =
                opts.constructor || (!has_receiver && f.sig.ident == "new" && constructs(&f.sig, &name).is_some());
            if is_constructor {
                let checked = without_self_sized(&f.sig);
                if let Some(c) = constructor_from(&f.sig, &checked, &name, constructor.is_some(), errors) {
                    constructor = Some(c);
                }
                continue;
            }
            if !has_receiver {
                errors.spanned(
                    &f.sig,
                    format!(
                        "`{}` takes no `self`, so a proxy cannot call it: mark a constructor \
                         #[shared(constructor)], or hide the function with #[shared(skip)]",
                        f.sig.ident
                    ),
                );
                continue;
            }
            reject_self(&f.sig, &name, errors);
            signatures.push(f.sig.clone());
            if let Some(m) = method(&without_self_sized(&f.sig), &f.attrs, opts.rename, errors) {
                if let (true, ReturnType::Type(_, ty)) = (m.is_stream(), &f.sig.output) {
                    errors.spanned(
                        ty,
                        format!(
                            "`{}` is a stream method, and interfaces do not support stream methods yet: declare it \
                             in a #[shared] impl block of the type, or hide it with #[shared(skip)]",
                            f.sig.ident
                        ),
                    );
                }
                methods.push(m);
            }
            if f.sig.asyncness.is_some() {
                f.sig = returning_send_future(&f.sig);
            }
        }
        SharedImpl {
            item: Source::Trait(item),
            self_ty: syn::parse_quote!(Self),
            named: true,
            name,
            vis,
            options,
            methods,
            constructor: constructor.unwrap_or(Constructor::Default),
            signatures,
        }
    }
}

/// `sig` without `where Self: Sized`, which a trait's constructor needs (and any method
/// may have): not a generic parameter, and no business of the proxies.
fn without_self_sized(sig: &Signature) -> Signature {
    let mut sig = sig.clone();
    if let Some(where_clause) = &mut sig.generics.where_clause {
        let self_sized = |p: &syn::WherePredicate| {
            matches!(p, syn::WherePredicate::Type(t)
                if matches!(&t.bounded_ty, Type::Path(b) if b.path.is_ident("Self"))
                    && t.lifetimes.is_none()
                    && t.bounds.len() == 1
                    && matches!(t.bounds.first(), Some(syn::TypeParamBound::Trait(b)) if b.path.is_ident("Sized")))
        };
        where_clause.predicates = where_clause.predicates.iter().filter(|p| !self_sized(p)).cloned().collect();
        if where_clause.predicates.is_empty() {
            sig.generics.where_clause = None;
        }
    }
    sig
}

/// Rejects `Self` in a method's argument and result types other than `Shared<Self>`:
/// on the server it is each implementation's type, which a client cannot know.
fn reject_self(sig: &Signature, name: &Ident, errors: &mut Errors) {
    let types = sig.inputs.iter().filter_map(|input| match input {
        syn::FnArg::Typed(pt) => Some(&*pt.ty),
        syn::FnArg::Receiver(_) => None,
    });
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    for ty in types.chain(output) {
        if names_self(ty) {
            errors.spanned(
                ty,
                format!(
                    "`{}` names `Self`, which is each server's own type: a client knows only the interface; take \
                     or return its proxy (`{name}Proxy`), or `Shared<Self>` for a new object",
                    sig.ident
                ),
            );
        }
    }
}

/// Whether `ty` names `Self` anywhere but as `Shared<Self>` (or `Result<Shared<Self>, E>`).
fn names_self(ty: &Type) -> bool {
    use crate::model::shared_inner;
    let ok = match crate::types::fallible(ty) {
        Some((ok, err)) => return names_self(&ok) || names_self(&err),
        None => ty,
    };
    if let Some(Type::Path(p)) = shared_inner(ok)
        && p.path.is_ident("Self")
    {
        return false;
    }
    fn any_self(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "Self",
            proc_macro2::TokenTree::Group(g) => any_self(g.stream()),
            _ => false,
        })
    }
    any_self(quote!(#ty))
}

/// `async fn f(..) -> T` as `fn f(..) -> impl Future<Output = T> + Send`: what an
/// implementation's `async fn` must then satisfy, so the server may run it on any task.
fn returning_send_future(sig: &Signature) -> Signature {
    let mut sig = sig.clone();
    sig.asyncness = None;
    let output: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    sig.output = syn::parse_quote! {
        -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
    };
    sig
}
