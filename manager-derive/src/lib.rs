//! `#[shared]`: share a type's methods across processes.
//!
//! On a trait it declares an interface: proxies a client can use without any
//! implementing type, which servers implement with their own (see
//! [Interfaces](#interfaces)). On an inherent `impl` block it keeps the block as
//! written and adds:
//! - `T::EXPOSED`, the exposed method names;
//! - a server-side dispatcher (`manager_proto::Dispatch`), so a server can
//!   `register::<T>()` it;
//! - `TProxy`, an async typed proxy with one method per exposed method and
//!   `TProxy::create(&client, ..)`, and `TBlockingProxy`, the same for code without an
//!   async runtime.
//!
//! Exposed methods are the `pub` ones; `#[shared(skip)]` hides one, `#[shared(rename =
//! "name")]` changes its wire name, `#[shared(constructor)]` marks the constructor
//! (default: a `pub fn new(..) -> Self`, else `Default`). `#[shared(id = "name")]` on
//! the impl block or the struct sets the type id (`type_id = ".."` is the older
//! spelling of the same option). `#[shared(crate = "path")]` on the impl names the protocol crate when it
//! cannot be found in `Cargo.toml`. `#[shared(vis = "pub(crate)")]` on the impl gives
//! the proxies a visibility other than `pub` (any of Rust's, `""` for private): an
//! attribute on an impl block cannot see the type's own, so say it for a type that is
//! not `pub`.
//!
//! Signatures beyond plain values:
//! - **Fallible constructor**: `pub fn new(..) -> Result<Self, E>` makes
//!   `TProxy::create` return `Result<Result<TProxy, E>, Error>`: the creator gets `E`
//!   typed (as from a method returning `Result<T, E>`), and nothing is created.
//! - **New shared objects** (Python's `method_to_typeid`): a method returning
//!   `Shared<U>` (or `Result<Shared<U>, E>`), where `U` is a `#[shared]` type
//!   registered on the server, has the server host the value as an object of its own;
//!   the proxy method returns a `UProxy` (`UBlockingProxy` on the blocking proxy)
//!   owning the caller's one reference. A `U` the server has not registered is a
//!   `NoSuchType` error naming it.
//! - **Proxies in results**: a method may return proxies it holds (a `UProxy` field,
//!   an `Option<UProxy>`, a `Vec` of them): each arrives as a live proxy with a
//!   reference of its own.
//! - **Proxies as arguments**: a method (or the constructor) may take a proxy
//!   (`other: CounterProxy`, a built-in `DictProxy<K, V>`). The caller's proxy keeps its object alive for the
//!   call; on the server the argument is a handle whose calls run on the object in
//!   place, with no socket, so call its methods from an `async fn`. A call through it
//!   back into the object whose method is running (`a.absorb(a.clone())`) would wait
//!   for itself: it fails with an `InvalidValue` error instead.
//!
//! ```
//! use manager_client::{Client, Shared};
//! use manager_server::{Server, shared};
//!
//! #[derive(Debug)]
//! pub struct Account {
//!     balance: i64,
//! }
//!
//! #[shared]
//! impl Account {
//!     /// A negative opening balance is refused, and no object is created.
//!     pub fn new(balance: i64) -> Result<Self, String> {
//!         if balance < 0 { Err(format!("cannot open with {balance}")) } else { Ok(Account { balance }) }
//!     }
//!
//!     pub fn balance(&self) -> i64 {
//!         self.balance
//!     }
//!
//!     /// Moves `amount` into a new account, hosted on the server.
//!     pub fn split(&mut self, amount: i64) -> Shared<Account> {
//!         self.balance -= amount;
//!         Shared::new(Account { balance: amount })
//!     }
//!
//!     /// Adds `other`'s balance to this one: on the server, `other` calls its object in place.
//!     pub async fn absorb(&mut self, other: AccountProxy) -> Result<i64, String> {
//!         let taken = other.balance().await.map_err(|e| e.to_string())?;
//!         self.balance += taken;
//!         Ok(self.balance)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().register::<Account>().start().await?;
//! let client = Client::connect(server.address(), server.authkey().as_bytes()).await?;
//! assert_eq!(AccountProxy::create(&client, -1).await?.unwrap_err(), "cannot open with -1");
//! let main = AccountProxy::create(&client, 100).await?.unwrap();
//! let part: AccountProxy = main.split(30).await?;
//! assert_eq!((main.balance().await?, part.balance().await?), (70, 30));
//! assert_eq!(main.absorb(part.clone()).await?, Ok(100));
//! // The object being called cannot be reached through a proxy during its own call.
//! assert!(main.absorb(main.clone()).await?.unwrap_err().contains("same object"));
//! # server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Stream methods
//!
//! A method returning `impl Iterator<Item = T>`, or `impl Stream<Item = T>`
//! (`manager_server::Stream`, futures' trait), is a stream method: its proxy method is
//! a plain `fn` returning a `RemoteStream<T>` (a `BlockingStream` of it, an
//! `Iterator` of `Result<T, Error>`, on the blocking proxy), whose items come as the
//! caller reads them; dropping it stops the server's producer. The method runs under
//! the object's lock, which is released as soon as it returns, so the iterator must own
//! what it reads: `#[shared]` adds `+ Send + 'static` to the returned type, and a body
//! borrowing `self` does not compile. A panic midway ends the stream with a `Panicked`
//! error after the items before it. Not yet: `async fn` stream methods (return `impl
//! Stream` instead) and stream methods in interfaces.
//!
//! ```
//! use manager_client::Client;
//! use manager_server::{Server, shared};
//!
//! #[derive(Default)]
//! pub struct Numbers;
//!
//! #[shared]
//! impl Numbers {
//!     /// CPython's generator of squares.
//!     pub fn squares(&self, n: u64) -> impl Iterator<Item = u64> {
//!         (0..n).map(|i| i * i)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().register::<Numbers>().start().await?;
//! let client = Client::connect(server.address(), server.authkey().as_bytes()).await?;
//! let numbers = NumbersProxy::create(&client).await?;
//! let mut squares = numbers.squares(4);
//! let mut got = Vec::new();
//! while let Some(square) = squares.next().await {
//!     got.push(square?);
//! }
//! assert_eq!(got, [0, 1, 4, 9]);
//! # server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Watching an object
//!
//! `#[shared(watch)]` on the impl block makes every `&mut self` call a change, and
//! gives the proxies `watch()`: a stream of `Watch` events (`manager_client::watch`)
//! that starts with the object's version and then brings one `Called { method }` per
//! change, from any client, in the order the server ran them, each with the next
//! version. A watcher that falls behind gets `Lagged { missed }` and the version again
//! instead of holding up a writer; dropping the stream ends the subscription. The
//! state itself is read through the proxy. A method named `watch` is then refused.
//!
//! ```
//! use manager_client::Client;
//! use manager_client::watch::{Called, Watch};
//! use manager_server::{Server, shared};
//!
//! #[derive(Default)]
//! pub struct Tally(u64);
//!
//! #[shared(watch)]
//! impl Tally {
//!     pub fn add(&mut self, k: u64) -> u64 {
//!         self.0 += k;
//!         self.0
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().register::<Tally>().start().await?;
//! let client = Client::connect(server.address(), server.authkey().as_bytes()).await?;
//! let tally = TallyProxy::create(&client).await?;
//! let mut events = tally.watch();
//! let Some(Ok(Watch::Snapshot { version, .. })) = events.next().await else { panic!() };
//! tally.add(2).await?;
//! let change = Called { method: "add".into() };
//! assert_eq!(events.next().await.transpose()?, Some(Watch::Change { version: version + 1, change }));
//! # server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Interfaces
//!
//! `#[shared]` on a trait declares the interface alone, for a crate that clients and
//! servers both depend on (needing only `manager-client`): it generates `TraitProxy`
//! and `TraitBlockingProxy` as for an impl block, and keeps the trait an ordinary
//! trait. A server implements it with a type of its own, `#[shared] impl Trait for
//! MyType`, and registers `MyType` as usual: its objects have the interface's type id
//! and fingerprint, so any client holding the trait's proxy creates, names and attaches
//! them, and two types implementing one interface on two servers are interchangeable.
//!
//! Every method of the trait is exposed, except those marked `#[shared(skip)]` (which
//! may have a body: they are plain trait methods). An exposed method has no body,
//! takes `&self` or `&mut self` and is not generic; `fn new(..) -> Self where Self:
//! Sized` (or `#[shared(constructor)]`) is the constructor, and without one a type
//! must be `Default`. An `async fn` is declared as returning `impl Future + Send`, so
//! an implementation's `async fn` must be `Send`. Method types may not name `Self`
//! (each server's own type) other than as `Shared<Self>`. The id, `vis` and method
//! options go on the trait; `#[shared]` on the impl takes none but `crate`. A type is
//! hosted under one interface, or its own impl block: it has one `Dispatch`.
//!
//! ```
//! use manager_client::Client;
//! use manager_server::{Server, shared};
//!
//! // The interface crate.
//! #[shared(id = "demo.Greeter")]
//! pub trait Greeter {
//!     fn new(greeting: String) -> Self where Self: Sized;
//!     fn greet(&self, name: String) -> String;
//!     async fn count(&self) -> u64;
//! }
//!
//! // The server crate: its own type, under the interface.
//! pub struct Polite { greeting: String, greeted: std::sync::atomic::AtomicU64 }
//!
//! #[shared]
//! impl Greeter for Polite {
//!     fn new(greeting: String) -> Self {
//!         Polite { greeting, greeted: 0.into() }
//!     }
//!     fn greet(&self, name: String) -> String {
//!         self.greeted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!         format!("{}, {name}.", self.greeting)
//!     }
//!     async fn count(&self) -> u64 {
//!         self.greeted.load(std::sync::atomic::Ordering::Relaxed)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().register::<Polite>().start().await?;
//! // The client crate: only `GreeterProxy`.
//! let client = Client::connect(server.address(), server.authkey().as_bytes()).await?;
//! let greeter = GreeterProxy::create(&client, "Good morning".to_owned()).await?;
//! assert_eq!(greeter.greet("Ada".to_owned()).await?, "Good morning, Ada.");
//! assert_eq!(greeter.count().await?, 1);
//! assert_eq!(greeter.token().type_id, "demo.Greeter");
//! # server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! A client built from an older version of the trait is checked as any other: a method
//! both have must agree, or the client is refused with an error naming it ("the
//! server's `demo.Greeter` has methods .. (they differ in greet)"); a method only one
//! has is allowed.
//!
//! ## Wire identity
//!
//! Clients and servers name a type by its type id. The default is the type's module
//! path and name (`my_app::stats::Counter`), so moving the type to another module, or
//! renaming its crate, silently changes it: a server built after the move no longer
//! knows what older clients ask for. Give a type that other programs share an id of its
//! own — `#[shared(id = "my_app::Counter")]` — and keep it. An id is not empty, has no
//! whitespace and is printable; each mistake is one compile error.
//!
//! Beyond the id, the macro derives the type's interface — the constructor's argument
//! types and each exposed method's name, argument and return types, as the source
//! spells them — and every object carries it (`manager_proto::fingerprint`). A server
//! refuses to create an object for a client whose interface differs in a method both
//! have; a client refuses a proxy to an object whose does. Methods only one side has
//! are allowed, so a type can grow (calling one the server lacks is `NotExposed`).
//! Types are compared as written: `String` and `std::string::String` differ, which two
//! programs built from the same source never see.
//!
//! A mistake is one compile error, underlining the whole of what is wrong: the block is
//! still emitted, next to stand-ins for what `#[shared]` would have generated (as
//! thiserror does), so `register::<T>()` and calls through `TProxy` add nothing.
//!
//! The generated code names only items of `manager-proto` (found under whatever name
//! the user's `Cargo.toml` gives `manager-proto`, `manager-client` or
//! `manager-server`), through a versioned hidden module.

