//! The client side: `TProxy` (async) and `TBlockingProxy`.
//!
//! Both take the visibility `#[shared(vis = "..")]` gives, `pub` by default, and so do
//! their methods. They are generated API a program may use only part of, so they allow
//! `dead_code`.

use crate::model::{Constructor, Method, Return, SharedImpl, Source, proxy_of, shared_inner};
use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};

/// What the real proxies and the stand-ins differ in.
pub(super) struct Parts {
    /// The body of `Proxy::shared_type_id`.
    pub(super) type_id: TokenStream,
    /// `Proxy::fingerprint`, when the type has one (the stand-ins do not).
    pub(super) fingerprint: TokenStream,
    /// The constructor's parameters, `name: Type`, for `create`.
    pub(super) ctor_params: Vec<TokenStream>,
    /// The body of the async `create`.
    pub(super) create: TokenStream,
    /// What `create` returns on success: `Self`, or `Result<Self, E>` for a fallible
    /// constructor (`Self` there is either proxy).
    pub(super) create_ok: TokenStream,
    /// The blocking `create`'s body, from the async one's result `__manager_inner`.
    pub(super) blocking_create: TokenStream,
    /// The blocking `create` hands these to the async one.
    pub(super) ctor_args: Vec<Ident>,
    pub(super) async_methods: Vec<TokenStream>,
    pub(super) blocking_methods: Vec<TokenStream>,
}

