//! Introspection of a running server (Python's `debug_info`, and what `manager-cli`
//! prints): its objects, with their holders and a rendering, and its connections.

use manager_proto::inspect::{ConnectionReport, ObjectReport, Query};
use manager_proto::{Error, ObjectId};
use serde::de::DeserializeOwned;

use crate::Client;

/// The reports in an `Inspect`'s answer.
fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    manager_proto::postcard::from_bytes(bytes)
        .map_err(|e| Error::Protocol(format!("the server's {what} did not decode ({e}): is it of another version?")))
}

impl Client {
    /// Every live object on the server, or only those of type `type_id` (`"dict"`,
    /// `"queue"`, a `#[shared]` type's id), sorted by id: each with its reference count,
    /// the connections holding it, its names, and a rendering of at most 75 characters
    /// (a container's contents as Python's repr writes them, a lock's owner, a queue's
    /// length).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
    /// let d = client.dict::<String, u64>().await?;
    /// d.insert("a".into(), 1).await?;
    /// client.bind_name("scores", &d).await?;
    /// let dicts = client.inspect_objects(Some("dict")).await?;
    /// assert_eq!(dicts.len(), 1);
    /// assert_eq!(dicts[0].names, ["scores"]);
    /// assert_eq!(dicts[0].repr, "{'a': 1}");
    /// assert_eq!(dicts[0].holders.len(), 1); // this client's connection
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn inspect_objects(&self, type_id: Option<&str>) -> Result<Vec<ObjectReport>, Error> {
        let bytes = self.inspect_raw(Query::Objects { type_id }).await?;
        decode(&bytes, "object reports")
    }

    /// One object on the server (see [`inspect_objects`](Self::inspect_objects)); a
    /// `NoSuchObject` remote error if there is none with that id.
    pub async fn inspect_object(&self, id: ObjectId) -> Result<ObjectReport, Error> {
        let bytes = self.inspect_raw(Query::Object { id }).await?;
        let reports: Vec<ObjectReport> = decode(&bytes, "object report")?;
        reports.into_iter().next().ok_or_else(|| Error::Protocol(format!("the server reported nothing of object {id}")))
    }

    /// Every open connection, sorted by id: its peer, its age, its calls in flight and
    /// parked, its streams and watches, the locks it holds and the references it holds.
    /// This client's own connection is among them, its `Inspect` counted as parked.
    pub async fn inspect_connections(&self) -> Result<Vec<ConnectionReport>, Error> {
        let bytes = self.inspect_raw(Query::Connections).await?;
        decode(&bytes, "connection reports")
    }
}
