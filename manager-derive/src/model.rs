//! The model of a `#[shared]` impl block (or trait: `interface.rs` builds that one):
//! what the expansion needs, each part keeping its syntax for spans. Building it also
//! rejects what cannot be shared.

use crate::attr::{self, TypeOptions};
use crate::errors::Errors;
use crate::streams::{StreamKind, send_static, stream_return};
use crate::types::{check_owned, fallible, is_plain, is_unit};
use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ItemImpl, ItemTrait, LitStr, Pat, ReturnType, Signature, Type, Visibility,
};

/// A `#[shared]` impl block, or trait.
pub(crate) struct SharedImpl {
    /// The impl block or trait, with `#[shared(..)]` method attributes removed.
    pub(crate) item: Source,
    /// The type (`Counter`; `Self` in a trait).
    pub(crate) self_ty: Type,
    /// Its name, for generated names and messages (`Unnamed` when the type has none,
    /// which is an error).
    pub(crate) name: Ident,
    /// Whether `name` is the type's own, so the proxies can be named after it.
    pub(crate) named: bool,
    /// The proxies' visibility: `vis = ".."`, else `pub` (a trait's own, for a trait).
    pub(crate) vis: Visibility,
    /// Type-level options given on the impl.
    pub(crate) options: TypeOptions,
    /// Exposed methods, in declaration order.
    pub(crate) methods: Vec<Method>,
    /// How clients create one.
    pub(crate) constructor: Constructor,
    /// The signature of every method the proxies would have, as written (errors and
    /// all): when the block has an error, stand-in proxies keep these so calls to
    /// them report nothing more.
    pub(crate) signatures: Vec<Signature>,
}

/// What `#[shared]` was put on.
pub(crate) enum Source {
    /// A type's inherent impl block.
    Impl(ItemImpl),
    /// A trait: an interface, with no implementing type (see `interface.rs`).
    Trait(ItemTrait),
}

impl ToTokens for Source {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Source::Impl(item) => item.to_tokens(tokens),
            Source::Trait(item) => item.to_tokens(tokens),
        }
    }
}

impl Source {
    /// The impl's or trait's generic parameters.
    pub(crate) fn generics(&self) -> &syn::Generics {
        match self {
            Source::Impl(item) => &item.generics,
            Source::Trait(item) => &item.generics,
        }
    }
}

/// How `#[shared]` builds an object for `TProxy::create`.
pub(crate) enum Constructor {
    /// `pub fn new(..) -> Self` or `#[shared(constructor)]`; `err` is `E` for one
    /// returning `Result<Self, E>`, whose error surfaces typed on the creator.
    Function { name: Ident, args: Vec<Arg>, err: Option<Box<Type>> },
    /// No constructor: `Default::default()`.
    Default,
}

/// How a method borrows its object.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    Ref,
    Mut,
}

/// An exposed method.
pub(crate) struct Method {
    /// The Rust name (`incr`).
    pub(crate) ident: Ident,
    /// The wire name (`incr`, or the `rename`).
    pub(crate) exposed: LitStr,
    pub(crate) receiver: Receiver,
    pub(crate) is_async: bool,
    pub(crate) args: Vec<Arg>,
    pub(crate) ret: Return,
    /// The method's doc comments, for the proxy's methods.
    pub(crate) docs: Vec<syn::Attribute>,
    /// The signature's first token, for spans.
    pub(crate) span: Span,
}

