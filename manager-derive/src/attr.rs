//! Parsing `#[shared(...)]` arguments, on the impl, the struct, and methods.

use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Attribute, LitStr, Meta, Path, Token};

/// Options on the impl block or the struct.
#[derive(Default)]
pub(crate) struct TypeOptions {
    /// `type_id = ".."`
    pub(crate) type_id: Option<LitStr>,
    /// `crate = "path"`
    pub(crate) krate: Option<Path>,
}

/// Options on one method.
#[derive(Default)]
pub(crate) struct MethodOptions {
    /// `skip`: not exposed even if `pub`.
    pub(crate) skip: bool,
    /// `rename = ".."`: the exposed name.
    pub(crate) rename: Option<LitStr>,
    /// `constructor`: how clients create the type.
    pub(crate) constructor: bool,
    /// The attribute, for spans of errors about it.
    pub(crate) span: Option<proc_macro2::Span>,
}

fn metas(tokens: proc_macro2::TokenStream) -> syn::Result<Punctuated<Meta, Token![,]>> {
    Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens)
}

fn string(meta: &Meta) -> syn::Result<LitStr> {
    match meta {
        Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Ok(s.clone()),
            other => Err(syn::Error::new_spanned(other, "expected a string literal")),
        },
        other => Err(syn::Error::new_spanned(other, "expected `name = \"...\"`")),
    }
}

/// Parses the arguments of `#[shared(..)]` on an impl block or a struct.
pub(crate) fn type_options(args: proc_macro2::TokenStream) -> syn::Result<TypeOptions> {
    let mut opts = TypeOptions::default();
    for meta in metas(args)? {
        if meta.path().is_ident("type_id") {
            let s = string(&meta)?;
            if s.value().is_empty() {
                return Err(syn::Error::new_spanned(&s, "the type id must not be empty"));
            }
            opts.type_id = Some(s);
        } else if meta.path().is_ident("crate") {
            let s = string(&meta)?;
            opts.krate = Some(s.parse()?);
        } else {
            return Err(syn::Error::new_spanned(
                meta.path(),
                "unknown #[shared] option here; expected `type_id = \"..\"` or `crate = \"..\"`",
            ));
        }
    }
    Ok(opts)
}

/// Takes the `#[shared(..)]` attributes off a method and parses them.
pub(crate) fn take_method_options(attrs: &mut Vec<Attribute>) -> syn::Result<MethodOptions> {
    let mut opts = MethodOptions::default();
    let mut error: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut error {
        Some(first) => first.combine(e),
        None => error = Some(e),
    };
    attrs.retain(|attr| {
        if !attr.path().is_ident("shared") {
            return true;
        }
        opts.span = Some(attr.path().segments[0].ident.span());
        let list = match &attr.meta {
            Meta::List(list) => list.tokens.clone(),
            other => {
                push(syn::Error::new_spanned(
                    other,
                    "expected `#[shared(skip)]`, `#[shared(rename = \"..\")]` or `#[shared(constructor)]`",
                ));
                return false;
            }
        };
        match metas(list) {
            Ok(metas) => {
                for meta in metas {
                    if meta.path().is_ident("skip") && matches!(meta, Meta::Path(_)) {
                        opts.skip = true;
                    } else if meta.path().is_ident("constructor") && matches!(meta, Meta::Path(_)) {
                        opts.constructor = true;
                    } else if meta.path().is_ident("rename") {
                        match string(&meta) {
                            Ok(s) if s.value().is_empty() => {
                                push(syn::Error::new_spanned(&s, "the exposed name must not be empty"))
                            }
                            Ok(s) => opts.rename = Some(s),
                            Err(e) => push(e),
                        }
                    } else {
                        push(syn::Error::new_spanned(
                            meta,
                            "unknown #[shared] option on a method; expected `skip`, `rename = \"..\"` or `constructor`",
                        ));
                    }
                }
            }
            Err(e) => push(e),
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(opts),
    }
}
