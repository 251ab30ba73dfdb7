//! Stream methods: a method returning `impl Iterator<Item = T>` or `impl Stream<Item =
//! T>` is opened as a stream, its items sent as they are produced. The producer
//! outlives the call (and the object's lock), so the returned type must be `Send +
//! 'static`: the macro adds those bounds to the signature, and a body that borrows
//! `self` fails to compile there, on the method.

use syn::{Type, TypeParamBound};

/// Which trait a stream method's result implements.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// `impl Iterator<Item = T>`: produced on the connection's task, a batch at a time.
    Iter,
    /// `impl Stream<Item = T>` (`futures_core::Stream`): items as they become ready.
    Stream,
}

/// `(kind, T)` for a return type `impl Iterator<Item = T>` or `impl Stream<Item = T>`
/// (by the trait path's last segment; other bounds may follow).
pub(crate) fn stream_return(ty: &Type) -> Option<(StreamKind, Type)> {
    let Type::ImplTrait(it) = ty else { return None };
    it.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(t) = bound else { return None };
        let seg = t.path.segments.last()?;
        let kind = match seg.ident.to_string().as_str() {
            "Iterator" => StreamKind::Iter,
            "Stream" => StreamKind::Stream,
            _ => return None,
        };
        let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some((kind, assoc.ty.clone())),
            _ => None,
        })
    })
}

/// `ty` (an `impl Trait`) with `Send` and `'static` added unless it has them.
pub(crate) fn send_static(ty: &Type) -> Type {
    let Type::ImplTrait(it) = ty else { return ty.clone() };
    let mut it = it.clone();
    let has_send = it
        .bounds
        .iter()
        .any(|b| matches!(b, TypeParamBound::Trait(t) if t.path.segments.last().is_some_and(|s| s.ident == "Send")));
    let has_static = it.bounds.iter().any(|b| matches!(b, TypeParamBound::Lifetime(l) if l.ident == "static"));
    if !has_send {
        it.bounds.push(syn::parse_quote!(::core::marker::Send));
    }
    if !has_static {
        it.bounds.push(syn::parse_quote!('static));
    }
    Type::ImplTrait(it)
}