/// An argument.
pub(crate) struct Arg {
    /// Its name in generated code: the user's when the pattern is a plain name.
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// What a method returns.
pub(crate) enum Return {
    /// Nothing.
    Unit,
    /// A value.
    Value(Box<Type>),
    /// `Result<T, E>`: `E` surfaces typed on the client.
    Fallible { ok: Box<Type>, err: Box<Type> },
    /// `impl Iterator<Item = T>` or `impl Stream<Item = T>`: a stream method, whose
    /// items the client reads as a `RemoteStream<T>` (see `streams.rs`).
    Stream { kind: StreamKind, item: Box<Type> },
}

impl SharedImpl {
    /// Builds the model, reporting into `errors` everything that cannot be shared. The
    /// model is complete either way: on errors, the expansion uses it for stand-ins.
    pub(crate) fn build(mut item: ItemImpl, options: TypeOptions, errors: &mut Errors) -> SharedImpl {
        let generic = !item.generics.params.is_empty() || item.generics.where_clause.is_some();
        if generic {
            errors.spanned(
                generics_node(&item.generics),
                "#[shared] does not support generic types: a server must know the concrete type it hosts",
            );
        }
        let self_ty = (*item.self_ty).clone();
        let name = match &self_ty {
            Type::Path(p) if p.qself.is_none() => match p.path.segments.last() {
                Some(seg) if seg.arguments.is_empty() || generic => Some(seg.ident.clone()),
                _ => None,
            },
            _ => None,
        };
        let named = name.is_some();
        let name = name.unwrap_or_else(|| {
            errors.spanned(&self_ty, "#[shared] needs a plain named type here (`impl Counter`)");
            Ident::new("Unnamed", self_ty.span())
        });
        let vis = options.vis.as_ref().map_or_else(|| syn::parse_quote!(pub), |(vis, _)| vis.clone());

        let mut methods = Vec::new();
        let mut signatures = Vec::new();
        let mut constructor = None;
        for impl_item in &mut item.items {
            let ImplItem::Fn(f) = impl_item else { continue };
            let opts = attr::take_method_options(&mut f.attrs, errors);
            let public = matches!(f.vis, Visibility::Public(_));
            let has_receiver = f.sig.receiver().is_some();
            if opts.constructor
                || (!has_receiver
                    && public
                    && f.sig.ident == "new"
                    && constructor.is_none()
                    && constructs(&f.sig, &name).is_some())
            {
                if let Some(c) = constructor_from(&f.sig, &f.sig, &name, constructor.is_some(), errors) {
                    constructor = Some(c);
                }
                continue;
            }
            if !public || opts.skip || !has_receiver {
                if let Some(meta) = &opts.rename_meta {
                    errors.spanned(
                        meta,
                        "`rename` applies to exposed methods only (`pub`, taking `&self` or `&mut self`)",
                    );
                }
                continue;
            }
            signatures.push(f.sig.clone());
            if let Some(m) = method(&f.sig, &f.attrs, opts.rename, errors) {
                if let (Return::Stream { .. }, ReturnType::Type(arrow, ty)) = (&m.ret, &f.sig.output) {
                    // The producer outlives the call: see `streams.rs`.
                    f.sig.output = ReturnType::Type(*arrow, Box::new(send_static(ty)));
                }
                methods.push(m);
            }
        }
        SharedImpl {
            item: Source::Impl(item),
            self_ty,
            name,
            named,
            vis,
            options,
            methods,
            constructor: constructor.unwrap_or(Constructor::Default),
            signatures,
        }
    }
}

/// What to underline for a generic item: its parameters, else its `where` clause.
pub(crate) fn generics_node(generics: &syn::Generics) -> proc_macro2::TokenStream {
    if generics.params.is_empty() { generics.where_clause.to_token_stream() } else { generics.to_token_stream() }
}

/// The constructor `sig` declares (`checked`: the signature its generics are judged by),
/// or `None` with its mistakes noted; `taken` when another method already is one.
pub(crate) fn constructor_from(
    sig: &Signature,
    checked: &Signature,
    name: &Ident,
    taken: bool,
    errors: &mut Errors,
) -> Option<Constructor> {
    if let Some(receiver) = sig.receiver() {
        errors.spanned(receiver, "a constructor takes no `self`");
        return None;
    }
    if taken {
        errors.spanned(sig, "only one method can be the #[shared] constructor");
        return None;
    }
    let Some(err) = constructs(sig, name) else {
        const MSG: &str = "a #[shared] constructor returns `Self`, or `Result<Self, E>` to fail with an error the \
                           creator gets typed";
        match &sig.output {
            ReturnType::Type(_, ty) => errors.spanned(ty, MSG),
            ReturnType::Default => errors.spanned(sig, MSG),
        }
        return None;
    };
    let args = args(sig, errors);
    reject_generics(checked, errors);
    if let Some(err) = &err {
        check_owned(err, "error type", &sig.ident, errors);
    }
    Some(Constructor::Function { name: sig.ident.clone(), args, err: err.map(Box::new) })
}

/// What a constructor returns: `Some(None)` for `Self`, `Some(Some(E))` for
/// `Result<Self, E>`, `None` for anything else.
pub(crate) fn constructs(sig: &Signature, name: &Ident) -> Option<Option<Type>> {
    let is_self = |ty: &Type| matches!(ty, Type::Path(p) if p.path.is_ident("Self") || p.path.is_ident(name));
    match &sig.output {
        ReturnType::Type(_, ty) if is_self(ty) => Some(None),
        ReturnType::Type(_, ty) => match fallible(ty) {
            Some((ok, err)) if is_self(&ok) => Some(Some(err)),
            _ => None,
        },
        ReturnType::Default => None,
    }
}

/// `T` of a `Shared<T>` result (by its last path segment): a value the server hosts as
/// an object of its own, which the caller gets a proxy to.
pub(crate) fn shared_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Shared" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    match (types.next(), types.next()) {
        (Some(inner), None) => Some(inner),
        _ => None,
    }
}

