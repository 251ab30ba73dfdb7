//! The server side: `Dispatch` for the type, and `T::EXPOSED`.
//!
//! Arguments and results go through `Wire<T>` (autoref specialization, see
//! `manager_proto::__private::v1::Wire`), which never fails to compile: a type that
//! cannot cross the wire is reported once, by the assertion `wire_checks` writes.

use crate::model::{Constructor, Receiver, Return, SharedImpl, Source, shared_inner};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

pub(crate) fn expand(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let exposed: Vec<_> = model.methods.iter().map(|x| &x.exposed).collect();
    let infos = infos(model, m);
    let type_id = type_id(model, m);
    let fingerprint = super::fingerprint::of(model);
    let construct = construct(model, m);
    let ref_arms = arms(model, m, Receiver::Ref, &quote!(self));
    let mut_arms = arms(model, m, Receiver::Mut, &quote!(self));
    let open_ref_arms = super::stream_methods::open_arms(model, m, Receiver::Ref, &quote!(self));
    let open_mut_arms = super::stream_methods::open_arms(model, m, Receiver::Mut, &quote!(self));
    let wire_checks = wire_checks(model, m);
    let watched = model.options.watch.as_ref().map(|_| {
        quote!(
            fn watched() -> bool {
                true
            }
        )
    });
    quote! {
        #[automatically_derived]
        impl #ty {
            /// The methods clients may call (Python's `exposed`), by exposed name.
            pub const EXPOSED: &'static [&'static str] = &[#(#exposed),*];
        }

        #[automatically_derived]
        impl #m::Dispatch for #ty {
            fn shared_type_id() -> &'static str {
                #type_id
            }

            fn fingerprint() -> &'static str {
                #fingerprint
            }

            #watched

            fn methods() -> &'static [#m::MethodInfo] {
                const METHODS: &[#m::MethodInfo] = &[#(#infos),*];
                METHODS
            }

            fn construct(args: &[u8]) -> ::core::result::Result<Self, #m::RemoteError> {
                #[allow(unused_imports)]
                use #m::{WireViaSerde as _, WireUnchecked as _};
                #construct
            }

            #[allow(unused_variables, unreachable_code)]
            fn call_ref<'a>(&'a self, method: u32, args: &[u8]) -> #m::Outcome<'a> {
                #[allow(unused_imports)]
                use #m::{WireViaSerde as _, WireUnchecked as _, FallibleViaSerde as _, FallibleUnchecked as _};
                #ref_arms
            }

            #[allow(unused_variables, unreachable_code)]
            fn call_mut<'a>(&'a mut self, method: u32, args: &[u8]) -> #m::Outcome<'a> {
                #[allow(unused_imports)]
                use #m::{WireViaSerde as _, WireUnchecked as _, FallibleViaSerde as _, FallibleUnchecked as _};
                #mut_arms
            }

            #[allow(unused_variables, unreachable_code)]
            fn open_ref(&self, method: u32, args: &[u8]) -> ::core::result::Result<#m::BoxSource, #m::RemoteError> {
                #[allow(unused_imports)]
                use #m::{WireViaSerde as _, WireUnchecked as _, ItemsViaSerde as _, ItemsUnchecked as _};
                #open_ref_arms
            }

            #[allow(unused_variables, unreachable_code)]
            fn open_mut(&mut self, method: u32, args: &[u8]) -> ::core::result::Result<#m::BoxSource, #m::RemoteError> {
                #[allow(unused_imports)]
                use #m::{WireViaSerde as _, WireUnchecked as _, ItemsViaSerde as _, ItemsUnchecked as _};
                #open_mut_arms
            }

            fn value_copy(&self) -> #m::CallResult {
                use #m::{ValueViaSerialize as _, ValueUnsupported as _};
                (&#m::ValueOf(self)).value_copy()
            }
        }

        #wire_checks
    }
}

