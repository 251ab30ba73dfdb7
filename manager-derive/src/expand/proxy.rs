//! The client side: `TProxy` (async) and `TBlockingProxy`.

use crate::model::{Constructor, Method, Return, SharedImpl};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

pub(crate) fn expand(model: &SharedImpl, m: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let name = &model.name;
    let proxy = format_ident!("{}Proxy", name);
    let blocking = format_ident!("{}BlockingProxy", name);
    let proxy_doc = format!(
        "A handle to a [`{name}`] living in a manager server: each method runs on the server and returns its \
         result. Clones share one reference; the object lives while any proxy (in any process) or name holds it."
    );
    let blocking_doc = format!(
        "[`{proxy}`] for code without an async runtime: every method blocks until the server answers. Get one from \
         a `manager_client::blocking::Client`."
    );
    let (ctor_params, ctor_args) = match &model.constructor {
        Constructor::Function { args, .. } => {
            let params: Vec<_> = args
                .iter()
                .map(|a| {
                    let (i, t) = (&a.ident, &a.ty);
                    quote!(#i: #t)
                })
                .collect();
            let idents: Vec<_> = args.iter().map(|a| a.ident.clone()).collect();
            (params, idents)
        }
        Constructor::Default => (Vec::new(), Vec::new()),
    };
    let ctor_what = format!("the constructor arguments of `{name}`");
    let async_methods = model.methods.iter().map(|x| async_method(model, x, m));
    let blocking_methods = model.methods.iter().map(|x| blocking_method(x, m));
    let debug_name = proxy.to_string();
    let blocking_debug_name = blocking.to_string();
    quote! {
        #[doc = #proxy_doc]
        #[derive(::core::clone::Clone)]
        pub struct #proxy {
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
                <#ty as #m::Dispatch>::shared_type_id()
            }
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
        impl #proxy {
            /// Creates a new object on the server and returns a proxy to it.
            pub async fn create<__ManagerC>(__manager_client: &__ManagerC, #(#ctor_params),*) -> ::core::result::Result<Self, #m::Error>
            where
                __ManagerC: #m::Connect + ?::core::marker::Sized,
            {
                let __manager_args = #m::encode_args(&(#(#ctor_args,)*), #ctor_what)?;
                #m::create::<Self, __ManagerC>(__manager_client, __manager_args).await
            }

            /// The object's token, to hand to another process (`client.attach(token)`).
            pub fn token(&self) -> #m::Token {
                self.handle.token()
            }

            /// The handle under the proxy: dynamic calls by name, value copies.
            pub fn handle(&self) -> &#m::Handle {
                &self.handle
            }

            #(#async_methods)*
        }

        #[doc = #blocking_doc]
        #[derive(::core::clone::Clone)]
        pub struct #blocking {
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
        impl #blocking {
            /// Creates a new object on the server and returns a proxy to it.
            pub fn create<__ManagerC>(__manager_client: &__ManagerC, #(#ctor_params),*) -> ::core::result::Result<Self, #m::Error>
            where
                __ManagerC: #m::BlockingConnect + ?::core::marker::Sized,
            {
                let __manager_exec = __manager_client.executor();
                let __manager_inner = #m::run(&__manager_exec, #proxy::create(__manager_client, #(#ctor_args),*))?;
                ::core::result::Result::Ok(#blocking { inner: __manager_inner, exec: __manager_exec })
            }

            /// The object's token, to hand to another process.
            pub fn token(&self) -> #m::Token {
                self.inner.token()
            }

            /// The async proxy inside.
            pub fn as_async(&self) -> &#proxy {
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

fn returns(x: &Method, m: &TokenStream) -> TokenStream {
    match &x.ret {
        Return::Unit => quote!(::core::result::Result<(), #m::Error>),
        Return::Value(t) => quote!(::core::result::Result<#t, #m::Error>),
        Return::Fallible { ok, err } => {
            quote!(::core::result::Result<::core::result::Result<#ok, #err>, #m::Error>)
        }
    }
}

fn async_method(model: &SharedImpl, x: &Method, m: &TokenStream) -> TokenStream {
    let ident = &x.ident;
    let docs = &x.docs;
    let exposed = &x.exposed;
    let (params, idents) = params(x);
    let ret = returns(x, m);
    let what_args = format!("the arguments of `{}::{}`", model.name, exposed.value());
    let what_ret = format!("the result of `{}::{}`", model.name, exposed.value());
    let finish = match &x.ret {
        Return::Unit => quote!(#m::finish::<()>(__manager_started, #what_ret).await),
        Return::Value(t) => quote!(#m::finish::<#t>(__manager_started, #what_ret).await),
        Return::Fallible { ok, err } => quote!(#m::finish_fallible::<#ok, #err>(__manager_started, #what_ret).await),
    };
    let note = format!("Runs `{}::{}` on the server.", model.name, ident);
    quote_spanned! {x.span=>
        #(#docs)*
        #[doc = ""]
        #[doc = #note]
        pub async fn #ident(&self, #(#params),*) -> #ret {
            const __MANAGER_ID: u32 = #m::method_id(#exposed);
            // The arguments are encoded (on the stack when small) and sent here; what
            // waits for the reply does not hold them.
            let __manager_started = #m::start(&self.handle, __MANAGER_ID, &(#(#idents,)*), #what_args);
            #finish
        }
    }
}

fn blocking_method(x: &Method, m: &TokenStream) -> TokenStream {
    let ident = &x.ident;
    let docs = &x.docs;
    let (params, idents) = params(x);
    let ret = returns(x, m);
    quote_spanned! {x.span=>
        #(#docs)*
        pub fn #ident(&self, #(#params),*) -> #ret {
            #m::run_call(&self.exec, self.inner.#ident(#(#idents),*))
        }
    }
}