/// The proxy type of `inner` (a `Shared<inner>` result), `suffix` `Proxy` or
/// `BlockingProxy`: the same path with the suffix on its last segment (`Self` is the
/// impl's type, `name`).
pub(crate) fn proxy_of(inner: &Type, name: &Ident, suffix: &str) -> Type {
    if let Type::Path(p) = inner
        && p.qself.is_none()
        && !p.path.is_ident("Self")
    {
        let mut p = p.clone();
        if let Some(last) = p.path.segments.last_mut() {
            last.ident = Ident::new(&format!("{}{suffix}", last.ident), last.ident.span());
            last.arguments = syn::PathArguments::None;
        }
        return Type::Path(p);
    }
    let ident = Ident::new(&format!("{name}{suffix}"), inner.span());
    syn::parse_quote!(#ident)
}

pub(crate) fn reject_generics(sig: &Signature, errors: &mut Errors) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            generics_node(&sig.generics),
            format!(
                "`{}` is generic, and generic methods cannot be shared: the server must know the concrete types; \
                 write one method per type, or hide it with #[shared(skip)]",
                sig.ident
            ),
        );
    }
}

pub(crate) fn method(
    sig: &Signature,
    attrs: &[Attribute],
    rename: Option<LitStr>,
    errors: &mut Errors,
) -> Option<Method> {
    let ident = sig.ident.clone();
    let receiver = match sig.receiver() {
        Some(r) if r.reference.is_some() && r.colon_token.is_none() => {
            if r.mutability.is_some() {
                Receiver::Mut
            } else {
                Receiver::Ref
            }
        }
        Some(r) => {
            errors.spanned(
                r,
                format!(
                    "`{ident}` takes `self` by value, which cannot be shared: the object stays on the server; \
                     take `&self` or `&mut self`, or hide it with #[shared(skip)]"
                ),
            );
            return None;
        }
        None => return None,
    };
    reject_generics(sig, errors);
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(unsafety, format!("`{ident}` is unsafe, and unsafe methods cannot be shared"));
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("`{ident}` has an explicit ABI, which cannot be shared"));
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, "variadic methods cannot be shared");
    }
    let args = args(sig, errors);
    let ret = match &sig.output {
        ReturnType::Default => Return::Unit,
        ReturnType::Type(_, ty) if stream_return(ty).is_some() => {
            let (kind, item) = stream_return(ty)?;
            if let Some(asyncness) = &sig.asyncness {
                errors.spanned(
                    asyncness,
                    format!(
                        "`{ident}` is async and returns a stream: async stream methods are not supported; make it \
                         a plain `fn` returning `impl Stream<Item = T>` (the stream may await)"
                    ),
                );
            }
            check_owned(&item, "item type", &ident, errors);
            if shared_inner(&item).is_some() {
                errors.spanned(
                    &item,
                    format!("`{ident}` streams `Shared<T>` items, which are not supported: stream the values instead"),
                );
            }
            Return::Stream { kind, item: Box::new(item) }
        }
        ReturnType::Type(_, ty) => {
            check_owned(ty, "return type", &ident, errors);
            match fallible(ty) {
                Some((ok, err)) => Return::Fallible { ok: Box::new(ok), err: Box::new(err) },
                None if is_unit(ty) => Return::Unit,
                None => Return::Value(ty.clone()),
            }
        }
    };
    let docs = attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
    Some(Method {
        exposed: rename.unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span())),
        ident,
        receiver,
        is_async: sig.asyncness.is_some(),
        args,
        ret,
        docs,
        span: sig.span(),
    })
}

pub(crate) fn args(sig: &Signature, errors: &mut Errors) -> Vec<Arg> {
    let mut out = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(pt) = input else { continue };
        check_owned(&pt.ty, "argument", &sig.ident, errors);
        let ident = match &*pt.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => pi.ident.clone(),
            _ => Ident::new(&format!("arg{i}"), pt.pat.span()),
        };
        out.push(Arg { ident, ty: (*pt.ty).clone() });
    }
    out
}

impl Method {
    /// Whether it is a stream method.
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.ret, Return::Stream { .. })
    }

    /// Whether a call may hold proxies or host objects: not every argument and result
    /// type is plain ([`is_plain`]).
    pub(crate) fn hosted(&self) -> bool {
        let ret_plain = match &self.ret {
            Return::Unit => true,
            Return::Value(t) => is_plain(t),
            Return::Fallible { ok, err } => is_plain(ok) && is_plain(err),
            Return::Stream { item, .. } => is_plain(item),
        };
        !(ret_plain && self.args.iter().all(|a| is_plain(&a.ty)))
    }
}
