//! The async client.

use manager_proto::fingerprint::{Check, check};
use manager_proto::{
    Address, AuthKey, BoxFuture, Connect, Error, Handle, ObjectId, Proxy, RemoteErrorKind, Request, Response, ServerId,
    ServerStats, Transport, TypeDescription,
};
use std::sync::Arc;

use crate::connection::Conn;
use crate::current::Current;
use crate::names::{ToAddress, ToToken};
pub use crate::options::ClientOptions;

/// A connection to a manager server, multiplexed: any number of tasks may call through
/// one `Client` (and its clones, which share the connection) at once, and a call that
/// blocks on the server (a `get` on an empty queue) holds up none of the others.
///
/// The connection closes when the last clone, proxy and pending call is dropped; the
/// server then releases every reference the client held (a token it minted keeps its
/// object for the server's token lease still: see [`attach`](Client::attach)). If the server goes away,
/// calls in flight fail at once and later calls fail fast, with
/// [`Error::ConnectionLost`] (or [`Error::ServerShutDown`] when it stopped on purpose).
///
/// ```
/// use manager_client::{Client, Error};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = manager_server::Server::builder()
/// #     .named_builtin("config", manager_server::Builtin::Dict)
/// #     .start().await?;
/// # let (address, key) = (server.address().clone(), server.authkey().clone());
/// // The address and key of a running manager (from its operator, or `Client::from_env`).
/// let client = Client::connect(&address, key.as_bytes()).await?;
/// // A named object every client shares, and one of our own.
/// let config = client.named::<manager_client::DictProxy<String, u32>>("config").await?;
/// config.insert("workers".into(), 4).await?;
/// let jobs = client.queue::<String>(0).await?;
/// jobs.put("first".into()).await?;
/// assert_eq!(jobs.get().await?, "first");
/// assert_eq!(config.get("workers").await?, Some(4));
/// # server.shutdown().await;
/// // Once the server is gone, every call says so.
/// assert!(matches!(client.ping().await, Err(Error::ServerShutDown { .. })));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Current>,
}

impl Client {
    /// Connects and authenticates with the raw key `authkey`. A key kept as hex — a
    /// key file, `MANAGER_AUTHKEY` — is decoded first: pass [`env::read_authkey`](crate::env::read_authkey) or
    /// [`AuthKey::from_hex`] (an [`AuthKey`] is its raw bytes). Hex text passed as the
    /// key is a wrong key, and the error says it looks like one.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), manager_client::Error> {
    /// use manager_client::{AuthKey, Client};
    /// let client = Client::connect("tcp://127.0.0.1:5000", b"secret").await?;
    /// let key = manager_client::env::read_authkey("key.hex")?; // written by `manager-server --generate-authkey key.hex`
    /// let client = Client::connect("unix:/tmp/m.sock", &key).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(address: impl ToAddress, authkey: impl AsRef<[u8]>) -> Result<Client, Error> {
        Self::connect_with(address, authkey, &ClientOptions::default()).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(
        address: impl ToAddress,
        authkey: impl AsRef<[u8]>,
        options: &ClientOptions,
    ) -> Result<Client, Error> {
        let address = address.to_address()?;
        let authkey = AuthKey::new(authkey.as_ref())?;
        let conn = Conn::open(address.clone(), authkey.clone(), options).await?;
        Ok(Client { inner: Arc::new(Current::new(address, authkey, options.clone(), conn)) })
    }

    /// The connection now (which may be over).
    fn current(&self) -> Arc<Conn> {
        self.inner.now()
    }

    /// The connection to call through (a new session if the last is over and the
    /// client reconnects).
    async fn conn(&self) -> Result<Arc<Conn>, Error> {
        self.inner.conn().await
    }

    /// Connects to the server named by `MANAGER_ADDRESS` with the key in
    /// `MANAGER_AUTHKEY` (hex), as set by [`Client::configure_child`] in a parent, or
    /// else in the key file `MANAGER_AUTHKEY_FILE` names (read with
    /// [`env::read_authkey`](crate::env::read_authkey)). A `tls://` address trusts the
    /// CA file `MANAGER_TLS_CA` names (or the pinned certificate in `MANAGER_TLS_PIN`),
    /// presenting `MANAGER_TLS_CERT`/`MANAGER_TLS_KEY` to servers that require a client
    /// certificate ([`ClientTls::from_env`](crate::ClientTls::from_env)). With
    /// `MANAGER_SHARED_MEMORY=1` it connects over shared memory
    /// ([`ClientOptions::shared_memory`]).
    pub async fn from_env() -> Result<Client, Error> {
        let (address, key) = crate::env::read()?;
        let shared_memory = std::env::var(crate::env::SHARED_MEMORY_VAR).is_ok_and(|v| v == "1");
        let options = ClientOptions { tls: crate::ClientTls::from_env()?, shared_memory, ..ClientOptions::default() };
        Self::connect_with(address, key, &options).await
    }

