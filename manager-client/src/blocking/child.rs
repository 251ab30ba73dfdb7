//! Starting a child process that shares this client's objects — Python's
//! `Process(target=f, args=(proxy, i))`: [`Client::child`] builds the command with the
//! server's address and key and the proxies handed over, and [`Worker::join`] waits for
//! it and fails if it did.

use manager_proto::{BlockingProxy, Error};
use std::ffi::OsStr;
use std::process::{Child, Command};

use super::client::Client;

impl Client {
    /// A child process running `program`, which will find this client's server with
    /// [`Client::from_env`] and the proxies handed to it with
    /// [`inherited`](Client::inherited). For this program run again, see
    /// [`worker`](Self::worker).
    ///
    /// ```
    /// use manager_client::blocking::{Client, ListProxy};
    /// # let server = manager_server::Server::builder().start_blocking()?;
    /// let client = Client::connect(server.address(), server.authkey())?;
    /// let results: ListProxy<u32> = client.list()?;
    /// // In the child: `Client::from_env()?.inherited::<ListProxy<u32>>("results")?`.
    /// let worker = client.child("true").arg("--worker").proxy("results", &results).spawn()?;
    /// worker.join()?;
    /// assert!(client.child("false").spawn()?.join().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn child(&self, program: impl AsRef<OsStr>) -> ChildBuilder<'_> {
        let mut command = Command::new(program);
        self.configure_child(&mut command);
        ChildBuilder { client: self, command, error: None }
    }

    /// A child running this program again (`std::env::current_exe()`), as
    /// [`child`](Self::child): the usual way to start a worker, which tells itself apart
    /// from the parent by the arguments it is given.
    ///
    /// ```no_run
    /// use manager_client::blocking::{Client, DictProxy};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// if let Some(i) = std::env::args().nth(1) {
    ///     // The worker.
    ///     let d: DictProxy<u32, u32> = Client::from_env()?.inherited("d")?;
    ///     d.insert(i.parse()?, 1)?;
    ///     return Ok(());
    /// }
    /// # let server = manager_server::Server::builder().start_blocking()?;
    /// let client = Client::connect(server.address(), server.authkey())?;
    /// let d = client.dict::<u32, u32>()?;
    /// client.worker().arg("7").proxy("d", &d).spawn()?.join()?;
    /// assert_eq!(d.get(&7)?, Some(1));
    /// # Ok(()) }
    /// ```
    pub fn worker(&self) -> ChildBuilder<'_> {
        match std::env::current_exe() {
            Ok(exe) => self.child(exe),
            Err(e) => {
                let mut builder = self.child("");
                builder.error = Some(io_error(format!("cannot find this program to run it again: {e}")));
                builder
            }
        }
    }
}

/// A child process being set up: made by [`Client::child`], started by
/// [`spawn`](Self::spawn).
#[derive(Debug)]
#[must_use = "the child starts only when spawned"]
pub struct ChildBuilder<'c> {
    /// The client whose server and proxies the child gets.
    client: &'c Client,
    /// The command, with the server's variables already set.
    command: Command,
    /// The first proxy that could not be handed over: kept for `spawn` to report, so
    /// the calls chain without a `?` each.
    error: Option<Error>,
}

impl ChildBuilder<'_> {
    /// Adds an argument to the child's command line.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Adds arguments to the child's command line.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.command.args(args);
        self
    }

    /// Hands `proxy` to the child under `name` (as [`Client::pass_proxy`]: its token,
    /// leased). A name that cannot be handed over fails [`spawn`](Self::spawn).
    pub fn proxy<P: BlockingProxy>(mut self, name: &str, proxy: &P) -> Self {
        if self.error.is_none()
            && let Err(e) = self.client.pass_proxy(&mut self.command, name, proxy)
        {
            self.error = Some(e);
        }
        self
    }

    /// The command underneath, for anything else (its output, working directory, …).
    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Starts the child. Fails, starting nothing, if a proxy could not be handed over
    /// (or, for [`Client::worker`], this program could not be found).
    pub fn spawn(mut self) -> Result<Worker, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let program = self.command.get_program().to_string_lossy().into_owned();
        let child = self.command.spawn().map_err(|e| io_error(format!("could not start {program}: {e}")))?;
        Ok(Worker { child, program })
    }
}

/// A running child process, started by [`ChildBuilder::spawn`]. Dropping it neither
/// waits for the process nor kills it (as with [`std::process::Child`]).
#[derive(Debug)]
pub struct Worker {
    /// The process.
    child: Child,
    /// Its program, to name it in errors.
    program: String,
}

impl Worker {
    /// Waits for the process to exit; an error, naming the program and how it ended,
    /// unless it exited successfully.
    pub fn join(mut self) -> Result<(), Error> {
        let status = self.child.wait().map_err(|e| io_error(format!("waiting for {}: {e}", self.program)))?;
        if status.success() { Ok(()) } else { Err(io_error(format!("{} failed: {status}", self.program))) }
    }

    /// The process's id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The [`std::process::Child`] underneath (its pipes, `kill`, `wait` without the
    /// check).
    pub fn into_child(self) -> Child {
        self.child
    }
}

fn io_error(message: String) -> Error {
    Error::from(std::io::Error::other(message))
}
