//! What `connect` and `attach` accept: an address or a token, as a value or as text.

use manager_proto::{Address, Error, Token};

/// Something that names a manager address: `"tcp://host:port"`, `"unix:/path"`, or an
/// [`Address`].
pub trait ToAddress {
    /// The address.
    fn to_address(&self) -> Result<Address, Error>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address, Error> {
        Ok(self.clone())
    }
}

impl ToAddress for &Address {
    fn to_address(&self) -> Result<Address, Error> {
        Ok((*self).clone())
    }
}

impl ToAddress for str {
    fn to_address(&self) -> Result<Address, Error> {
        Ok(self.parse()?)
    }
}

impl ToAddress for &str {
    fn to_address(&self) -> Result<Address, Error> {
        Ok(self.parse()?)
    }
}

impl ToAddress for String {
    fn to_address(&self) -> Result<Address, Error> {
        Ok(self.parse()?)
    }
}

/// Something that names a shared object: a [`Token`], or a token's text
/// (`"mgr1-..."`, from `token.to_string()`).
pub trait ToToken {
    /// The token.
    fn to_token(&self) -> Result<Token, Error>;
}

impl ToToken for Token {
    fn to_token(&self) -> Result<Token, Error> {
        Ok(self.clone())
    }
}

impl ToToken for &Token {
    fn to_token(&self) -> Result<Token, Error> {
        Ok((*self).clone())
    }
}

impl ToToken for str {
    fn to_token(&self) -> Result<Token, Error> {
        Ok(self.parse()?)
    }
}

impl ToToken for &str {
    fn to_token(&self) -> Result<Token, Error> {
        Ok(self.parse()?)
    }
}

impl ToToken for String {
    fn to_token(&self) -> Result<Token, Error> {
        Ok(self.parse()?)
    }
}

impl ToToken for &String {
    fn to_token(&self) -> Result<Token, Error> {
        Ok(self.parse()?)
    }
}
