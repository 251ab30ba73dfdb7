//! A server in a child process that exits with its parent (Python's
//! `Manager().start()`), without `fork`: the program re-executes itself, and the same
//! `spawn_child` call that spawned the child serves in it.

use manager_proto::{Address, AuthKey};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::builder::ServerBuilder;
use crate::error::ServerError;
use crate::random::random_bytes;

/// Set in the child's environment; its presence makes `spawn_child` serve.
const CHILD_ENV: &str = "MANAGER_SERVER_CHILD";
/// The line the child prints when it is listening.
const READY: &str = "MANAGER_SERVER_READY ";
/// How long the parent waits for the child to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl ServerBuilder {
    /// Runs this server in a child process that stops when this process exits or drops
    /// the returned [`ChildServer`].
    ///
    /// The child is this same program, run again with the same arguments: call
    /// `spawn_child` at the start of `main`, before work that must not happen twice. In
    /// the child the call never returns: it serves, then exits the process. The parent
    /// passes the key to the child over a pipe (never the environment or the command
    /// line), and the child treats the end of that pipe — this process exiting, even by
    /// `SIGKILL` — as the signal to shut down.
    pub async fn spawn_child(self) -> Result<ChildServer, ServerError> {
        if std::env::var_os(CHILD_ENV).is_some() {
            serve_as_child(self).await
        }
        let key = match self.authkey {
            Ok(Some(ref key)) => key.clone(),
            Ok(None) => AuthKey::new(random_bytes::<32>()?).map_err(|e| ServerError::Config(e.to_string()))?,
            Err(e) => return Err(e),
        };
        let exe = std::env::current_exe().map_err(ServerError::Io)?;
        let mut child = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| ServerError::Child(format!("could not start the server process: {e}")))?;
        let mut stdin =
            child.stdin.take().ok_or_else(|| ServerError::Child("the server process has no stdin".into()))?;
        let stdout =
            child.stdout.take().ok_or_else(|| ServerError::Child("the server process has no stdout".into()))?;
        stdin
            .write_all(format!("{}\n", key.to_hex()).as_bytes())
            .await
            .map_err(|e| ServerError::Child(format!("could not pass the key to the server process: {e}")))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix(READY) {
                    return Ok(Some(addr.to_owned()));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let address = match ready {
            Ok(Ok(Some(addr))) => addr
                .parse::<Address>()
                .map_err(|e| ServerError::Child(format!("the server process reported a bad address: {e}")))?,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.map_err(ServerError::Io)?;
                return Err(ServerError::Child(format!(
                    "the server process exited before listening ({status}); see its output above"
                )));
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(ServerError::Child("the server process did not start listening in time".into()));
            }
        };
        Ok(ChildServer { child, stdin: Some(stdin), address, authkey: key })
    }
}

/// Serves in the child, then exits the process.
async fn serve_as_child(builder: ServerBuilder) -> ! {
    let code = match child_main(builder).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("manager server process: {e}");
            1
        }
    };
    std::process::exit(code)
}

async fn child_main(builder: ServerBuilder) -> Result<(), ServerError> {
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = String::new();
    stdin.read_line(&mut line).await.map_err(ServerError::Io)?;
    let key = AuthKey::from_hex(&line).map_err(|e| ServerError::Config(e.to_string()))?;
    let server = builder.authkey_value(key).start().await?;
    println!("{READY}{}", server.address());
    // The parent holds our stdin; when it closes (the parent exited or let go), stop.
    let mut rest = Vec::new();
    tokio::select! {
        _ = stdin.read_to_end(&mut rest) => {}
        () = server.stopped() => {}
    }
    server.shutdown().await;
    Ok(())
}

/// A server running in a child process. Dropping it (or this process exiting) stops
/// the child.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    /// Held open for the child's life: its end is the child's signal to stop.
    stdin: Option<ChildStdin>,
    address: Address,
    authkey: AuthKey,
}

impl ChildServer {
    /// Where the child listens.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The key clients must hold.
    pub fn authkey(&self) -> &AuthKey {
        &self.authkey
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the child and waits for it (killing it if it has not exited in 10 s).
    pub async fn shutdown(mut self) -> Result<std::process::ExitStatus, ServerError> {
        self.stdin = None;
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => status.map_err(ServerError::Io),
            Err(_) => {
                let _ = self.child.kill().await;
                self.child.wait().await.map_err(ServerError::Io)
            }
        }
    }
}
