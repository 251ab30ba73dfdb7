//! The crates' rooms (DESIGN §2): a program that only uses shared objects compiles no
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
    // The macro's generated code names only the protocol crate.
    let derive = tree("manager-derive");
    for forbidden in ["manager-server", "manager-client", "manager-proto"] {
        assert!(!crates(&derive).contains(&forbidden), "{derive}");
    }
}

#[test]
fn the_protocol_crate_is_pure() {
    let proto = tree("manager-proto");
    for forbidden in ["tokio", "mio", "libc", "getrandom", "socket2"] {
        assert!(!crates(&proto).contains(&forbidden), "manager-proto depends on {forbidden}:\n{proto}");
    }
}