    /// Sets `MANAGER_ADDRESS` and `MANAGER_AUTHKEY` on a command (a
    /// [`std::process::Command`] or a [`tokio::process::Command`]), so the child can
    /// [`Client::from_env`] to the same server.
    pub fn configure_child(&self, command: &mut impl crate::env::ChildCommand) {
        crate::env::configure(command, self.address(), &self.inner.authkey);
        if let Some(tls) = &self.inner.options.tls {
            tls.configure(command);
        }
        if self.inner.options.shared_memory {
            command.set_env(crate::env::SHARED_MEMORY_VAR, "1");
        }
    }

    /// Hands `proxy` to the child `command` will start, under `name`: sets the server's
    /// variables (as [`configure_child`](Self::configure_child)) and
    /// `MANAGER_PROXY_<name>` to the proxy's token, leased — so the parent may drop its
    /// proxy as soon as the child is spawned, and the child has the server's token
    /// lease (30 s by default) to take it with [`inherited`](Self::inherited). A name
    /// is ASCII letters, digits and `_`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
    /// let results = client.dict::<String, u32>().await?;
    /// let mut child = tokio::process::Command::new("true");
    /// client.pass_proxy(&mut child, "results", &results)?;
    /// // In the child: `Client::from_env().await?.inherited::<DictProxy<String, u32>>("results")`.
    /// child.status().await?;
    /// assert!(client.pass_proxy(&mut child, "not a name", &results).is_err());
    /// # Ok(()) }
    /// ```
    pub fn pass_proxy<P: Proxy>(
        &self,
        command: &mut impl crate::env::ChildCommand,
        name: &str,
        proxy: &P,
    ) -> Result<(), Error> {
        crate::env::proxy_var(name)?;
        self.configure_child(command);
        crate::env::pass_token(command, name, &proxy.token())
    }

    /// The proxy the parent handed this process under `name` (with
    /// [`pass_proxy`](Self::pass_proxy)): attaches the token in `MANAGER_PROXY_<name>`.
    /// A missing variable is an error naming it; an object whose lease ran out is
    /// [`Error::ObjectGone`].
    pub async fn inherited<P: Proxy>(&self, name: &str) -> Result<P, Error> {
        let token = crate::env::read_token(name)?;
        self.attach(&token).await
    }

    /// The server's address.
    pub fn address(&self) -> &Address {
        &self.inner.address
    }

    /// What it takes to open another connection like this one (a pool's own, on a
    /// runtime of its own).
    pub(crate) fn connect_params(&self) -> (Address, manager_proto::AuthKey, ClientOptions) {
        (self.inner.address.clone(), self.inner.authkey.clone(), self.inner.options.clone())
    }

    /// The server run this client is connected to.
    pub fn server_id(&self) -> ServerId {
        self.current().server()
    }

