//! The crates' rooms (docs/ARCHITECTURE.md): a program that only uses shared objects compiles no
//! server code, and the protocol crate is pure — no runtime, no sockets. `cargo tree`
//! is the witness.

use std::process::Command;

fn tree(package: &str) -> String {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args(["tree", "-p", package, "--edges", "normal,build", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn crates(tree: &str) -> Vec<&str> {
    tree.lines().filter_map(|l| l.split_whitespace().next()).collect()
}

#[test]
fn the_client_compiles_without_the_server() {
    let client = tree("manager-client");
    assert!(crates(&client).contains(&"manager-proto") && crates(&client).contains(&"tokio"), "{client}");
    assert!(!crates(&client).contains(&"manager-server"), "{client}");
    // Nor `manager-cli`'s needs (its `cli` feature).
    for binary_only in ["clap", "serde_json"] {
        assert!(!crates(&client).contains(&binary_only), "manager-client depends on {binary_only}:\n{client}");
    }
    // The macro's generated code names only the protocol crate.
    let derive = tree("manager-derive");
    for forbidden in ["manager-server", "manager-client", "manager-proto"] {
        assert!(!crates(&derive).contains(&forbidden), "{derive}");
    }
}

/// An interface crate (`#[shared]` on a trait) needs the client only: a program that
/// uses the interface compiles no server code either.
#[test]
fn an_interface_crate_compiles_without_the_server() {
    let api = tree("counter-api");
    assert!(crates(&api).contains(&"manager-client"), "{api}");
    assert!(!crates(&api).contains(&"manager-server"), "{api}");
}

/// An embedder compiles none of the standalone binary's needs (they are its `cli`
/// feature).
#[test]
fn the_server_library_compiles_no_command_line_parser() {
    let server = tree("manager-server");
    for binary_only in ["clap", "tracing-subscriber"] {
        assert!(!crates(&server).contains(&binary_only), "manager-server depends on {binary_only}:\n{server}");
    }
}

#[test]
fn the_protocol_crate_is_pure() {
    let proto = tree("manager-proto");
    for forbidden in ["tokio", "mio", "libc", "getrandom", "socket2"] {
        assert!(!crates(&proto).contains(&forbidden), "manager-proto depends on {forbidden}:\n{proto}");
    }
}

/// A crate's modules, as files, and the modules each one names through `crate::` or
/// `super::` paths (outside its tests).
struct Modules {
    /// Module path (`a::b`) to the modules it uses.
    uses: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// Where the crates' sources are (`LAYERING_ROOT` points the check at another checkout).
fn crates_root() -> std::path::PathBuf {
    std::env::var_os("LAYERING_ROOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn module_path(src: &std::path::Path, file: &std::path::Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

/// The `crate::`/`super::` paths named on one line, as absolute module paths.
fn paths_named(line: &str, parent: &[&str], named: &mut std::collections::BTreeSet<String>) {
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.to_vec())] {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut path: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            let mut tail = rest;
            // `use crate::a::{b, c}` names a's children b and c.
            loop {
                let ident: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if ident.is_empty() {
                    if let Some(group) = tail.strip_prefix('{') {
                        let inner = group.split('}').next().unwrap_or_default();
                        for item in inner.split(',') {
                            let item = item.trim().split("::").next().unwrap_or_default().to_owned();
                            let mut p = path.clone();
                            p.push(item);
                            named.insert(p.join("::"));
                        }
                    }
                    break;
                }
                path.push(ident.clone());
                tail = &tail[ident.len()..];
                match tail.strip_prefix("::") {
                    Some(t) => tail = t,
                    None => break,
                }
            }
            named.insert(path.join("::"));
        }
    }
}

fn read_modules(krate: &str) -> Modules {
    let src = crates_root().join(krate).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("main.rs") {
                files.push(path);
            }
        }
    }
    let mut named_by = std::collections::BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Tests may reach anywhere: only the code above a file's tests counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let me = module_path(&src, file);
        let is_dir_module = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        let mut parent: Vec<&str> = if me.is_empty() { vec![] } else { me.split("::").collect() };
        if !is_dir_module {
            parent.pop();
        }
        let mut named = std::collections::BTreeSet::new();
        for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            paths_named(line, &parent, &mut named);
        }
        named_by.insert(me, named);
    }
    // Each name resolves to the longest module it lies in; the crate root (the facade
    // that re-exports), a module's own names and its ancestors' are not edges.
    let modules: Vec<String> = named_by.keys().cloned().collect();
    let resolve = |name: &str| -> Option<String> {
        let mut parts: Vec<&str> = name.split("::").collect();
        while !parts.is_empty() {
            let candidate = parts.join("::");
            if modules.contains(&candidate) {
                return Some(candidate);
            }
            parts.pop();
        }
        None
    };
    let uses = named_by
        .iter()
        .map(|(m, names)| {
            let targets = names
                .iter()
                .filter_map(|n| resolve(n))
                .filter(|t| t != m && !t.is_empty() && !m.starts_with(&format!("{t}::")))
                .collect();
            (m.clone(), targets)
        })
        .collect();
    Modules { uses }
}