mod attr;
mod errors;
mod expand;
mod fallback;
mod interface;
mod job;
mod krate;
mod model;
mod streams;
mod types;
mod validate;

use proc_macro::TokenStream;

/// Shares a type's methods across processes: on a type's inherent `impl` block, it
/// makes the type hostable by a manager server and generates `TProxy` (async) and
/// `TBlockingProxy`, with one method per `pub` method taking `&self` or `&mut self`.
/// On a trait it declares an interface (the proxies, and no implementation), and on
/// `impl Trait for T` it hosts `T` under that interface.
/// Arguments and results cross the wire, so they must be owned and
/// `Serialize + Deserialize` — or proxies, or (as results) `Shared<T>` values the
/// server hosts. The options and those forms are in the crate documentation.
///
/// ```
/// use manager_client::Client;
/// use manager_server::{Server, shared};
///
/// #[derive(Default)]
/// pub struct Counter {
///     n: u64,
/// }
///
/// #[shared]
/// impl Counter {
///     /// Adds `by` and returns the new count.
///     pub fn incr(&mut self, by: u64) -> u64 {
///         self.n += by;
///         self.n
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A server that hosts Counters (in-process here; usually another process).
/// let server = Server::builder().register::<Counter>().start().await?;
///
/// // A client creates one on the server and calls it through the generated proxy.
/// let client = Client::connect(server.address(), server.authkey().as_bytes()).await?;
/// let counter = CounterProxy::create(&client).await?;
/// assert_eq!(counter.incr(2).await?, 2);
/// assert_eq!(counter.incr(3).await?, 5);
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[proc_macro_attribute]
pub fn shared(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::entry(args.into(), input.into()).into()
}