    /// The state of whichever connection the client uses now, as long as the client
    /// lives (for the blocking client's keepalive thread, which must follow a
    /// reconnecting client to its new session, and must not keep the client open).
    pub(crate) fn current_state(&self) -> impl Fn() -> Option<Arc<crate::connection::ConnState>> + Send + 'static {
        Current::state_source(&self.inner)
    }

    /// The connection's shared state (for the blocking client's keepalive thread).
    pub(crate) fn conn_state(&self) -> std::sync::Weak<crate::connection::ConnState> {
        self.current().state()
    }

    fn handle(transport: Arc<dyn Transport>, object: ObjectId, type_id: &str) -> Handle {
        Handle::new(transport, object, type_id.to_owned())
    }

    /// Checks a freshly taken reference against `P`'s type and, when `checked` names
    /// the object (for the error), its fingerprint (element types, `#[shared]`
    /// interface); the reference is released on a mismatch, before the proxy could
    /// write or read anything.
    fn typed<P: Proxy>(
        transport: Arc<dyn Transport>,
        taken: Taken,
        checked: Option<&dyn std::fmt::Display>,
    ) -> Result<P, Error> {
        let handle = Self::handle(transport, taken.object, &taken.type_id);
        if taken.type_id != P::shared_type_id() {
            return Err(Error::WrongType { expected: P::shared_type_id().to_owned(), found: taken.type_id });
        }
        if let Some(what) = checked {
            check(&taken.type_id, &taken.fingerprint, &P::fingerprint(), Check::Attach)
                .map_err(|why| Error::TypeMismatch(format!("{what}: {why}")))?;
        }
        Ok(P::from_handle(handle))
    }

    /// A proxy to the object the server hosts under `name`.
    ///
    /// The object's type must be the proxy's, and so must its element types or
    /// interface when its creator gave them (see
    /// [`fingerprint`](manager_proto::fingerprint)): a `Value<i32>` opened as a
    /// `ValueProxy<String>` is [`Error::TypeMismatch`], and nothing is written.
    ///
    /// ```no_run
    /// # use manager_client::{Client, shared};
    /// # #[derive(Default)] pub struct Counter { n: u64 }
    /// # #[shared] impl Counter { pub fn get(&self) -> u64 { self.n } }
    /// # async fn f(client: Client) -> Result<(), manager_client::Error> {
    /// let hits: CounterProxy = client.named("hits").await?;
    /// println!("{}", hits.get().await?);
    /// # Ok(()) }
    /// ```
    pub async fn named<P: Proxy>(&self, name: &str) -> Result<P, Error> {
        let conn = self.conn().await?;
        let taken = conn.request(&Request::GetNamed { name }, Taken::of).await?;
        let transport = Current::named_transport(&self.inner, conn, name, &taken.type_id, taken.object);
        Self::typed(transport, taken, Some(&format_args!("the object named `{name}`")))
    }

    /// [`named`](Self::named) without the fingerprint check: the escape for dynamic
    /// use, where one process stores values its own way and another reads them as raw
    /// bytes or a type of the same shape. The type id is still checked; what the
    /// proxy's methods then read is the caller's business (a mismatch of same-shaped
    /// types reads wrong values, not errors).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// let v = client.value::<u8>(7).await?;
    /// client.bind_name("v", &v).await?;
    /// assert!(client.named::<manager_client::ValueProxy<i8>>("v").await.is_err());
    /// let raw = client.named_unchecked::<manager_client::ValueProxy<i8>>("v").await?;
    /// assert_eq!(raw.get().await?, 7);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn named_unchecked<P: Proxy>(&self, name: &str) -> Result<P, Error> {
        let conn = self.conn().await?;
        let taken = conn.request(&Request::GetNamed { name }, Taken::of).await?;
        let transport = Current::named_transport(&self.inner, conn, name, &taken.type_id, taken.object);
        Self::typed(transport, taken, None)
    }

    /// A proxy from a token another process handed over — a
    /// [`Token`](manager_proto::Token) or its text. The object must still be alive:
    /// within the token's lease (see [`Token`](manager_proto::Token)), or held by
    /// someone else; otherwise this is [`Error::ObjectGone`] (object ids are never
    /// reused, so a late token never reaches another object). The token must come from
    /// this server run.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
    /// let list = client.list::<u32>().await?;
    /// let text = list.token().to_string(); // "mgr1-...": print it, pass it on
    /// drop(list); // the token's lease holds the list now
    /// let again: manager_client::ListProxy<u32> = client.attach(text.as_str()).await?;
    /// again.append(7).await?;
    /// # Ok(()) }
    /// ```
    pub async fn attach<P: Proxy>(&self, token: impl ToToken) -> Result<P, Error> {
        self.attach_checked(token, true).await
    }

    /// [`attach`](Self::attach) without the fingerprint check, as
    /// [`named_unchecked`](Self::named_unchecked) for a name: the type id is still
    /// checked; what the proxy's methods read is the caller's business.
    pub async fn attach_unchecked<P: Proxy>(&self, token: impl ToToken) -> Result<P, Error> {
        self.attach_checked(token, false).await
    }

    async fn attach_checked<P: Proxy>(&self, token: impl ToToken, check: bool) -> Result<P, Error> {
        let token = token.to_token()?;
        let conn = self.conn().await?;
        if token.server != conn.server() {
            return Err(Error::StaleToken(format!(
                "the token names {}, but this client is connected to run {} at {}: the server restarted, or the \
                 token belongs to another server",
                token.describe(),
                self.server_id(),
                self.address()
            )));
        }
        if token.type_id != P::shared_type_id() {
            return Err(Error::WrongType { expected: P::shared_type_id().to_owned(), found: token.type_id.clone() });
        }
        let object = token.object;
        let taken = conn.request(&Request::Incref { object }, Taken::of).await.map_err(|e| match e.remote_kind() {
            Some(RemoteErrorKind::NoSuchObject) => Error::ObjectGone { type_id: token.type_id.clone(), object },
            _ => e,
        })?;
        let what = format_args!("{}", token.describe());
        Self::typed(conn, taken, if check { Some(&what) } else { None })
    }

    /// Gives the object behind `proxy` a name on the server, so other clients can
    /// reach it with [`named`](Self::named). The name holds it until the server stops.
    pub async fn bind_name<P: Proxy>(&self, name: &str, proxy: &P) -> Result<(), Error> {
        let object = proxy.handle().object();
        self.conn()
            .await?
            .request(&Request::BindNamed { name, object }, |r| matches!(r, Response::Done).then_some(()))
            .await
    }

    /// The exposed methods of a type the server can create.
    pub async fn describe(&self, type_id: &str) -> Result<TypeDescription, Error> {
        self.conn()
            .await?
            .request(&Request::Describe { type_id }, |r| match r {
                Response::Description(d) => Some(d),
                _ => None,
            })
            .await
    }

    /// The server's figures: live objects, connections, requests.
    pub async fn stats(&self) -> Result<ServerStats, Error> {
        self.conn()
            .await?
            .request(&Request::Stats, |r| match r {
                Response::Stats(s) => Some(s),
                _ => None,
            })
            .await
    }

    /// Asks the server to free now the objects that only keep each other alive
    /// (containers holding proxies to each other, with no proxy, name or other holder
    /// left outside the cycle); returns how many it freed. The server also does this
    /// on its own, every 10 s by default, so this is for when it must happen now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
    /// use manager_client::ListProxy;
    /// // A list of lists like itself: a type that names itself, as a newtype.
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// #[serde(transparent)]
    /// struct Nested(ListProxy<Nested>);
    /// let b = client.list::<Nested>().await?;
    /// b.append(Nested(b.clone())).await?; // b.append(b)
    /// drop(b); // the list still holds itself: only the collector can free it
    /// assert_eq!(client.collect().await?, 1);
    /// assert_eq!(client.stats().await?.objects, 0);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn collect(&self) -> Result<u64, Error> {
        self.conn()
            .await?
            .request(&Request::Collect, |r| match r {
                Response::Value(bytes) => manager_proto::postcard::from_bytes(bytes).ok(),
                _ => None,
            })
            .await
    }

    /// The reports an `Inspect` with `query` is answered with, still encoded (see
    /// `introspection.rs`).
    pub(crate) async fn inspect_raw(&self, query: manager_proto::inspect::Query<'_>) -> Result<Vec<u8>, Error> {
        let request = Request::Inspect { query };
        self.conn()
            .await?
            .request(&request, |r| if let Response::Value(bytes) = r { Some(bytes.to_vec()) } else { None })
            .await
    }

    /// A round trip to the server.
    pub async fn ping(&self) -> Result<(), Error> {
        self.conn().await?.request(&Request::Ping, |r| matches!(r, Response::Pong).then_some(())).await
    }

    /// Asks the server to shut down (refused unless it allows remote shutdown).
    pub async fn shutdown_server(&self) -> Result<(), Error> {
        self.conn().await?.request(&Request::Shutdown, |r| matches!(r, Response::Done).then_some(())).await
    }

    /// Creates an object of a registered type from encoded constructor arguments; the
    /// building block of `TProxy::create`. `fingerprint` is what its proxies must agree
    /// on (a proxy type's [`Proxy::fingerprint`]; empty for none): the server checks it
    /// against a `#[shared]` type's interface before constructing anything, and keeps
    /// it with a built-in.
    pub async fn create_handle(&self, type_id: &str, fingerprint: &str, args: Vec<u8>) -> Result<Handle, Error> {
        let conn = self.conn().await?;
        let taken = conn.request(&Request::Create { type_id, fingerprint, args: &args }, Taken::of).await?;
        Ok(Self::handle(conn, taken.object, &taken.type_id))
    }
}

/// A reference the server handed over (`Response::Object`).
struct Taken {
    /// The object, which this connection now holds once more.
    object: ObjectId,
    /// Its type id, checked against the proxy's.
    type_id: String,
    /// Its fingerprint, checked against the proxy's unless the caller opted out.
    fingerprint: String,
}

impl Taken {
    fn of(response: Response<'_>) -> Option<Taken> {
        match response {
            Response::Object { id, type_id, fingerprint } => {
                Some(Taken { object: id, type_id: type_id.to_owned(), fingerprint: fingerprint.to_owned() })
            }
            _ => None,
        }
    }
}

impl Connect for Client {
    fn create_object<'a>(
        &'a self,
        type_id: &'a str,
        fingerprint: &'a str,
        args: Vec<u8>,
    ) -> BoxFuture<'a, Result<Handle, Error>> {
        Box::pin(self.create_handle(type_id, fingerprint, args))
    }
}
