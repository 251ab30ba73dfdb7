//! The async client.

use manager_proto::fingerprint::{Check, check};
use manager_proto::{
    Address, AuthKey, BoxFuture, Connect, Error, Handle, ObjectId, Proxy, RemoteErrorKind, Request, Response, ServerId,
    ServerStats, Transport, TypeDescription,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connection::Conn;
use crate::names::{ToAddress, ToToken};

/// Connection settings. `ClientOptions::default()` suits a local network.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Time allowed to open the socket and authenticate. Default 10 s. While it
    /// authenticates, the client polls for each of the server's two answers for up to
    /// 200 µs, yielding the CPU between tries, before it sleeps: a wake-up from another
    /// core can cost more than the whole exchange.
    pub connect_timeout: Duration,
    /// When the client has sent nothing for this long it pings the server (whose idle
    /// timeout, 60 s by default, drops silent peers); and while calls are waiting and
    /// the server says nothing for this long, it pings too, declaring the connection
    /// lost if no answer comes within another period: within two periods (and a
    /// quarter of one, the reader's checks being four per period) of the server's
    /// last word, blocking or async. Default 10 s. Shorter notices a
    /// vanished host sooner; it must stay well below the server's idle timeout.
    pub keepalive: Duration,
    /// Largest frame sent or accepted. Default 64 MiB, as the server's.
    pub max_frame: usize,
    /// Low-latency mode: while calls are waiting, read for up to this long without
    /// sleeping before parking the reader (in a blocking client, the calling thread
    /// itself). Default zero (off). Saves a thread wake-up per round trip (tens of
    /// microseconds across cores) at the price of a spinning core; pair it with the
    /// server's `busy_poll`.
    pub spin: Duration,
    /// Reconnect after the link to the server breaks, resuming the session (default
    /// `None`: a broken connection stays broken, and calls fail with
    /// [`Error::ConnectionLost`]). With a policy, the connection is a session the server
    /// keeps for its grace period (`ServerBuilder::session_grace`, 30 s by default):
    /// a client back within it finds its references, locks and queue reservations as
    /// it left them, and every call in flight is answered once — run at most once, its
    /// reply not lost. Proxies keep working; a call waits while the client reconnects.
    /// When the session cannot be resumed, calls on the proxies of objects it created
    /// fail with [`Error::SessionLost`] or [`Error::ServerRestarted`]; proxies to named
    /// objects look their name up again on a new session (calls in flight at the loss
    /// still fail: they may have run), and the `Client` opens a new session for what it
    /// is asked next. The
    /// relay this adds costs a thread per connection and a hop per message (see
    /// docs/PERFORMANCE.md).
    pub reconnect: Option<crate::Reconnect>,
    /// What `tls://` addresses trust, and the client certificate for servers that
    /// require one. Default none: a `tls://` address is then refused (with an
    /// [`Error::Config`] saying so), never connected unverified. `Client::from_env`
    /// fills it from `MANAGER_TLS_CA` (see [`ClientTls::from_env`](crate::ClientTls::from_env)).
    pub tls: Option<crate::ClientTls>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            max_frame: manager_proto::frame::DEFAULT_MAX_FRAME,
            spin: Duration::ZERO,
            reconnect: None,
            tls: None,
        }
    }
}

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
    inner: Arc<Inner>,
}

/// What a client's clones share: the connection, and what it takes to open another
/// when a reconnecting client's session was lost.
#[derive(Debug)]
struct Inner {
    address: Address,
    authkey: AuthKey,
    options: ClientOptions,
    conn: Mutex<Arc<Conn>>,
    /// Held while a new session is opened, so that callers open one, not one each.
    reopening: tokio::sync::Mutex<()>,
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
        let inner = Inner {
            address,
            authkey,
            options: options.clone(),
            conn: Mutex::new(conn),
            reopening: tokio::sync::Mutex::new(()),
        };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// The connection now (which may be over).
    fn current(&self) -> Arc<Conn> {
        Arc::clone(&self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The connection to call through: with a reconnect policy, a new session when the
    /// last one is over (lost, or the server restarted), so the client stays usable.
    async fn conn(&self) -> Result<Arc<Conn>, Error> {
        let conn = self.current();
        if self.inner.options.reconnect.is_none() || !conn.is_over() {
            return Ok(conn);
        }
        let _one_at_a_time = self.inner.reopening.lock().await;
        let conn = self.current();
        if !conn.is_over() {
            return Ok(conn);
        }
        let fresh = Conn::open(self.inner.address.clone(), self.inner.authkey.clone(), &self.inner.options).await?;
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// Connects to the server named by `MANAGER_ADDRESS` with the key in
    /// `MANAGER_AUTHKEY` (hex), as set by [`Client::configure_child`] in a parent, or
    /// else in the key file `MANAGER_AUTHKEY_FILE` names (read with
    /// [`env::read_authkey`](crate::env::read_authkey)). A `tls://` address trusts the
    /// CA file `MANAGER_TLS_CA` names (or the pinned certificate in `MANAGER_TLS_PIN`),
    /// presenting `MANAGER_TLS_CERT`/`MANAGER_TLS_KEY` to servers that require a client
    /// certificate ([`ClientTls::from_env`](crate::ClientTls::from_env)).
    pub async fn from_env() -> Result<Client, Error> {
        let (address, key) = crate::env::read()?;
        let options = ClientOptions { tls: crate::ClientTls::from_env()?, ..ClientOptions::default() };
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

    /// The server run this client is connected to.
    pub fn server_id(&self) -> ServerId {
        self.current().server()
    }

    /// The state of whichever connection the client uses now, as long as the client
    /// lives (for the blocking client's keepalive thread, which must follow a
    /// reconnecting client to its new session, and must not keep the client open).
    pub(crate) fn current_state(&self) -> impl Fn() -> Option<Arc<crate::connection::ConnState>> + Send + 'static {
        let inner = Arc::downgrade(&self.inner);
        move || {
            let inner = inner.upgrade()?;
            let conn = Arc::clone(&inner.conn.lock().unwrap_or_else(|p| p.into_inner()));
            conn.state().upgrade()
        }
    }

    /// The connection's shared state (for the blocking client's keepalive thread).
    pub(crate) fn conn_state(&self) -> std::sync::Weak<crate::connection::ConnState> {
        self.current().state()
    }

    fn handle(transport: Arc<dyn Transport>, object: ObjectId, type_id: &str) -> Handle {
        Handle::new(transport, object, type_id.to_owned())
    }

    /// What a proxy to the object named `name` calls through: with a reconnect policy,
    /// a transport that looks the name up again when its connection is over; else the
    /// connection.
    fn named_transport(&self, conn: Arc<Conn>, name: &str, taken: &Taken) -> Arc<dyn Transport> {
        if self.inner.options.reconnect.is_none() {
            return conn;
        }
        let inner = Arc::downgrade(&self.inner);
        let reopen: crate::rebind::Reopen = Arc::new(move || {
            let inner = inner.clone();
            Box::pin(async move {
                let inner = inner.upgrade().ok_or_else(|| Error::Config("the client is gone".into()))?;
                Client { inner }.conn().await
            })
        });
        crate::rebind::Named::new(name, &taken.type_id, reopen, conn, taken.object)
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
        let transport = self.named_transport(conn, name, &taken);
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
        let transport = self.named_transport(conn, name, &taken);
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
