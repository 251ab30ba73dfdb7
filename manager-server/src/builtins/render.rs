//! The built-ins' renderings for `Inspect`: containers as Python's repr writes them,
//! their elements read as the types their fingerprint names
//! (`manager_proto::repr`); a container whose creator named no types (the standalone
//! server's `--named`) shows its length only.

use manager_proto::repr::{Repr, element};

/// `open` items `close` (`len` of them), each element read as `ty`; `<kind len=N>`
/// without a type (empty, it needs none).
pub(crate) fn sequence<'a>(
    out: &mut Repr,
    kind: &str,
    (open, close): (&str, &str),
    ty: Option<&str>,
    (len, items): (usize, impl Iterator<Item = &'a [u8]>),
) {
    let Some(ty) = ty.filter(|_| len > 0) else {
        return if len == 0 { out.push(&format!("{open}{close}")) } else { untyped(out, kind, len) };
    };
    out.push(open);
    for (i, bytes) in items.enumerate() {
        if out.is_full() {
            out.cut();
            return;
        }
        if i > 0 {
            out.push(", ");
        }
        element(ty, bytes, out);
    }
    out.push(close);
}

/// `{k: v, ..}`, keys and values read as `types`' first two; `<kind len=N>` without.
pub(crate) fn pairs<'a>(
    out: &mut Repr,
    kind: &str,
    types: &[&str],
    (len, items): (usize, impl Iterator<Item = (&'a [u8], &'a [u8])>),
) {
    let ([k, v, ..], 1..) = (types, len) else {
        return if len == 0 { out.push("{}") } else { untyped(out, kind, len) };
    };
    out.push("{");
    for (i, (key, value)) in items.enumerate() {
        if out.is_full() {
            out.cut();
            return;
        }
        if i > 0 {
            out.push(", ");
        }
        element(k, key, out);
        out.push(": ");
        element(v, value, out);
    }
    out.push("}");
}

/// `<kind len=N>`: a container whose element types are unknown.
pub(crate) fn untyped(out: &mut Repr, kind: &str, len: usize) {
    out.push(&format!("<{kind} len={len}>"));
}
