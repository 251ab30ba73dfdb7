//! Checks across methods: exposed names unique, their hashes too, and no clash with the
//! proxy's own items.

use crate::errors::Errors;
use crate::model::{Method, SharedImpl};
use std::collections::HashMap;

/// Names the generated proxies define themselves.
pub(crate) const RESERVED: &[&str] = &["create", "token", "handle", "from_handle", "as_async"];

/// The 32-bit FNV-1a hash `manager_proto::method_id` computes (duplicated here because
/// a proc-macro cannot call its runtime crate; the integration tests check they agree).
fn method_id(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

pub(crate) fn validate(model: &SharedImpl, errors: &mut Errors) {
    let mut names: HashMap<String, &Method> = HashMap::new();
    let mut ids: HashMap<u32, &syn::LitStr> = HashMap::new();
    for m in &model.methods {
        let rust_name = m.ident.to_string();
        if RESERVED.contains(&rust_name.as_str()) {
            errors.spanned(
                &m.ident,
                format!(
                    "`{rust_name}` would clash with the generated `{}Proxy::{rust_name}`; rename the method, or hide it \
                     with #[shared(skip)]",
                    model.name
                ),
            );
        }
        let name = m.exposed.value();
        if model.options.watch.is_some() && (name == "watch" || rust_name == "watch") {
            errors.spanned(
                &m.ident,
                "`watch` is the stream `#[shared(watch)]` gives the proxies; rename this method, or hide it with \
                 #[shared(skip)]",
            );
        }
        if let Some(first) = names.insert(name.clone(), m) {
            // One error, at the second; it names the first.
            errors.spanned(
                &m.exposed,
                format!(
                    "`{}` is exposed as `{name}`, and so is `{}` before it; rename one with #[shared(rename = \"..\")]",
                    m.ident, first.ident
                ),
            );
            continue;
        }
        if let Some(other) = ids.insert(method_id(&name), &m.exposed) {
            errors.spanned(
                &m.exposed,
                format!(
                    "the exposed names `{name}` and `{}` have the same method id; rename one with #[shared(rename = \"..\")]",
                    other.value()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv1a_reference_values() {
        assert_eq!(super::method_id(""), 0x811c_9dc5);
        assert_eq!(super::method_id("a"), 0xe40c_292c);
        assert_eq!(super::method_id("foobar"), 0xbf9c_f968);
    }
}
