//! The model of a `#[shared]` impl block: what the expansion needs, each part keeping
//! its syntax for spans. Building it also rejects what cannot be shared.

use crate::attr::{self, TypeOptions};
use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, ReturnType, Type, Visibility};

/// A `#[shared]` impl block.
pub(crate) struct SharedImpl {
    /// The impl block, with `#[shared(..)]` method attributes removed.
    pub(crate) item: ItemImpl,
    /// The type (`Counter`).
    pub(crate) self_ty: Type,
    /// Its name, for generated names and messages.
    pub(crate) name: Ident,
    /// Type-level options given on the impl.
    pub(crate) options: TypeOptions,
    /// Exposed methods, in declaration order.
    pub(crate) methods: Vec<Method>,
    /// How clients create one.
    pub(crate) constructor: Constructor,
}

/// How `#[shared]` builds an object for `TProxy::create`.
pub(crate) enum Constructor {
    /// `pub fn new(..) -> Self` or `#[shared(constructor)]`.
    Function { name: Ident, args: Vec<Arg> },
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
    /// The signature, for spans.
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
}

/// Collects errors so one pass reports them all.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl SharedImpl {
    /// Builds the model, or every error found (with the cleaned-up impl block, to emit
    /// next to them).
    pub(crate) fn build(mut item: ItemImpl, options: TypeOptions) -> Result<SharedImpl, Box<(syn::Error, ItemImpl)>> {
        let mut errors = Errors::default();
        if let Some((_, path, _)) = &item.trait_ {
            errors.at(
                path.span(),
                "#[shared] goes on the type's inherent impl block (`impl Counter { .. }`), not a trait impl",
            );
        }
        let generic = !item.generics.params.is_empty() || item.generics.where_clause.is_some();
        if generic {
            errors.at(
                item.generics.span(),
                "#[shared] does not support generic types: a server must know the concrete type it hosts",
            );
        }
        let self_ty = (*item.self_ty).clone();
        let name = match &self_ty {
            Type::Path(p) if p.qself.is_none() => match p.path.segments.last() {
                Some(seg) if seg.arguments.is_empty() => Some(seg.ident.clone()),
                _ => None,
            },
            _ => None,
        };
        let name = name.unwrap_or_else(|| {
            // A generic type was already reported; one error per mistake.
            if !generic {
                errors.at(self_ty.span(), "#[shared] needs a plain named type here (`impl Counter`)");
            }
            Ident::new("Unnamed", self_ty.span())
        });

        let mut methods = Vec::new();
        let mut constructor = None;
        for impl_item in &mut item.items {
            let ImplItem::Fn(f) = impl_item else { continue };
            let opts = match attr::take_method_options(&mut f.attrs) {
                Ok(o) => o,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let public = matches!(f.vis, Visibility::Public(_));
            let has_receiver = f.sig.receiver().is_some();
            if opts.constructor
                || (!has_receiver && public && f.sig.ident == "new" && constructor.is_none() && returns_self(f, &name))
            {
                if has_receiver {
                    errors.at(f.sig.ident.span(), "a constructor takes no `self`");
                    continue;
                }
                if constructor.is_some() {
                    errors.at(f.sig.ident.span(), "only one method can be the #[shared] constructor");
                    continue;
                }
                if !returns_self(f, &name) {
                    errors.at(f.sig.output.span(), "a #[shared] constructor returns `Self`");
                    continue;
                }
                let args = args(f, &mut errors);
                reject_generics(f, &mut errors);
                constructor = Some(Constructor::Function { name: f.sig.ident.clone(), args });
                continue;
            }
            if !public || opts.skip || !has_receiver {
                if let (Some(span), Some(_)) = (opts.span, &opts.rename) {
                    errors.at(span, "`rename` applies to exposed methods only (`pub`, taking `&self` or `&mut self`)");
                }
                continue;
            }
            if let Some(m) = method(f, opts.rename, &mut errors) {
                methods.push(m);
            }
        }
        let result = errors.finish();
        match result {
            Ok(()) => Ok(SharedImpl {
                item,
                self_ty,
                name,
                options,
                methods,
                constructor: constructor.unwrap_or(Constructor::Default),
            }),
            Err(e) => Err(Box::new((e, item))),
        }
    }
}

