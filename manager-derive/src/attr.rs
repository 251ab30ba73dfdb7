//! Parsing `#[shared(...)]` arguments, on the impl, the struct, and methods.

use crate::errors::Errors;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Attribute, LitStr, Meta, Path, Token, Visibility};

/// Options on the impl block or the struct.
#[derive(Default)]
pub(crate) struct TypeOptions {
    /// `id = ".."` (or its older spelling `type_id = ".."`): the type's wire identity.
    pub(crate) type_id: Option<LitStr>,
    /// `crate = "path"`
    pub(crate) krate: Option<Path>,
    /// `vis = ".."`: the proxies' visibility (impl block only), and the option itself
    /// for errors.
    pub(crate) vis: Option<(Visibility, Meta)>,
    /// `watch`: every `&mut self` call is a change its proxies' `watch()` streams
    /// (impl block only), and the option itself for errors.
    pub(crate) watch: Option<Meta>,
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
    /// The `rename = ".."` option itself, for errors about it.
    pub(crate) rename_meta: Option<Meta>,
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

/// Parses the arguments of `#[shared(..)]` on an impl block or a struct: the options
/// that parse, and an error for each that does not (so one bad option reports one
/// error, and the others still apply).
pub(crate) fn type_options(args: proc_macro2::TokenStream, errors: &mut Errors) -> TypeOptions {
    let mut opts = TypeOptions::default();
    let metas = match metas(args) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(e);
            return opts;
        }
    };
    for meta in metas {
        let parsed = if meta.path().is_ident("id") || meta.path().is_ident("type_id") {
            string(&meta).and_then(|s| {
                if opts.type_id.is_some() {
                    return Err(syn::Error::new_spanned(&meta, "the type id is given twice; keep one `id = \"..\"`"));
                }
                type_id(&s)?;
                opts.type_id = Some(s);
                Ok(())
            })
        } else if meta.path().is_ident("crate") {
            string(&meta).and_then(|s| s.parse()).map(|path| opts.krate = Some(path))
        } else if meta.path().is_ident("watch") {
            match &meta {
                Meta::Path(_) => {
                    opts.watch = Some(meta.clone());
                    Ok(())
                }
                other => Err(syn::Error::new_spanned(other, "`watch` takes no value: write `#[shared(watch)]`")),
            }
        } else if meta.path().is_ident("vis") {
            string(&meta).and_then(|s| visibility(&s)).map(|vis| opts.vis = Some((vis, meta.clone())))
        } else {
            Err(syn::Error::new_spanned(
                meta.path(),
                "unknown #[shared] option here; expected `id = \"..\"`, `crate = \"..\"`, `vis = \"..\"` or `watch`",
            ))
        };
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    opts
}

/// Checks a type id: what clients and servers name the type by, so it must survive
/// being written in a message, a log line or a command line unchanged.
fn type_id(s: &LitStr) -> syn::Result<()> {
    let id = s.value();
    let bad = if id.is_empty() {
        Some("the type id must not be empty".to_owned())
    } else if let Some(c) = id.chars().find(|c| c.is_whitespace()) {
        Some(format!(
            "the type id must not contain whitespace (found {c:?}); use `::`, `.`, `-` or `_` to separate words"
        ))
    } else {
        id.chars().find(|c| c.is_control()).map(|c| format!("the type id must be printable (found {c:?})"))
    };
    match bad {
        Some(message) => Err(syn::Error::new_spanned(s, message)),
        None => Ok(()),
    }
}

/// The visibility in `vis = ".."`: Rust's syntax (`pub`, `pub(crate)`, `pub(super)`,
/// `pub(in path)`), or `""` or `pub(self)` for private.
fn visibility(s: &LitStr) -> syn::Result<Visibility> {
    let vis: Visibility = s.parse().map_err(|_| {
        syn::Error::new_spanned(
            s,
            "expected a visibility: `pub`, `pub(crate)`, `pub(super)`, `pub(in path)`, or `\"\"` for private",
        )
    })?;
    // `pub(self)` is private; written out, clippy would flag it in the generated code.
    Ok(match vis {
        Visibility::Restricted(r) if r.in_token.is_none() && r.path.is_ident("self") => Visibility::Inherited,
        vis => vis,
    })
}

/// Takes the `#[shared(..)]` attributes off a method and parses them: the options that
/// parse, and an error for each that does not (the method is then modelled with the
/// rest, so that code using it reports nothing more).
pub(crate) fn take_method_options(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> MethodOptions {
    let mut opts = MethodOptions::default();
    attrs.retain(|attr| {
        if !attr.path().is_ident("shared") {
            return true;
        }
        let list = match &attr.meta {
            Meta::List(list) => list.tokens.clone(),
            other => {
                errors.spanned(
                    other,
                    "expected `#[shared(skip)]`, `#[shared(rename = \"..\")]` or `#[shared(constructor)]`",
                );
                return false;
            }
        };
        let metas = match metas(list) {
            Ok(metas) => metas,
            Err(e) => {
                errors.push(e);
                return false;
            }
        };
        for meta in metas {
            if meta.path().is_ident("skip") && matches!(meta, Meta::Path(_)) {
                opts.skip = true;
            } else if meta.path().is_ident("constructor") && matches!(meta, Meta::Path(_)) {
                opts.constructor = true;
            } else if meta.path().is_ident("rename") {
                match string(&meta) {
                    Ok(s) if s.value().is_empty() => errors.spanned(&s, "the exposed name must not be empty"),
                    Ok(s) => {
                        opts.rename = Some(s);
                        opts.rename_meta = Some(meta);
                    }
                    Err(e) => errors.push(e),
                }
            } else {
                errors.spanned(
                    meta,
                    "unknown #[shared] option on a method; expected `skip`, `rename = \"..\"` or `constructor`",
                );
            }
        }
        false
    });
    opts
}