pub(crate) fn expand(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let name = &model.name;
    let (ctor_params, ctor_args, ctor_types) = match &model.constructor {
        Constructor::Function { args, .. } => (
            args.iter()
                .map(|a| {
                    let (i, t) = (&a.ident, &a.ty);
                    quote!(#i: #t)
                })
                .collect(),
            args.iter().map(|a| a.ident.clone()).collect::<Vec<_>>(),
            args.iter().map(|a| &a.ty).collect::<Vec<_>>(),
        ),
        Constructor::Default => (Vec::new(), Vec::new(), Vec::new()),
    };
    let ctor_what = format!("the constructor arguments of `{name}`");
    let ctor_err = match &model.constructor {
        Constructor::Function { err: Some(err), .. } => Some(&**err),
        _ => None,
    };
    let created = match ctor_err {
        None => quote!(#m::create::<Self, __ManagerC>(__manager_client, __manager_args).await),
        Some(err) => {
            let what_err = format!("the error of the constructor of `{name}`");
            quote! {
                match #m::create::<Self, __ManagerC>(__manager_client, __manager_args).await {
                    ::core::result::Result::Ok(proxy) => ::core::result::Result::Ok(::core::result::Result::Ok(proxy)),
                    ::core::result::Result::Err(e) => {
                        let detail = #m::constructor_error(e)?;
                        (&#m::Wire::<#err>::new()).decode_error(&detail, #what_err).map(::core::result::Result::Err)
                    }
                }
            }
        }
    };
    let create = quote! {
        #[allow(unused_imports)]
        use #m::{WireViaSerde as _, WireUnchecked as _};
        // Kept until the object exists: a proxy among them holds its object alive.
        let __manager_kept = (#(#ctor_args,)*);
        let __manager_args = (&#m::Wire::<(#(#ctor_types,)*)>::new()).encode_args(&__manager_kept, #ctor_what)?;
        #created
    };
    let (create_ok, blocking_create) = create_results(ctor_err);
    // An impl block's proxies take the type's identity from its `Dispatch`; an
    // interface's have no type to ask, and spell it themselves.
    let (type_id, fingerprint) = match &model.item {
        Source::Impl(_) => {
            (quote!(<#ty as #m::Dispatch>::shared_type_id()), quote!(<#ty as #m::Dispatch>::fingerprint()))
        }
        Source::Trait(_) => {
            let fingerprint = super::fingerprint::of(model);
            (super::dispatcher::type_id(model, m), quote!(#fingerprint))
        }
    };
    let parts = Parts {
        type_id,
        fingerprint: quote! {
            fn fingerprint() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(#fingerprint)
            }
        },
        ctor_params,
        create,
        create_ok,
        blocking_create,
        ctor_args,
        async_methods: model
            .methods
            .iter()
            .map(|x| match x.ret {
                Return::Stream { .. } => super::stream_methods::async_method(model, x, m),
                _ => async_method(model, x, m),
            })
            .chain(super::stream_methods::async_watch(model, m))
            .collect(),
        blocking_methods: model
            .methods
            .iter()
            .map(|x| match x.ret {
                Return::Stream { .. } => super::stream_methods::blocking_method(model, x, m),
                _ => blocking_method(model, x, m),
            })
            .chain(super::stream_methods::blocking_watch(model, m))
            .collect(),
    };
    skeleton(model, m, parts)
}

/// `create`'s success type and the blocking `create`'s body, for a constructor that
/// fails with `err` or cannot fail.
pub(super) fn create_results(err: Option<&syn::Type>) -> (TokenStream, TokenStream) {
    match err {
        None => {
            (quote!(Self), quote!(::core::result::Result::Ok(Self { inner: __manager_inner, exec: __manager_exec })))
        }
        Some(err) => (
            quote!(::core::result::Result<Self, #err>),
            quote!(::core::result::Result::Ok(__manager_inner.map(|inner| Self { inner, exec: __manager_exec }))),
        ),
    }
}

pub(super) fn skeleton(model: &SharedImpl, m: &TokenStream, parts: Parts) -> TokenStream {
    let Parts {
        type_id,
        fingerprint,
        ctor_params,
        create,
        create_ok,
        blocking_create,
        ctor_args,
        async_methods,
        blocking_methods,
    } = parts;
    let name = &model.name;
    let vis = &model.vis;
    let proxy = format_ident!("{}Proxy", name);
    let blocking = format_ident!("{}BlockingProxy", name);
    let what = match &model.item {
        Source::Impl(_) => format!("a [`{name}`]"),
        Source::Trait(_) => format!("an object implementing [`{name}`]"),
    };
    let proxy_doc = format!(
        "A handle to {what} living in a manager server: each method runs on the server and returns its result. \
         Clones share one reference; the object lives while any proxy (in any process) or name holds it."
    );
    let blocking_doc = format!(
        "[`{proxy}`] for code without an async runtime: every method blocks until the server answers. Get one from \
         a `manager_client::blocking::Client`."
    );
    let debug_name = proxy.to_string();
    let blocking_debug_name = blocking.to_string();
    quote! {
        #[doc = #proxy_doc]
        #[derive(::core::clone::Clone)]
        #[allow(dead_code)]
        #vis struct #proxy {
            handle: #m::Handle,
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #proxy {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_tuple(#debug_name).field(&self.handle).finish()
            }
        }

        #[automatically_derived]
        impl #m::Proxy for #proxy {
            fn shared_type_id() -> &'static str {
                #type_id
            }
            #fingerprint
            fn from_handle(handle: #m::Handle) -> Self {
                #proxy { handle }
            }
            fn handle(&self) -> &#m::Handle {
                &self.handle
            }
        }

        /// Stored in a shared container, a proxy travels as its token and comes back as a
        /// working proxy (the container keeps the object alive meanwhile).
        #[automatically_derived]
        impl #m::serde::Serialize for #proxy {
            fn serialize<__ManagerS>(&self, serializer: __ManagerS) -> ::core::result::Result<__ManagerS::Ok, __ManagerS::Error>
            where
                __ManagerS: #m::serde::Serializer,
            {
                #m::serialize_handle(&self.handle, serializer)
            }
        }

        #[automatically_derived]
        impl<'de> #m::serde::Deserialize<'de> for #proxy {
            fn deserialize<__ManagerD>(deserializer: __ManagerD) -> ::core::result::Result<Self, __ManagerD::Error>
            where
                __ManagerD: #m::serde::Deserializer<'de>,
            {
                #m::deserialize_proxy::<Self, __ManagerD>(deserializer)
            }
        }

        #[automatically_derived]
        #[allow(dead_code)]
        impl #proxy {
            /// Creates a new object on the server and returns a proxy to it.
            #vis async fn create<__ManagerC>(__manager_client: &__ManagerC, #(#ctor_params),*) -> ::core::result::Result<#create_ok, #m::Error>
            where
                __ManagerC: #m::Connect + ?::core::marker::Sized,
            {
                #create
            }

            /// The object's token, to hand to another process (`client.attach(token)`).
            #vis fn token(&self) -> #m::Token {
                self.handle.token()
            }

            /// The handle under the proxy: dynamic calls by name, value copies.
            #vis fn handle(&self) -> &#m::Handle {
                &self.handle
            }

            #(#async_methods)*
        }

        #[doc = #blocking_doc]
        #[derive(::core::clone::Clone)]
        #[allow(dead_code)]
        #vis struct #blocking {
            inner: #proxy,
            exec: #m::Executor,
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for #blocking {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_tuple(#blocking_debug_name).field(&self.inner.handle).finish()
            }
        }

        #[automatically_derived]
        impl #m::BlockingProxy for #blocking {
            type Async = #proxy;
            fn from_async(inner: #proxy, exec: #m::Executor) -> Self {
                #blocking { inner, exec }
            }
            fn as_async(&self) -> &#proxy {
                &self.inner
            }
        }

        #[automatically_derived]
        #[allow(dead_code)]
        impl #blocking {
            /// Creates a new object on the server and returns a proxy to it.
            #vis fn create<__ManagerC>(__manager_client: &__ManagerC, #(#ctor_params),*) -> ::core::result::Result<#create_ok, #m::Error>
            where
                __ManagerC: #m::BlockingConnect + ?::core::marker::Sized,
            {
                let __manager_exec = __manager_client.executor();
                let __manager_inner = #m::run(&__manager_exec, #proxy::create(__manager_client, #(#ctor_args),*))?;
                #blocking_create
            }

            /// The object's token, to hand to another process.
            #vis fn token(&self) -> #m::Token {
                self.inner.token()
            }

            /// The async proxy inside.
            #vis fn as_async(&self) -> &#proxy {
                &self.inner
            }

            #(#blocking_methods)*
        }
    }
}

