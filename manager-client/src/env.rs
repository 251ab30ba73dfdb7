//! Handing a server's address and key to child processes through their environment.

use manager_proto::{Address, AuthKey, Error};

/// The server's address, as `tcp://host:port` or `unix:/path`.
pub const ADDRESS_VAR: &str = "MANAGER_ADDRESS";
/// The key, in hex.
pub const AUTHKEY_VAR: &str = "MANAGER_AUTHKEY";

/// Sets both variables on `command`.
///
/// The key travels in the child's environment, which only the same user (and root)
/// can read on Linux.
pub fn configure(command: &mut std::process::Command, address: &Address, authkey: &AuthKey) {
    command.env(ADDRESS_VAR, address.to_string()).env(AUTHKEY_VAR, authkey.to_hex());
}

/// Reads both variables.
pub fn read() -> Result<(Address, AuthKey), Error> {
    let var =
        |name: &str| std::env::var(name).map_err(|_| Error::Config(format!("{name} is not set (or not valid UTF-8)")));
    let address: Address = var(ADDRESS_VAR)?.parse()?;
    let key = AuthKey::from_hex(&var(AUTHKEY_VAR)?)?;
    Ok((address, key))
}
