//! Tokens: a proxy's identity as plain data, to hand to another process.

use crate::{Address, ObjectId, ServerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Everything needed to reach one shared object from any process: the server's
/// address and run id, the object id, and its type id. It carries no secret (the
/// attaching process brings its own authkey) and holds no reference by itself: the
/// object lives while some proxy (or container, or name) holds it, so keep the
/// sending side's proxy alive until the receiver has attached.
///
/// ```
/// use manager_proto::{Address, ObjectId, ServerId, Token};
/// let t = Token {
///     address: "tcp://127.0.0.1:5000".parse::<Address>().unwrap(),
///     server: ServerId(0xabc),
///     object: ObjectId(3),
///     type_id: "counter".into(),
/// };
/// let bytes = postcard::to_allocvec(&t).unwrap();
/// assert_eq!(postcard::from_bytes::<Token>(&bytes).unwrap(), t);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Token {
    /// Where the server listens.
    pub address: Address,
    /// Which run of that server.
    pub server: ServerId,
    /// The object.
    pub object: ObjectId,
    /// The object's type id.
    pub type_id: String,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` object {} at {} (server run {})", self.type_id, self.object, self.address, self.server)
    }
}