fn returns_self(f: &ImplItemFn, name: &Ident) -> bool {
    match &f.sig.output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.is_ident("Self") || p.path.is_ident(name),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

fn reject_generics(f: &ImplItemFn, errors: &mut Errors) {
    if !f.sig.generics.params.is_empty() || f.sig.generics.where_clause.is_some() {
        errors.at(
            f.sig.generics.span(),
            format!(
                "`{}` is generic, and generic methods cannot be shared: the server must know the concrete types; \
                 write one method per type, or hide it with #[shared(skip)]",
                f.sig.ident
            ),
        );
    }
}

fn method(f: &ImplItemFn, rename: Option<LitStr>, errors: &mut Errors) -> Option<Method> {
    let ident = f.sig.ident.clone();
    let receiver = match f.sig.receiver() {
        Some(r) if r.reference.is_some() && r.colon_token.is_none() => {
            if r.mutability.is_some() {
                Receiver::Mut
            } else {
                Receiver::Ref
            }
        }
        Some(r) => {
            errors.at(
                r.span(),
                format!(
                    "`{ident}` takes `self` by value, which cannot be shared: the object stays on the server; \
                     take `&self` or `&mut self`, or hide it with #[shared(skip)]"
                ),
            );
            return None;
        }
        None => return None,
    };
    reject_generics(f, errors);
    if let Some(unsafety) = &f.sig.unsafety {
        errors.at(unsafety.span(), format!("`{ident}` is unsafe, and unsafe methods cannot be shared"));
    }
    if let Some(abi) = &f.sig.abi {
        errors.at(abi.span(), format!("`{ident}` has an explicit ABI, which cannot be shared"));
    }
    if let Some(v) = &f.sig.variadic {
        errors.at(v.span(), "variadic methods cannot be shared");
    }
    let args = args(f, errors);
    let ret = match &f.sig.output {
        ReturnType::Default => Return::Unit,
        ReturnType::Type(_, ty) => {
            check_owned(ty, "return type", &ident, errors);
            match fallible(ty) {
                Some((ok, err)) => Return::Fallible { ok: Box::new(ok), err: Box::new(err) },
                None if is_unit(ty) => Return::Unit,
                None => Return::Value(ty.clone()),
            }
        }
    };
    let docs = f.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
    Some(Method {
        exposed: rename.unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span())),
        ident,
        receiver,
        is_async: f.sig.asyncness.is_some(),
        args,
        ret,
        docs,
        span: f.sig.span(),
    })
}

fn args(f: &ImplItemFn, errors: &mut Errors) -> Vec<Arg> {
    let mut out = Vec::new();
    for (i, input) in f.sig.inputs.iter().enumerate() {
        let FnArg::Typed(pt) = input else { continue };
        check_owned(&pt.ty, "argument", &f.sig.ident, errors);
        let ident = match &*pt.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => pi.ident.clone(),
            _ => Ident::new(&format!("arg{i}"), pt.pat.span()),
        };
        out.push(Arg { ident, ty: (*pt.ty).clone() });
    }
    out
}

/// `Result<T, E>` (by its last path segment, as `std::result::Result` or a plain
/// `Result`), split.
fn fallible(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(ok), Some(err), None) => Some((ok, err)),
        _ => None,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// Rejects references, `impl Trait` and trait objects anywhere in `ty`: what crosses
/// the wire is owned.
fn check_owned(ty: &Type, what: &str, method: &Ident, errors: &mut Errors) {
    struct Finder<'a> {
        found: Option<(Span, &'static str)>,
        _p: std::marker::PhantomData<&'a ()>,
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            self.found.get_or_insert((r.span(), "a reference"));
        }
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.found.get_or_insert((t.span(), "`impl Trait`"));
        }
        fn visit_type_trait_object(&mut self, t: &'ast syn::TypeTraitObject) {
            self.found.get_or_insert((t.span(), "a trait object"));
        }
        fn visit_type_ptr(&mut self, t: &'ast syn::TypePtr) {
            self.found.get_or_insert((t.span(), "a raw pointer"));
        }
    }
    let mut finder = Finder { found: None, _p: std::marker::PhantomData };
    syn::visit::Visit::visit_type(&mut finder, ty);
    if let Some((span, kind)) = finder.found {
        errors.at(
            span,
            format!(
                "the {what} of `{method}` contains {kind}, which cannot cross the wire: shared methods take and \
                 return owned values (`String` for `&str`, `Vec<T>` for `&[T]`, `T` for `&T`)"
            ),
        );
    }
}