/// The exposed methods' `MethodInfo`s.
pub(super) fn infos(model: &SharedImpl, m: &TokenStream) -> Vec<TokenStream> {
    model
        .methods
        .iter()
        .map(|x| {
            let exposed = &x.exposed;
            let receiver = match x.receiver {
                Receiver::Ref => quote!(#m::Receiver::Ref),
                Receiver::Mut => quote!(#m::Receiver::Mut),
            };
            let is_async = x.is_async;
            let hosted = x.hosted();
            let stream = x.is_stream();
            quote! {
                #m::MethodInfo {
                    name: #exposed,
                    id: #m::method_id(#exposed),
                    receiver: #receiver,
                    is_async: #is_async,
                    hosted: #hosted,
                    stream: #stream,
                }
            }
        })
        .collect()
}

/// The type id, as an expression: the `id = ".."` given, else the module path and name
/// (for a type, the id given on its struct if any).
pub(super) fn type_id(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let name = model.name.to_string();
    match (&model.options.type_id, &model.item) {
        (Some(id), _) => quote!(#id),
        (None, Source::Trait(_)) => quote!(::core::concat!(::core::module_path!(), "::", #name)),
        (None, Source::Impl(_)) => quote! {{
            use #m::{TypeIdViaExplicit as _, TypeIdViaDefault as _};
            (&#m::TypeIdOf::<#ty>::new()).shared_type_id(::core::concat!(::core::module_path!(), "::", #name))
        }},
    }
}

pub(super) fn construct(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let what = format!("the constructor arguments of `{}`", model.name);
    match &model.constructor {
        Constructor::Function { name, args, err } => {
            let idents: Vec<_> = args.iter().map(|a| &a.ident).collect();
            let types: Vec<_> = args.iter().map(|a| &a.ty).collect();
            let decode = quote! {
                let (#(#idents,)*): (#(#types,)*) = (&#m::Wire::<(#(#types,)*)>::new()).decode_args(args, #what)?;
            };
            match err {
                None => quote! {
                    #decode
                    ::core::result::Result::Ok(<#ty>::#name(#(#idents),*))
                },
                Some(err) => {
                    let what_err = format!("the constructor of `{}`", model.name);
                    quote! {
                        #decode
                        match <#ty>::#name(#(#idents),*) {
                            ::core::result::Result::Ok(value) => ::core::result::Result::Ok(value),
                            ::core::result::Result::Err(error) => {
                                let description = {
                                    use #m::{DescribeViaDisplay as _, DescribeViaTypeName as _};
                                    (&#m::DescribeError(&error)).describe()
                                };
                                ::core::result::Result::Err(
                                    (&#m::Wire::<#err>::new()).construct_error(&error, #what_err, description),
                                )
                            }
                        }
                    }
                }
            }
        }
        Constructor::Default => {
            let default = quote_spanned! {model.self_ty.span()=> <#ty as ::core::default::Default>::default() };
            quote! {
                let (): () = #m::decode_args(args, #what)?;
                ::core::result::Result::Ok(#default)
            }
        }
    }
}

/// The dispatch on a method id for methods taking `receiver`; `this` is the object.
pub(super) fn arms(model: &SharedImpl, m: &TokenStream, receiver: Receiver, this: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    // Stream methods are opened, not called (`stream_methods.rs`).
    let methods: Vec<_> = model.methods.iter().filter(|x| x.receiver == receiver && !x.is_stream()).collect();
    let consts = methods.iter().map(|x| {
        let c = super::id_const(model, x);
        let exposed = &x.exposed;
        quote!(const #c: u32 = #m::method_id(#exposed);)
    });
    let arms = methods.iter().map(|x| {
        let c = super::id_const(model, x);
        let ident = &x.ident;
        let idents: Vec<_> = x.args.iter().map(|a| &a.ident).collect();
        let types: Vec<_> = x.args.iter().map(|a| &a.ty).collect();
        let what_args = format!("the arguments of `{}::{}`", model.name, x.exposed.value());
        let what_ret = format!("the result of `{}::{}`", model.name, x.exposed.value());
        let call = if x.is_async {
            quote!(<#ty>::#ident(#this, #(#idents),*).await)
        } else {
            quote!(<#ty>::#ident(#this, #(#idents),*))
        };
        // A value to answer with: a `Shared<T>` is hosted first.
        let answer = |t: &syn::Type| match shared_inner(t) {
            Some(inner) => {
                let type_name = inner.to_token_stream().to_string();
                quote! {{
                    use #m::{HostViaDispatch as _, HostUnchecked as _};
                    (&#m::Hosted::<#inner>::new()).host_return(value, #type_name, #what_ret)
                }}
            }
            None => quote!((&#m::Wire::<#t>::new()).encode_return(&value, #what_ret)),
        };
        let encode = match &x.ret {
            // Not reached: stream methods are filtered out above.
            Return::Stream { .. } => quote!(::core::unreachable!()),
            Return::Unit => quote! {{ let () = #call; #m::encode_return(&(), #what_ret) }},
            Return::Value(t) => {
                let answer = answer(t);
                quote! {{
                    let value = #call;
                    #answer
                }}
            }
            Return::Fallible { ok, err } => {
                let answer = answer(ok);
                quote! {{
                match #call {
                    ::core::result::Result::Ok(value) => #answer,
                    ::core::result::Result::Err(error) => {
                        let description = {
                            use #m::{DescribeViaDisplay as _, DescribeViaTypeName as _};
                            (&#m::DescribeError(&error)).describe()
                        };
                        (&#m::Wire::<#err>::new()).user_error(&error, #what_ret, description)
                    }
                }
                }}
            }
        };
        let body = if x.is_async {
            quote_spanned! {x.span=> #m::Outcome::Pending(::std::boxed::Box::pin(async move { #encode })) }
        } else {
            quote!(#m::Outcome::Ready(#encode))
        };
        let decode = quote! {
            let (#(#idents,)*): (#(#types,)*) = match (&#m::Wire::<(#(#types,)*)>::new()).decode_args(args, #what_args) {
                ::core::result::Result::Ok(decoded) => decoded,
                ::core::result::Result::Err(e) => return #m::Outcome::Ready(::core::result::Result::Err(e)),
            };
        };
        quote! {
            #c => {
                #decode
                #body
            }
        }
    });
    let kind = match receiver {
        Receiver::Ref => "&self",
        Receiver::Mut => "&mut self",
    };
    let unknown = format!("`{}` has no {kind} method with id {{:#010x}}", model.name);
    quote! {
        #(#consts)*
        match method {
            #(#arms)*
            _ => #m::Outcome::Ready(::core::result::Result::Err(#m::RemoteError::new(
                #m::RemoteErrorKind::NotExposed,
                ::std::format!(#unknown, method),
            ))),
        }
    }
}

/// The compile-time check, once per distinct argument and return type (by its
/// spelling) and spanned on it, that it crosses the wire (`WireType`): the one error a
/// type that cannot reports, on the type rather than on generated code.
pub(super) fn wire_checks(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let mut types = Vec::new();
    if let Constructor::Function { args, err, .. } = &model.constructor {
        types.extend(args.iter().map(|a| &a.ty));
        types.extend(err.as_deref());
    }
    for x in &model.methods {
        types.extend(x.args.iter().map(|a| &a.ty));
        match &x.ret {
            Return::Unit => {}
            Return::Value(t) => types.push(t),
            Return::Fallible { ok, err } => {
                types.push(ok);
                types.push(err);
            }
            Return::Stream { item, .. } => types.push(item),
        }
    }
    let mut seen = std::collections::HashSet::new();
    types.retain(|t| seen.insert(t.to_token_stream().to_string()));
    // In a trait, `Self` is each implementation: `Shared<Self>` is checked by
    // `__shared_interface`'s bound, where each implementation is named.
    let in_trait = matches!(model.item, Source::Trait(_));
    types.retain(|t| {
        !(in_trait
            && shared_inner(t).is_some_and(|inner| matches!(inner, syn::Type::Path(p) if p.path.is_ident("Self"))))
    });
    let checks = types.iter().map(|t| match shared_inner(t) {
        Some(inner) => {
            // `Self` means nothing outside the impl.
            let self_ty = &model.self_ty;
            let inner = match inner {
                syn::Type::Path(p) if p.path.is_ident("Self") => quote_spanned!(inner.span()=> #self_ty),
                _ => inner.to_token_stream(),
            };
            quote_spanned! {inner.span()=> #m::assert_shared_type::<#inner>(); }
        }
        None => quote_spanned! {t.span()=> #m::assert_wire_type::<#t>(); },
    });
    quote! {
        const _: fn() = || {
            #(#checks)*
        };
    }
}

/// The stand-in for a block with errors: `T::EXPOSED` and a `Dispatch` that does
/// nothing, so `register::<T>()` and the like report no second error. The build fails
/// on the block's errors, so none of it ever runs.
pub(crate) fn stub(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let (impl_generics, _, where_clause) = model.item.generics().split_for_impl();
    let dispatch = dispatch_stub(ty, &model.name.to_string(), model.item.generics(), m);
    quote! {
        #[automatically_derived]
        impl #impl_generics #ty #where_clause {
            /// The methods clients may call (Python's `exposed`), by exposed name.
            pub const EXPOSED: &'static [&'static str] = &[];
        }

        #dispatch
    }
}

/// A `Dispatch` for `ty` that does nothing, standing in for one a block with errors
/// would have generated.
pub(super) fn dispatch_stub(ty: &syn::Type, name: &str, generics: &syn::Generics, m: &TokenStream) -> TokenStream {
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let predicates = where_clause.into_iter().flat_map(|w| w.predicates.iter());
    let failed = format!("`{name}`'s #[shared] impl block does not compile");
    let error = quote!(#m::RemoteError::new(#m::RemoteErrorKind::NotExposed, #failed));
    quote! {
        #[automatically_derived]
        impl #impl_generics #m::Dispatch for #ty
        where
            #(#predicates,)*
            // Not a trivial bound, so a type that is not `Send` reports that once,
            // where it is used, not here too (as thiserror's fallback does).
            for<'__manager> #ty: ::core::marker::Send + ::core::marker::Sync + 'static,
        {
            fn shared_type_id() -> &'static str {
                ::core::concat!(::core::module_path!(), "::", #name)
            }

            fn methods() -> &'static [#m::MethodInfo] {
                &[]
            }

            fn construct(_: &[u8]) -> ::core::result::Result<Self, #m::RemoteError> {
                ::core::result::Result::Err(#error)
            }

            fn call_ref<'a>(&'a self, _: u32, _: &[u8]) -> #m::Outcome<'a> {
                #m::Outcome::Ready(::core::result::Result::Err(#error))
            }

            fn call_mut<'a>(&'a mut self, _: u32, _: &[u8]) -> #m::Outcome<'a> {
                #m::Outcome::Ready(::core::result::Result::Err(#error))
            }

            fn value_copy(&self) -> #m::CallResult {
                ::core::result::Result::Err(#error)
            }
        }
    }
}
