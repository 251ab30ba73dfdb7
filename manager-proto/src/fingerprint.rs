//! Fingerprints: what two processes must agree on about a shared object beyond its type
//! id, so that a proxy is refused before it writes or reads bytes the other side would
//! decode as something else (postcard is not self-describing: a `u64` 7 reads back as
//! the `i64` -4).
//!
//! The creator of an object gives it a fingerprint; the server keeps it with the object
//! and returns it with every reference it hands out (`Response::Object`); a client
//! checks it against its proxy's before it hands the proxy out. An empty fingerprint
//! checks nothing: objects made without one (the standalone server's `--named`,
//! `ServerBuilder::named_builtin`) accept any proxy of their type.
//!
//! Two forms, told apart by how they start:
//! - a built-in's element types: `Kind<T, ..>` with each `T` as
//!   [`std::any::type_name`] spells it, e.g. `Value<alloc::string::String>`
//!   ([`elements`]). Compared exactly. `type_name` is the same for two binaries built
//!   from the same source by the same toolchain; it is not promised across compiler
//!   releases, so processes sharing typed objects should be built together.
//! - a `#[shared]` type's interface, one line per item: first its constructor as
//!   `new(args)`, then each exposed method as `fn name(args) -> ret`, types spelled as
//!   the source writes them (`#[shared]` derives it at compile time). Two interfaces
//!   agree when every method both have takes and returns the same types, and they have
//!   a method in common: a method only one side has is allowed (types may grow
//!   methods; calling one the server lacks fails with `NotExposed`).

use std::collections::BTreeMap;

/// Where a fingerprint is checked: creating an object also runs its constructor, so
/// the constructors must agree too; taking a reference to an existing one uses only
/// its methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// `Create`: the server checks the creating client's fingerprint.
    Create,
    /// `GetNamed`, `Incref`: the client checks the server's.
    Attach,
}

/// The fingerprint of a built-in proxy `kind<params..>`: `params` are
/// [`std::any::type_name`]s. No parameters, no fingerprint (the type id says it all).
///
/// ```
/// use manager_proto::fingerprint::elements;
/// assert_eq!(elements("Dict", &["alloc::string::String", "u32"]), "Dict<alloc::string::String, u32>");
/// assert_eq!(elements("Lock", &[]), "");
/// ```
pub fn elements(kind: &str, params: &[&str]) -> String {
    if params.is_empty() {
        return String::new();
    }
    format!("{kind}<{}>", params.join(", "))
}

/// A type name without its module paths, as users write it:
/// `alloc::vec::Vec<alloc::string::String>` is `Vec<String>`.
///
/// ```
/// use manager_proto::fingerprint::short_name;
/// assert_eq!(short_name("alloc::vec::Vec<alloc::string::String>"), "Vec<String>");
/// assert_eq!(short_name("Dict<(u8, my_app::jobs::Job)>"), "Dict<(u8, Job)>");
/// assert_eq!(short_name("integration_tests::Counter"), "Counter");
/// ```
pub fn short_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("::") {
        let (head, tail) = rest.split_at(at);
        // The identifier just before `::` is a path segment: drop it.
        out.push_str(head.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_'));
        rest = &tail[2..];
    }
    out.push_str(rest);
    out
}

/// Checks a proxy's fingerprint against an object's, both of type `type_id`: `Err`
/// with a message naming both sides as users know them. `object` is what the server
/// holds (for a built-in, what its creator gave), `proxy` what this side brings.
///
/// ```
/// use manager_proto::fingerprint::{Check, check, elements};
/// let held = elements("Value", &["i32"]);
/// let asked = elements("Value", &["alloc::string::String"]);
/// let err = check("value", &held, &asked, Check::Attach).unwrap_err();
/// assert_eq!(err, "a `Value<i32>` cannot be opened as a `Value<String>`");
/// assert!(check("value", "", &asked, Check::Attach).is_ok());
/// ```
pub fn check(type_id: &str, object: &str, proxy: &str, at: Check) -> Result<(), String> {
    if object.is_empty() || proxy.is_empty() || object == proxy {
        return Ok(());
    }
    match (Interface::parse(object), Interface::parse(proxy)) {
        (Some(server), Some(client)) => server.agrees_with(&client, &short_name(type_id), at),
        _ => {
            let (a, b) = (short_name(object), short_name(proxy));
            // Same short names (two `Job`s from different modules): show the paths.
            let (a, b) = if a == b { (object.to_owned(), proxy.to_owned()) } else { (a, b) };
            Err(format!("a `{a}` cannot be opened as a `{b}`"))
        }
    }
}