/// Makes a plain `fn` a job a process pool can run by name in its worker processes
/// (`manager_client::Pool`). The function stays callable as it is; a braced struct of
/// the same name (in the type namespace only) implements `manager_proto::pool::Job`,
/// so call sites name the job by type: `pool.apply::<square>(7)` returns a `u64`.
///
/// The argument is the single parameter's type, or a tuple of them (none: `()`); the
/// output is the return type (a `Result` is an ordinary output: its error stays
/// typed). Options: `#[job(name = "..")]` sets the wire name (default: the function's),
/// `#[job(crate = "..")]` names the protocol crate. A job cannot be `async`, generic, a
/// method, or take references.
///
/// ```
/// use manager_client::job;
/// use manager_client::proto::Job;
///
/// #[job]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// #[job(name = "add")]
/// fn plus(a: u64, b: u64) -> u64 {
///     a + b
/// }
///
/// assert_eq!(square(3), 9); // still a plain function
/// assert_eq!(<square as Job>::NAME, "square");
/// assert_eq!(<plus as Job>::run((2, 3)), 5);
/// assert_eq!(<plus as Job>::NAME, "add");
/// ```
#[proc_macro_attribute]
pub fn job(args: TokenStream, input: TokenStream) -> TokenStream {
    job::entry(args.into(), input.into()).into()
}
