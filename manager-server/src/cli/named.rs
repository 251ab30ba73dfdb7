//! `--named KIND:NAME[:ARG]`: the built-in objects the server creates at start-up.

use manager_server::Builtin;

/// What `--help` and every `--named` error show.
pub const EXAMPLES: &str = "dict:config, list:log, set:seen, namespace:settings, queue:jobs, queue:jobs:100, \
    joinable_queue:tasks, lock:l, rlock:r, semaphore:slots:4, bounded_semaphore:slots:4, condition:c, event:ready, \
    barrier:start:3, value:counter:i64:0, value:greeting:str:hello, array:samples:f64:8 (eight zeros), \
    array:ids:u32:[1,2,3]";

/// The element types `value` and `array` take.
const TYPES: &str = "i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, f32, f64, bool, str";

/// The most elements `array:NAME:TYPE:LEN` makes.
const MAX_ARRAY: usize = 1 << 20;

/// One `--named` spec: the name and the object. A clap `value_parser`, so a bad spec is
/// a usage error (exit code 2) naming the flag and the spec.
pub fn parse(spec: &str) -> Result<(String, Builtin), String> {
    let bad = |why: &str| format!("{why} (expected KIND:NAME[:ARG], e.g. {EXAMPLES})");
    let mut parts = spec.splitn(3, ':');
    let kind = parts.next().unwrap_or_default();
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(|| bad("no name"))?;
    let arg = parts.next();
    let number = |default: Option<u64>| -> Result<u64, String> {
        match (arg, default) {
            (Some(a), _) => a.parse().map_err(|_| bad("the argument must be a whole number")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(bad("this kind needs an argument")),
        }
    };
    let no_arg = |b: Builtin| if arg.is_some() { Err(bad("this kind takes no argument")) } else { Ok(b) };
    let typed = || -> Result<(&str, &str), String> {
        arg.and_then(|a| a.split_once(':'))
            .ok_or_else(|| bad(&format!("this kind needs TYPE:VALUE, TYPE one of {TYPES}")))
    };
    let builtin = match kind {
        "dict" => no_arg(Builtin::Dict)?,
        "list" => no_arg(Builtin::List)?,
        "set" => no_arg(Builtin::Set)?,
        "namespace" => no_arg(Builtin::Namespace)?,
        "queue" => Builtin::Queue { maxsize: number(Some(0))? },
        "joinable_queue" => Builtin::JoinableQueue { maxsize: number(Some(0))? },
        "lock" => no_arg(Builtin::Lock)?,
        "rlock" => no_arg(Builtin::RLock)?,
        "semaphore" => Builtin::Semaphore(number(Some(1))?),
        "bounded_semaphore" => Builtin::BoundedSemaphore(number(Some(1))?),
        "condition" => no_arg(Builtin::Condition)?,
        "event" => no_arg(Builtin::Event)?,
        "barrier" => match number(None)? {
            0 => return Err(bad("a barrier needs at least 1 party")),
            parties => Builtin::Barrier { parties, timeout: None },
        },
        "value" => {
            let (ty, text) = typed()?;
            Builtin::Value(encode(ty, text).map_err(|e| bad(&e))?)
        }
        "array" => {
            let (ty, text) = typed()?;
            Builtin::Array(array(ty, text).map_err(|e| bad(&e))?)
        }
        _ => return Err(bad("unknown kind")),
    };
    Ok((name.to_owned(), builtin))
}

/// `[a,b,…]`, or a length of default values (zeros, `false`, empty strings).
fn array(ty: &str, text: &str) -> Result<Vec<Vec<u8>>, String> {
    if let Some(list) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        if list.trim().is_empty() {
            return Ok(Vec::new());
        }
        return list.split(',').map(|item| encode(ty, item.trim())).collect();
    }
    let len: usize = text
        .parse()
        .ok()
        .filter(|n| *n <= MAX_ARRAY)
        .ok_or_else(|| format!("`{text}` is neither [ITEM,…] nor a length from 0 to {MAX_ARRAY}"))?;
    let zero = encode(
        ty,
        if ty == "str" {
            ""
        } else if ty == "bool" {
            "false"
        } else {
            "0"
        },
    )?;
    Ok(vec![zero; len])
}

/// `text` as a `ty`, postcard-encoded as a client's `value(x)` would send it.
fn encode(ty: &str, text: &str) -> Result<Vec<u8>, String> {
    fn enc<T: serde::Serialize>(v: T) -> Result<Vec<u8>, String> {
        postcard::to_allocvec(&v).map_err(|e| e.to_string())
    }
    fn num<T: std::str::FromStr + serde::Serialize>(text: &str, ty: &str) -> Result<Vec<u8>, String> {
        enc(text.parse::<T>().map_err(|_| format!("`{text}` is not a {ty}"))?)
    }
    match ty {
        "i8" => num::<i8>(text, ty),
        "i16" => num::<i16>(text, ty),
        "i32" => num::<i32>(text, ty),
        "i64" => num::<i64>(text, ty),
        "i128" => num::<i128>(text, ty),
        "u8" => num::<u8>(text, ty),
        "u16" => num::<u16>(text, ty),
        "u32" => num::<u32>(text, ty),
        "u64" => num::<u64>(text, ty),
        "u128" => num::<u128>(text, ty),
        "f32" => num::<f32>(text, ty),
        "f64" => num::<f64>(text, ty),
        "bool" => num::<bool>(text, ty),
        "str" => enc(text),
        _ => Err(format!("unknown element type `{ty}` (expected one of {TYPES})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_arrays() {
        assert_eq!(parse("value:c:i64:-1"), Ok(("c".into(), Builtin::Value(postcard::to_allocvec(&-1i64).unwrap()))));
        assert_eq!(parse("value:s:str:a:b").map(|p| p.1), Ok(Builtin::Value(postcard::to_allocvec("a:b").unwrap())));
        let three = Builtin::Array(vec![postcard::to_allocvec(&0u8).unwrap(); 3]);
        assert_eq!(parse("array:a:u8:3").map(|p| p.1), Ok(three));
        let listed = Builtin::Array([1u32, 2].iter().map(|n| postcard::to_allocvec(n).unwrap()).collect());
        assert_eq!(parse("array:a:u32:[1, 2]").map(|p| p.1), Ok(listed));
        for bad in ["value:c", "value:c:i64", "value:c:i64:x", "value:c:int:1", "array:a:u8:[1,300]", "barrier:b:0"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