/// A `#[shared]` fingerprint, parsed: the constructor's line and each method's
/// signature by name.
struct Interface<'a> {
    constructor: &'a str,
    methods: BTreeMap<&'a str, &'a str>,
}

impl<'a> Interface<'a> {
    /// `None` unless `text` has the `#[shared]` form (it starts with `new(`).
    fn parse(text: &'a str) -> Option<Interface<'a>> {
        let mut lines = text.lines();
        let constructor = lines.next().filter(|l| l.starts_with("new("))?;
        let mut methods = BTreeMap::new();
        for line in lines {
            let sig = line.strip_prefix("fn ")?;
            let name = sig.split('(').next().unwrap_or(sig);
            methods.insert(name, sig);
        }
        Some(Interface { constructor, methods })
    }

    fn agrees_with(&self, client: &Interface<'_>, name: &str, at: Check) -> Result<(), String> {
        let mut differ: Vec<&str> = Vec::new();
        if at == Check::Create && self.constructor != client.constructor {
            differ.push("the constructor");
        }
        let mut common = 0usize;
        for (method, sig) in &self.methods {
            if let Some(theirs) = client.methods.get(method) {
                common += 1;
                if theirs != sig {
                    differ.push(*method);
                }
            }
        }
        if differ.is_empty() && (common > 0 || self.methods.is_empty() || client.methods.is_empty()) {
            return Ok(());
        }
        let why = if differ.is_empty() {
            "no method in common".to_owned()
        } else {
            format!("they differ in {}", differ.join(", "))
        };
        Err(format!(
            "the server's `{name}` has {}; this client's has {} ({why}): the two programs were built from different \
             sources, or the type's id was reused",
            self.describe(at),
            client.describe(at)
        ))
    }

    fn describe(&self, at: Check) -> String {
        let mut items: Vec<String> = Vec::new();
        if at == Check::Create {
            items.push(format!("constructor `{}`", short_name(self.constructor)));
        }
        let methods: Vec<String> = self.methods.values().map(|sig| format!("`{}`", short_name(sig))).collect();
        items.push(if methods.is_empty() {
            "no methods".to_owned()
        } else {
            format!("methods {}", methods.join(", "))
        });
        items.join(" and ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "new()\nfn add(i64) -> i64\nfn get() -> i64";
    const V2: &str = "new()\nfn add(i64) -> i64\nfn get() -> i64\nfn note(String)";
    const OTHER: &str = "new(u64)\nfn add(u64) -> u64\nfn get() -> i64";

    #[test]
    fn interfaces_that_grew_methods_agree() {
        assert_eq!(check("t::Evolving", V1, V2, Check::Attach), Ok(()));
        assert_eq!(check("t::Evolving", V2, V1, Check::Create), Ok(()));
    }

    #[test]
    fn a_method_with_other_types_is_named_with_both_sides() {
        let err = check("t::Counter", V1, OTHER, Check::Attach).unwrap_err();
        assert!(err.starts_with("the server's `Counter` has methods `add(i64) -> i64`, `get() -> i64`;"), "{err}");
        assert!(
            err.contains("this client's has methods `add(u64) -> u64`, `get() -> i64` (they differ in add)"),
            "{err}"
        );
        let err = check("t::Counter", V1, OTHER, Check::Create).unwrap_err();
        assert!(err.contains("they differ in the constructor, add"), "{err}");
    }

    #[test]
    fn interfaces_with_nothing_in_common_disagree() {
        let err = check("t::T", "new()\nfn a()", "new()\nfn b()", Check::Attach).unwrap_err();
        assert!(err.contains("no method in common"), "{err}");
    }

    #[test]
    fn element_types_are_shown_short_unless_only_their_paths_differ() {
        let err = check("queue", "Queue<a::Job>", "Queue<b::Job>", Check::Attach).unwrap_err();
        assert_eq!(err, "a `Queue<a::Job>` cannot be opened as a `Queue<b::Job>`");
    }
}
