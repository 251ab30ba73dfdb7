//! What a type must be to cross the wire, read from its syntax: owned (no references,
//! `impl Trait`, trait objects or pointers), and whether it is certainly plain (holds
//! no proxy).

use crate::errors::Errors;
use quote::ToTokens;
use syn::{Ident, Type};

/// `Result<T, E>` (by its last path segment, as `std::result::Result` or a plain
/// `Result`), split.
pub(crate) fn fallible(ty: &Type) -> Option<(Type, Type)> {
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

pub(crate) fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// Rejects references, `impl Trait` and trait objects anywhere in `ty`: what crosses
/// the wire is owned.
pub(crate) fn check_owned(ty: &Type, what: &str, method: &Ident, errors: &mut Errors) {
    /// The first offending node, whole (`&str`, not its `&`).
    #[derive(Default)]
    struct Finder {
        found: Option<(proc_macro2::TokenStream, &'static str)>,
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            self.found.get_or_insert((r.to_token_stream(), "a reference"));
        }
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.found.get_or_insert((t.to_token_stream(), "`impl Trait`"));
        }
        fn visit_type_trait_object(&mut self, t: &'ast syn::TypeTraitObject) {
            self.found.get_or_insert((t.to_token_stream(), "a trait object"));
        }
        fn visit_type_ptr(&mut self, t: &'ast syn::TypePtr) {
            self.found.get_or_insert((t.to_token_stream(), "a raw pointer"));
        }
    }
    let mut finder = Finder::default();
    syn::visit::Visit::visit_type(&mut finder, ty);
    if let Some((node, kind)) = finder.found {
        errors.spanned(
            node,
            format!(
                "the {what} of `{method}` contains {kind}, which cannot cross the wire: shared methods take and \
                 return owned values (`String` for `&str`, `Vec<T>` for `&[T]`, `T` for `&T`)"
            ),
        );
    }
}

/// Whether values of `ty` certainly hold no proxy (and no `Shared<T>`): built of
/// numbers, `bool`, `char`, `String`, the standard collections, tuples and arrays.
/// Calls whose arguments and result are all plain skip the hosting machinery; any other
/// type (a user's struct may hold a proxy) takes it.
pub(crate) fn is_plain(ty: &Type) -> bool {
    const PLAIN: &[&str] = &[
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "usize",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
        "isize",
        "f32",
        "f64",
        "bool",
        "char",
        "String",
        "Vec",
        "VecDeque",
        "Option",
        "Box",
        "HashMap",
        "BTreeMap",
        "HashSet",
        "BTreeSet",
        "Result",
        "std",
        "alloc",
        "core",
        "collections",
        "string",
        "vec",
        "option",
        "boxed",
        "result",
    ];
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.iter().all(|seg| {
            PLAIN.contains(&seg.ident.to_string().as_str())
                && match &seg.arguments {
                    syn::PathArguments::None => true,
                    syn::PathArguments::AngleBracketed(args) => args.args.iter().all(|a| match a {
                        syn::GenericArgument::Type(t) => is_plain(t),
                        _ => false,
                    }),
                    syn::PathArguments::Parenthesized(_) => false,
                }
        }),
        Type::Tuple(t) => t.elems.iter().all(is_plain),
        Type::Array(a) => is_plain(&a.elem),
        Type::Paren(p) => is_plain(&p.elem),
        Type::Group(g) => is_plain(&g.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain;

    #[test]
    fn plain_types_are_the_standard_ones_only() {
        let plain = |s: &str| is_plain(&syn::parse_str(s).unwrap());
        for ty in ["u64", "String", "Vec<(i32, String)>", "Option<std::collections::HashMap<String, [u8; 4]>>", "()"] {
            assert!(plain(ty), "{ty}");
        }
        for ty in ["CounterProxy", "Vec<Item>", "Option<DictProxy<String, u64>>", "Shared<Vector>", "Self"] {
            assert!(!plain(ty), "{ty}");
        }
    }
}