/// The import cycles among a crate's modules (each as its sorted list of modules).
fn cycles(modules: &Modules) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        index: std::collections::HashMap<&'a str, usize>,
        low: std::collections::HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: std::collections::HashSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph: &modules.uses,
        index: Default::default(),
        low: Default::default(),
        stack: Vec::new(),
        on_stack: Default::default(),
        next: 0,
        found: Vec::new(),
    };
    for v in modules.uses.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// Every crate's modules form layers: no module imports, directly or through others,
/// one that imports it back (a module's own children, and the crate root that
/// re-exports, aside). A cycle is printed with what each member takes from the others.
/// (Pointed at the commit before the architecture round with `LAYERING_ROOT`, it reports
/// the server's loop through builtins, connection, object, registry, server and table,
/// and the protocol's through dispatch and proxy.)
#[test]
fn no_crate_has_an_import_cycle() {
    let mut report = String::new();
    for krate in ["manager-proto", "manager-server", "manager-client", "manager-derive"] {
        let modules = read_modules(krate);
        for cycle in cycles(&modules) {
            report.push_str(&format!("{krate}: a cycle through {}\n", cycle.join(", ")));
            for m in &cycle {
                let into: Vec<&String> = modules.uses[m].iter().filter(|t| cycle.contains(t)).collect();
                report.push_str(&format!("  {m} -> {into:?}\n"));
            }
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// The checker finds a cycle where there is one, and reads `crate::`, `super::` and
/// grouped paths.
#[test]
fn the_cycle_check_sees_a_cycle() {
    let mut uses = std::collections::BTreeMap::new();
    uses.insert("a".to_owned(), ["b".to_owned()].into());
    uses.insert("b".to_owned(), ["c".to_owned()].into());
    uses.insert("c".to_owned(), ["a".to_owned()].into());
    uses.insert("d".to_owned(), ["a".to_owned()].into());
    assert_eq!(cycles(&Modules { uses }), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
    let mut named = std::collections::BTreeSet::new();
    paths_named("use crate::x::{y, z::W}; let v = super::q::f(); crate::r::g()", &["p"], &mut named);
    let expected: std::collections::BTreeSet<String> =
        ["x", "x::y", "x::z", "p::q::f", "r::g"].iter().map(|s| s.to_string()).collect();
    assert_eq!(named, expected);
}

/// The TLS session beside each side's socket is one file kept twice, word for word:
/// the client must compile without the server, the server does not depend on the
/// client, and the protocol crate (their one shared dependency) does no I/O and pulls
/// in no randomness — so no crate can hold it for both. Written once in substance: this
/// fails the moment the twins differ by more than the line naming each other.
#[test]
fn the_tls_session_twins_are_the_same_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |krate: &str| std::fs::read_to_string(root.join(krate).join("src/tls_session.rs")).unwrap();
    let (client, server) = (read("manager-client"), read("manager-server"));
    let differing: Vec<(&str, &str)> = client.lines().zip(server.lines()).filter(|(c, s)| c != s).collect();
    assert_eq!(client.lines().count(), server.lines().count(), "the twins differ in length");
    assert!(
        differing.len() == 1 && differing[0].0.contains("twin"),
        "manager-client/src/tls_session.rs and manager-server/src/tls_session.rs differ: {differing:#?}"
    );
}
