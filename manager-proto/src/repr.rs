//! Renderings of stored elements like Python's repr, for `Inspect` (see
//! [`inspect`](crate::inspect)): bounded, and total on any bytes.
//!
//! A server stores elements as postcard bytes, which do not say their type; an object's
//! [fingerprint](crate::fingerprint) does (`Dict<alloc::string::String, u64>`). The
//! types `std::any::type_name` spells for strings, numbers, `bool`, `char`, `()`,
//! `Option`, `Vec`, tuples, and the standard maps and sets are read; any other type is
//! shown as `<Name>` and ends the rendering, since its size is unknown. Bytes that do
//! not decode as the type end it too. The type names come from a peer, so nesting is
//! bounded ([`MAX_DEPTH`]) and every element shown adds output, which is bounded.
//!
//! ```
//! use manager_proto::repr::{Repr, element, element_types};
//!
//! let types = element_types("Dict<alloc::string::String, u64>");
//! assert_eq!(types, ["alloc::string::String", "u64"]);
//! let mut out = Repr::new(75);
//! out.push("{");
//! element(types[0], &postcard::to_allocvec("a").unwrap(), &mut out);
//! out.push(": ");
//! element(types[1], &postcard::to_allocvec(&7u64).unwrap(), &mut out);
//! out.push("}");
//! assert_eq!(out.finish(), "{'a': 7}");
//! ```

use crate::fingerprint::short_name;

/// How deeply nested a type is read before the rendering gives up with `...`.
pub const MAX_DEPTH: usize = 16;

/// Output bounded to a number of characters: once full, pushes are dropped, and
/// [`finish`](Self::finish) cuts the text to end in `...` within the bound.
#[derive(Clone, Debug)]
pub struct Repr {
    out: String,
    /// Characters in `out`.
    chars: usize,
    max: usize,
    /// Something was dropped.
    cut: bool,
}

impl Repr {
    /// Empty, holding at most `max` characters (at least 3: the `...`).
    pub fn new(max: usize) -> Repr {
        Repr { out: String::new(), chars: 0, max: max.max(3), cut: false }
    }

    /// Appends `s`, or what fits of it.
    pub fn push(&mut self, s: &str) {
        for c in s.chars() {
            if self.chars >= self.max {
                self.cut = true;
                return;
            }
            self.out.push(c);
            self.chars += 1;
        }
    }

    /// Marks the rendering as incomplete (it ends in `...`).
    pub fn cut(&mut self) {
        self.cut = true;
    }

    /// Whether no more fits.
    pub fn is_full(&self) -> bool {
        self.cut || self.chars >= self.max
    }

    /// The text, ending in `...` if anything was dropped; at most `max` characters.
    pub fn finish(mut self) -> String {
        if self.cut {
            while self.chars + 3 > self.max {
                self.out.pop();
                self.chars -= 1;
            }
            self.out.push_str("...");
        }
        self.out
    }
}

/// The type parameters of a built-in's fingerprint (`Kind<A, B>`): `[A, B]`, as
/// written (full paths). Empty for no fingerprint.
pub fn element_types(fingerprint: &str) -> Vec<&str> {
    match fingerprint.split_once('<') {
        Some((_, rest)) => split_top(rest.strip_suffix('>').unwrap_or(rest)),
        None => Vec::new(),
    }
}

/// Renders the element `bytes`, of the type `type_name` spells, into `out`.
pub fn element(type_name: &str, bytes: &[u8], out: &mut Repr) {
    let short = short_name(type_name);
    let mut input = Input(bytes);
    if value(&short, &mut input, out, 0).is_none() {
        out.cut();
    }
}

/// Bytes being read; every read is checked.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u128> {
        let mut value: u128 = 0;
        for shift in (0..19).map(|i| i * 7) {
            let b = self.byte()?;
            value |= u128::from(b & 0x7f).checked_shl(shift)?;
            if b < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn signed(&mut self) -> Option<i128> {
        let v = self.varint()?;
        // Zigzag.
        let half = (v >> 1) as i128;
        Some(if v & 1 == 0 { half } else { -half - 1 })
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }
}

