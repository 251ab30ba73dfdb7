//! The type's interface as a fingerprint (see `manager_proto::fingerprint`): its
//! constructor's argument types, then each exposed method's name, argument and return
//! types, spelled as the source writes them (a stream method's result as `stream of
//! T`). Computed here, at compile time, so two
//! programs built from the same source agree on it, and two whose `Counter` differ in
//! a method's types are refused before one writes what the other cannot read.

use crate::model::{Constructor, Return, SharedImpl};
use quote::ToTokens;
use syn::Type;

/// The fingerprint: `new(args)`, then one `fn name(args) -> ret` line per method.
pub(crate) fn of(model: &SharedImpl) -> String {
    let constructor = match &model.constructor {
        Constructor::Function { args, .. } => list(args.iter().map(|a| &a.ty)),
        Constructor::Default => String::new(),
    };
    let mut out = format!("new({constructor})");
    for method in &model.methods {
        let args = list(method.args.iter().map(|a| &a.ty));
        let ret = match &method.ret {
            Return::Unit => String::new(),
            Return::Value(t) => format!(" -> {}", spelled(t)),
            Return::Fallible { ok, err } => format!(" -> Result<{}, {}>", spelled(ok), spelled(err)),
            // Not Rust syntax, so no plain method's result is spelled so; an iterator
            // and a `Stream` method are one to a client.
            Return::Stream { item, .. } => format!(" -> stream of {}", spelled(item)),
        };
        out.push_str(&format!("\nfn {}({args}){ret}", method.exposed.value()));
    }
    out
}

fn list<'a>(types: impl Iterator<Item = &'a Type>) -> String {
    types.map(spelled).collect::<Vec<_>>().join(", ")
}

/// A type as written, without the spaces token printing puts around punctuation:
/// `Vec < u8 >` is `Vec<u8>`; `dyn Fn` keeps its space.
fn spelled(ty: &Type) -> String {
    let printed = ty.to_token_stream().to_string();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = printed.chars().collect();
    let mut out = String::with_capacity(printed.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied().is_some_and(word);
            let after = chars.get(i + 1).copied().is_some_and(word);
            if !(before && after) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::spelled;

    #[test]
    fn types_are_spelled_without_token_spacing() {
        let ty: syn::Type = syn::parse_quote!(std::collections::HashMap<String, Vec<(u8, [u16; 4])>>);
        assert_eq!(spelled(&ty), "std::collections::HashMap<String,Vec<(u8,[u16;4])>>");
        let ty: syn::Type = syn::parse_quote!(Box<dyn Fn(u8) -> u8 + Send>);
        assert_eq!(spelled(&ty), "Box<dyn Fn(u8)->u8+Send>");
    }
}
