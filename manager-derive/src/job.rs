//! `#[job]`: a plain `fn` made runnable by a process pool. The function stays as it is;
//! a braced struct of the same name (the type namespace only, so both live side by
//! side) implements `manager_proto::pool::Job`: its name, its argument (the single
//! argument's type, or a tuple), its output, and `run`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{FnArg, ItemFn, LitStr, ReturnType, Type};

use crate::fallback::with_errors;
use crate::krate::proto_path;

/// The options: `name = ".."` (the wire name) and `crate = ".."` (the protocol crate).
#[derive(Default)]
struct Options {
    name: Option<LitStr>,
    krate: Option<syn::Path>,
}

fn options(args: TokenStream) -> syn::Result<Options> {
    let mut opts = Options::default();
    if args.is_empty() {
        return Ok(opts);
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let lit: LitStr = meta.value()?.parse()?;
            if lit.value().is_empty() {
                return Err(syn::Error::new_spanned(&lit, "#[job(name = \"..\")]: the name must not be empty"));
            }
            opts.name = Some(lit);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let lit: LitStr = meta.value()?.parse()?;
            opts.krate = Some(lit.parse()?);
            Ok(())
        } else {
            Err(meta.error("unknown #[job] option: expected `name = \"..\"` or `crate = \"..\"`"))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(opts)
}

/// Rejects what a job cannot be, spanned on the offending part.
fn validate(f: &ItemFn) -> syn::Result<()> {
    let sig = &f.sig;
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            a,
            "#[job] functions cannot be `async`: a worker runs jobs one at a time on its own thread; \
             block inside the job (e.g. with a runtime of its own) instead",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "#[job] functions cannot be generic: a job is called by name from another process, so its \
             argument and result types must be concrete (write one job per type)",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(v, "#[job] functions cannot be variadic"));
    }
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[job] goes on a free function, not a method: a job has no `self` (write a plain `fn`)",
                ));
            }
            FnArg::Typed(t) => check_owned(&t.ty)?,
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_owned(ty)?;
    }
    Ok(())
}

/// Arguments and results cross the wire: owned types only.
fn check_owned(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(r) => Err(syn::Error::new_spanned(
            r,
            "#[job] arguments and results cross the wire, so they must be owned: take `String` rather than \
             `&str`, `Vec<T>` rather than `&[T]`",
        )),
        Type::ImplTrait(t) => Err(syn::Error::new_spanned(
            t,
            "#[job] arguments and results must be concrete types (`impl Trait` cannot be named by the pool)",
        )),
        _ => Ok(()),
    }
}

/// `#[job]` on `input`.
pub(crate) fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let f: ItemFn = match syn::parse2(input.clone()) {
        Ok(f) => f,
        Err(e) => {
            let e = syn::Error::new(e.span(), "#[job] goes on a plain `fn` (e.g. `#[job] fn square(x: u64) -> u64`)");
            return with_errors(input, e);
        }
    };
    match options(args).and_then(|o| validate(&f).map(|()| o)).and_then(|o| expand(&f, o)) {
        Ok(out) => out,
        Err(e) => with_errors(&f, e),
    }
}

fn expand(f: &ItemFn, opts: Options) -> syn::Result<TokenStream> {
    let proto = proto_path(opts.krate.as_ref())?;
    let ident = &f.sig.ident;
    let vis = &f.vis;
    let wire_name = opts.name.map_or_else(|| ident.to_string(), |l| l.value());
    let types: Vec<&Type> = f
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(&*t.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let names: Vec<_> = (0..types.len()).map(|i| format_ident!("__job_arg{}", i)).collect();
    let (args_ty, unpack) = match (types.as_slice(), names.as_slice()) {
        ([ty], [name]) => (quote!(#ty), quote!(let #name = args;)),
        _ => (quote!((#(#types,)*)), quote!(let (#(#names,)*) = args;)),
    };
    let output = match &f.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let doc = format!("The pool job `{wire_name}` (made by `#[job]` from the function of the same name).");
    let span = ident.span();
    let marker = quote::quote_spanned!(span=> #[allow(non_camel_case_types)]);
    Ok(quote! {
        #f

        #[doc = #doc]
        #marker
        #[derive(Debug, Clone, Copy)]
        #vis struct #ident {}

        #[automatically_derived]
        impl #proto::__private::v1::Job for #ident {
            const NAME: &'static str = #wire_name;
            type Args = #args_ty;
            type Output = #output;
            fn run(args: Self::Args) -> Self::Output {
                #unpack
                #ident(#(#names),*)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_is_refused_with_a_clear_message() {
        let out = entry(
            quote!(),
            quote!(
                fn f(&self, x: u64) -> u64 {
                    x
                }
            ),
        )
        .to_string();
        assert!(out.contains("not a method"), "{out}");
    }
}
