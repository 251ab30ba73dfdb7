//! Stream methods (see `streams.rs`), both sides: the server's `Dispatch::open_ref` and
//! `open_mut` arms, which run the method and make its result a producer, and the
//! proxies' methods, which open the stream and return it unawaited (`RemoteStream<T>`,
//! or a `BlockingStream` of it).

use crate::model::{Method, Receiver, Return, SharedImpl};
use crate::streams::StreamKind;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

/// The dispatch on a method id for stream methods taking `receiver`; `this` is the
/// object.
pub(super) fn open_arms(model: &SharedImpl, m: &TokenStream, receiver: Receiver, this: &TokenStream) -> TokenStream {
    let ty = &model.self_ty;
    let methods: Vec<_> = model.methods.iter().filter(|x| x.receiver == receiver && x.is_stream()).collect();
    let consts = methods.iter().map(|x| {
        let c = super::id_const(model, x);
        let exposed = &x.exposed;
        quote!(const #c: u32 = #m::method_id(#exposed);)
    });
    let arms = methods.iter().map(|x| {
        let Return::Stream { kind, item } = &x.ret else { return quote!() };
        let c = super::id_const(model, x);
        let ident = &x.ident;
        let idents: Vec<_> = x.args.iter().map(|a| &a.ident).collect();
        let types: Vec<_> = x.args.iter().map(|a| &a.ty).collect();
        let what_args = format!("the arguments of `{}::{}`", model.name, x.exposed.value());
        let what_items = format!("an item of `{}::{}`", model.name, x.exposed.value());
        let make = match kind {
            StreamKind::Iter => quote!(source_of_iter),
            StreamKind::Stream => quote!(source_of_stream),
        };
        quote_spanned! {x.span=>
            #c => {
                let (#(#idents,)*): (#(#types,)*) =
                    (&#m::Wire::<(#(#types,)*)>::new()).decode_args(args, #what_args)?;
                let value = <#ty>::#ident(#this, #(#idents),*);
                (&#m::Items::<(#(#types,)*), #item>::new()).#make(value, #what_items)
            }
        }
    });
    let kind = match receiver {
        Receiver::Ref => "&self",
        Receiver::Mut => "&mut self",
    };
    let unknown = format!("`{}` has no {kind} stream method with id {{:#010x}}", model.name);
    quote! {
        #(#consts)*
        match method {
            #(#arms)*
            _ => ::core::result::Result::Err(#m::RemoteError::new(
                #m::RemoteErrorKind::NotExposed,
                ::std::format!(#unknown, method),
            )),
        }
    }
}

/// The async proxy's method for stream method `x`: opens it, and returns the stream.
pub(super) fn async_method(model: &SharedImpl, x: &Method, m: &TokenStream) -> TokenStream {
    let Return::Stream { item, .. } = &x.ret else { return quote!() };
    let ident = &x.ident;
    let docs = &x.docs;
    let exposed = &x.exposed;
    let vis = &model.vis;
    let params = x.args.iter().map(|a| {
        let (i, t) = (&a.ident, &a.ty);
        quote!(#i: #t)
    });
    let idents: Vec<_> = x.args.iter().map(|a| &a.ident).collect();
    let types: Vec<_> = x.args.iter().map(|a| &a.ty).collect();
    let what_args = format!("the arguments of `{}::{}`", model.name, exposed.value());
    let what_items = format!("an item of `{}::{}`", model.name, exposed.value());
    let note = format!(
        "Runs `{}::{}` on the server and streams its items: they come as the stream is read, \
         and dropping it before its end stops the server's producer.",
        model.name, ident
    );
    quote_spanned! {x.span=>
        #(#docs)*
        #[doc = ""]
        #[doc = #note]
        #vis fn #ident(&self, #(#params),*) -> #m::RemoteStream<#item> {
            #[allow(unused_imports)]
            use #m::{WireViaSerde as _, WireUnchecked as _, ItemsViaSerde as _, ItemsUnchecked as _};
            const __MANAGER_ID: u32 = #m::method_id(#exposed);
            (&#m::Items::<(#(#types,)*), #item>::new())
                .open(&self.handle, __MANAGER_ID, &(#(#idents,)*), #what_args, #what_items)
        }
    }
}

/// The blocking proxy's method for stream method `x`: the async one's stream, read as
/// an iterator.
pub(super) fn blocking_method(model: &SharedImpl, x: &Method, m: &TokenStream) -> TokenStream {
    let Return::Stream { item, .. } = &x.ret else { return quote!() };
    let ident = &x.ident;
    let docs = &x.docs;
    let vis = &model.vis;
    let params = x.args.iter().map(|a| {
        let (i, t) = (&a.ident, &a.ty);
        quote!(#i: #t)
    });
    let idents: Vec<_> = x.args.iter().map(|a| &a.ident).collect();
    quote_spanned! {x.span=>
        #(#docs)*
        #vis fn #ident(&self, #(#params),*) -> #m::BlockingStream<#m::RemoteStream<#item>> {
            #m::BlockingStream::new(self.inner.#ident(#(#idents),*), ::core::clone::Clone::clone(&self.exec))
        }
    }
}

/// `watch()` on the async proxy of a `#[shared(watch)]` type.
pub(super) fn async_watch(model: &SharedImpl, m: &TokenStream) -> Option<TokenStream> {
    model.options.watch.as_ref()?;
    let vis = &model.vis;
    let doc = format!(
        "Watches the `{}`: its version, then one `Called` (the method's name) per `&mut self` call \
         on it, from any client, in the order the server ran them, each with the next version. A \
         watcher that falls behind gets `Lagged {{ missed }}` and the version again; dropping the \
         stream ends the subscription (see `manager_client::watch`).",
        model.name
    );
    Some(quote! {
        #[doc = #doc]
        #vis fn watch(&self) -> #m::RemoteStream<#m::SharedWatch> {
            const __MANAGER_ID: u32 = #m::method_id(#m::WATCH_METHOD);
            #m::RemoteStream::new(
                self.handle.open_with(#m::MethodRef::Id(__MANAGER_ID), &(), "the arguments of watch"),
                "a watch event",
            )
        }
    })
}

/// `watch()` on the blocking proxy of a `#[shared(watch)]` type.
pub(super) fn blocking_watch(model: &SharedImpl, m: &TokenStream) -> Option<TokenStream> {
    model.options.watch.as_ref()?;
    let vis = &model.vis;
    Some(quote! {
        /// Watches the object, as an iterator (see the async proxy's `watch`).
        #vis fn watch(&self) -> #m::BlockingStream<#m::RemoteStream<#m::SharedWatch>> {
            #m::BlockingStream::new(self.inner.watch(), ::core::clone::Clone::clone(&self.exec))
        }
    })
}