fn params(x: &Method) -> (Vec<TokenStream>, Vec<&syn::Ident>) {
    let params = x
        .args
        .iter()
        .map(|a| {
            let (i, t) = (&a.ident, &a.ty);
            quote!(#i: #t)
        })
        .collect();
    (params, x.args.iter().map(|a| &a.ident).collect())
}

/// What a proxy method's caller gets for a result of type `t`: a `Shared<T>` is a
/// proxy to the new object (`suffix`: `Proxy` or `BlockingProxy`).
fn client_type(model: &SharedImpl, t: &syn::Type, suffix: &str) -> TokenStream {
    match shared_inner(t) {
        Some(inner) => proxy_of(inner, &model.name, suffix).to_token_stream(),
        None => t.to_token_stream(),
    }
}

fn returns(model: &SharedImpl, x: &Method, m: &TokenStream, suffix: &str) -> TokenStream {
    match &x.ret {
        Return::Unit => quote!(::core::result::Result<(), #m::Error>),
        Return::Value(t) => {
            let t = client_type(model, t, suffix);
            quote!(::core::result::Result<#t, #m::Error>)
        }
        Return::Fallible { ok, err } => {
            let ok = client_type(model, ok, suffix);
            quote!(::core::result::Result<::core::result::Result<#ok, #err>, #m::Error>)
        }
        // Not reached: `stream_methods.rs` makes stream methods' proxies.
        Return::Stream { .. } => quote!(()),
    }
}

fn async_method(model: &SharedImpl, x: &Method, m: &TokenStream) -> TokenStream {
    let ident = &x.ident;
    let docs = &x.docs;
    let exposed = &x.exposed;
    let vis = &model.vis;
    let (params, idents) = params(x);
    let types: Vec<_> = x.args.iter().map(|a| &a.ty).collect();
    let ret = returns(model, x, m, "Proxy");
    let what_args = format!("the arguments of `{}::{}`", model.name, exposed.value());
    let what_ret = format!("the result of `{}::{}`", model.name, exposed.value());
    let hosted = x.hosted();
    let finish = match &x.ret {
        // Not reached: `stream_methods.rs` makes stream methods' proxies.
        Return::Stream { .. } => quote!(::core::unreachable!()),
        Return::Unit => {
            quote!((&#m::Wire::<()>::new()).decode_reply(&self.handle, __manager_reply, #what_ret, #hosted))
        }
        Return::Value(t) => {
            let t = client_type(model, t, "Proxy");
            quote!((&#m::Wire::<#t>::new()).decode_reply(&self.handle, __manager_reply, #what_ret, #hosted))
        }
        Return::Fallible { ok, err } => {
            let ok = client_type(model, ok, "Proxy");
            quote! {
                (&#m::Wire::<::core::result::Result<#ok, #err>>::new())
                    .decode_fallible(&self.handle, __manager_reply, #what_ret, #hosted)
            }
        }
    };
    let note = format!("Runs `{}::{}` on the server.", model.name, ident);
    quote_spanned! {x.span=>
        #(#docs)*
        #[doc = ""]
        #[doc = #note]
        #vis async fn #ident(&self, #(#params),*) -> #ret {
            #[allow(unused_imports)]
            use #m::{WireViaSerde as _, WireUnchecked as _, FallibleViaSerde as _, FallibleUnchecked as _};
            const __MANAGER_ID: u32 = #m::method_id(#exposed);
            // The arguments are encoded (on the stack when small) and sent here, and
            // kept until the reply (dropped after the tail expression): a proxy among
            // them holds its object alive for the call.
            let __manager_args = (#(#idents,)*);
            let __manager_started = (&#m::Wire::<(#(#types,)*)>::new())
                .start(&self.handle, __MANAGER_ID, &__manager_args, #what_args, #hosted);
            let __manager_reply = __manager_started.await;
            #finish
        }
    }
}

fn blocking_method(model: &SharedImpl, x: &Method, m: &TokenStream) -> TokenStream {
    let ident = &x.ident;
    let docs = &x.docs;
    let vis = &model.vis;
    let (params, idents) = params(x);
    let ret = returns(model, x, m, "BlockingProxy");
    let ok_is_shared = match &x.ret {
        Return::Value(t) => shared_inner(t).is_some().then_some(false),
        Return::Fallible { ok, .. } => shared_inner(ok).is_some().then_some(true),
        Return::Unit | Return::Stream { .. } => None,
    };
    // A proxy to a new object comes back blocking, on this proxy's executor.
    let wrap = quote!(|inner| #m::BlockingProxy::from_async(inner, ::core::clone::Clone::clone(&self.exec)));
    let map = match ok_is_shared {
        None => quote!(),
        Some(false) => quote!(.map(#wrap)),
        Some(true) => quote!(.map(|result| result.map(#wrap))),
    };
    quote_spanned! {x.span=>
        #(#docs)*
        #vis fn #ident(&self, #(#params),*) -> #ret {
            #m::run_call(&self.exec, self.inner.#ident(#(#idents),*))#map
        }
    }
}