/// Splits `a, b<c, d>, (e, f)` at its top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        parts.push(last);
    }
    parts
}

/// `Name<params>` as its name and parameters.
fn generic(ty: &str) -> (&str, Vec<&str>) {
    match ty.split_once('<') {
        Some((name, rest)) if ty.ends_with('>') => (name, split_top(&rest[..rest.len() - 1])),
        _ => (ty, Vec::new()),
    }
}

/// Python's repr of a string: single quotes unless it holds one and no double quote.
fn string(s: &str, out: &mut Repr) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut buf = String::with_capacity(s.len().min(80) + 2);
    buf.push(quote);
    for c in s.chars() {
        if buf.len() > 4 * 80 {
            break;
        }
        match c {
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if c == quote => {
                buf.push('\\');
                buf.push(c);
            }
            c if c.is_control() => buf.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => buf.push(c),
        }
    }
    buf.push(quote);
    out.push(&buf);
}

fn float(v: f64, out: &mut Repr) {
    if v.is_nan() {
        out.push("nan");
    } else if v.is_infinite() {
        out.push(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        out.push(&format!("{v:?}"));
    }
}

/// Renders one value of type `ty` (short names); `None` when the bytes do not decode
/// or the type is not one this module reads (the caller marks the cut).
fn value(ty: &str, input: &mut Input<'_>, out: &mut Repr, depth: usize) -> Option<()> {
    if out.is_full() {
        out.cut();
        return Some(());
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    let ty = ty.trim();
    match ty {
        "String" | "&str" | "str" | "Cow<str>" | "Box<str>" | "Arc<str>" => {
            let n = input.len()?;
            string(std::str::from_utf8(input.take(n)?).ok()?, out);
        }
        "char" => {
            let n = input.len()?;
            let s = std::str::from_utf8(input.take(n)?).ok()?;
            string(s, out);
        }
        "bool" => match input.byte()? {
            0 => out.push("False"),
            1 => out.push("True"),
            _ => return None,
        },
        "u8" => out.push(&input.byte()?.to_string()),
        "i8" => out.push(&(input.byte()? as i8).to_string()),
        "u16" | "u32" | "u64" | "u128" | "usize" => out.push(&input.varint()?.to_string()),
        "i16" | "i32" | "i64" | "i128" | "isize" => out.push(&input.signed()?.to_string()),
        "f32" => float(f64::from(f32::from_le_bytes(input.take(4)?.try_into().ok()?)), out),
        "f64" => float(f64::from_le_bytes(input.take(8)?.try_into().ok()?), out),
        "()" => out.push("None"),
        _ if ty.starts_with('(') && ty.ends_with(')') => {
            let parts = split_top(&ty[1..ty.len() - 1]);
            out.push("(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                value(part, input, out, depth + 1)?;
            }
            out.push(if parts.len() == 1 { ",)" } else { ")" });
        }
        _ => {
            let (name, params) = generic(ty);
            match (name, params.as_slice()) {
                ("Option", [inner]) => match input.byte()? {
                    0 => out.push("None"),
                    1 => value(inner, input, out, depth + 1)?,
                    _ => return None,
                },
                ("Box" | "Arc" | "Rc", [inner]) => value(inner, input, out, depth + 1)?,
                ("Vec" | "VecDeque", [inner]) => sequence(inner, None, ("[", "]"), input, out, depth)?,
                ("HashSet" | "BTreeSet", [inner, ..]) => sequence(inner, None, ("{", "}"), input, out, depth)?,
                ("HashMap" | "BTreeMap", [k, v, ..]) => sequence(k, Some(v), ("{", "}"), input, out, depth)?,
                ("ByteBuf", []) => {
                    let n = input.len()?;
                    let bytes = input.take(n)?;
                    out.push("b'");
                    for &b in bytes.iter().take(80) {
                        match b {
                            b'\\' | b'\'' => out.push(&format!("\\{}", char::from(b))),
                            0x20..=0x7e => out.push(&char::from(b).to_string()),
                            _ => out.push(&format!("\\x{b:02x}")),
                        }
                    }
                    out.push("'");
                }
                _ => {
                    out.push(&format!("<{ty}>"));
                    return None;
                }
            }
        }
    }
    Some(())
}

/// A length-prefixed sequence of `item` (or of `item: val` pairs), between `brackets`.
fn sequence(
    item: &str,
    val: Option<&str>,
    brackets: (&str, &str),
    input: &mut Input<'_>,
    out: &mut Repr,
    depth: usize,
) -> Option<()> {
    let n = input.len()?;
    out.push(brackets.0);
    for i in 0..n {
        if out.is_full() {
            out.cut();
            return Some(());
        }
        if i > 0 {
            out.push(", ");
        }
        value(item, input, out, depth + 1)?;
        if let Some(val) = val {
            out.push(": ");
            value(val, input, out, depth + 1)?;
        }
    }
    out.push(brackets.1);
    Some(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::collections::BTreeMap;

    fn render<T: serde::Serialize>(ty: &str, v: &T) -> String {
        let mut out = Repr::new(75);
        element(ty, &postcard::to_allocvec(v).unwrap(), &mut out);
        out.finish()
    }

    #[test]
    fn values_render_as_python_writes_them() {
        assert_eq!(render("alloc::string::String", &"it's"), "\"it's\"");
        assert_eq!(render("&str", &"a\nb"), "'a\\nb'");
        assert_eq!(render("i64", &-5i64), "-5");
        assert_eq!(render("u32", &300u32), "300");
        assert_eq!(render("f64", &1.0f64), "1.0");
        assert_eq!(render("f64", &f64::NAN), "nan");
        assert_eq!(render("bool", &true), "True");
        assert_eq!(render("core::option::Option<u8>", &None::<u8>), "None");
        assert_eq!(render("alloc::vec::Vec<(u8, alloc::string::String)>", &vec![(1u8, "x")]), "[(1, 'x')]");
        let map: BTreeMap<&str, Vec<bool>> = [("k", vec![false])].into_iter().collect();
        assert_eq!(
            render("alloc::collections::btree::map::BTreeMap<&str, alloc::vec::Vec<bool>>", &map),
            "{'k': [False]}"
        );
        assert_eq!(render("my_app::Job", &7u8), "<Job>...");
    }

    #[test]
    fn long_renderings_are_cut_within_the_bound() {
        let long = render("alloc::vec::Vec<u64>", &(0..1000u64).collect::<Vec<_>>());
        assert_eq!(long.chars().count(), 75);
        assert!(long.starts_with("[0, 1, 2") && long.ends_with("..."), "{long}");
        // A peer's endless claims cost no more than the bound.
        let units = {
            let mut out = Repr::new(75);
            element("alloc::vec::Vec<()>", &[0xff, 0xff, 0xff, 0xff, 0x0f], &mut out);
            out.finish()
        };
        assert!(units.ends_with("...") && units.chars().count() <= 75);
    }

    #[test]
    fn bad_bytes_and_deep_types_end_the_rendering_without_panicking() {
        let mut out = Repr::new(75);
        element("alloc::string::String", &[9, b'a'], &mut out);
        assert_eq!(out.finish(), "...");
        let deep = format!("{}u8{}", "Option<".repeat(100), ">".repeat(100));
        let mut out = Repr::new(75);
        element(&deep, &[1; 200], &mut out);
        assert!(out.finish().ends_with("..."));
        for ty in ["(", ")", "<>", "Vec<", "HashMap<u8>", "(,)", ""] {
            let mut out = Repr::new(75);
            element(ty, &[1, 2, 3], &mut out);
            out.finish();
        }
    }

    #[test]
    fn fingerprints_split_into_their_element_types() {
        assert_eq!(element_types(""), Vec::<&str>::new());
        assert_eq!(element_types("Queue<(u8, alloc::vec::Vec<u8>)>"), ["(u8, alloc::vec::Vec<u8>)"]);
        assert_eq!(element_types("Dict<HashMap<u8, u8>, u8>"), ["HashMap<u8, u8>", "u8"]);
    }
}
