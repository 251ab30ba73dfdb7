//! # Security: what the key protects, and what it does not
//!
//! ## What the key protects
//!
//! - **Only holders of the key get in.** Every connection starts with a mutual
//!   HMAC-SHA256 challenge–response over fresh random nonces from both sides and a
//!   domain-separation label. The client proves first, so a peer without the key learns
//!   nothing but a random challenge; the server proves too, so a client does not talk to
//!   an impostor. Comparisons are constant-time. A captured exchange cannot be replayed:
//!   the other side's nonce will differ.
//! - **Before authentication, a peer can do nothing.** It gets a challenge, or a message
//!   saying the versions do not match or the server is full — nothing else, no object, no
//!   error detail. Its frames are limited to 256 bytes, and it has
//!   [`handshake_timeout`](crate::ServerBuilder::handshake_timeout) (10 s) to finish.
//! - **A key holder still cannot run code on the server.** Messages are postcard-encoded
//!   values of fixed types, not pickles: a client can call the methods a type exposes
//!   and nothing else. (Python's managers run any code an authenticated peer sends.)
//! - **Holdings are bounded in time.** A peer that disappears loses its references,
//!   locks and waits when its connection ends, or after
//!   [`idle_timeout`](crate::ServerBuilder::idle_timeout) (60 s) of silence if its
//!   host vanished without closing the connection. A token's lease holds its object
//!   for [`token_lease`](crate::ServerBuilder::token_lease) (30 s) after the last
//!   minting, one lease per object however often it is minted.
//! - **The key does not leak from here.** It never appears in logs, `Debug` output or
//!   error messages, and its memory is zeroed (best effort) when dropped. A server
//!   started with `spawn_child` receives it over a pipe, not its command line or
//!   environment.
//!
//! ## What it does not protect
//!
//! - **On `tcp://`, nothing is encrypted.** Everything after the handshake — arguments,
//!   values, names — crosses the network in the clear, and the session after the
//!   handshake carries no MAC: an attacker who can *modify* traffic on the path (not
//!   just read it) could inject requests into an authenticated connection. The key
//!   proves who connects; it does not seal the conversation. `tls://` does (below).
//! - **Every key holder is trusted alike.** Any of them can read and change every named
//!   object and every object whose token it learns, create objects (using server memory:
//!   there is no per-client quota yet), and, if
//!   [`allow_remote_shutdown`](crate::ServerBuilder::allow_remote_shutdown) is on, stop
//!   the server. There are no per-client permissions.
//! - **Denial of service by a key holder** is bounded but not prevented: the connection
//!   limit, frame size limit and per-connection in-flight limit cap what one peer makes
//!   the server buffer, but not how many objects it creates, nor how much legitimate
//!   data it stores in them over many requests.
//! - **A process pool's peers are key holders too.** Any of them that learns a pool's
//!   name or token can submit tasks (which run the *workers'* registered jobs — never
//!   code the submitter sends), register as a worker and take tasks (seeing their
//!   arguments, and answering them with any output), or close and terminate the pool.
//!   A worker's `done` is accepted only for a task that connection took; a task is a
//!   parked call, so a connection holds at most its in-flight limit of them, each no
//!   larger than one request.
//!
//! ## What TLS adds (`tls://`)
//!
//! A `tls://` listener ([`ServerTls`](crate::ServerTls), or the binary's `--tls-cert`
//! and `--tls-key`) runs TLS 1.3 or 1.2 (rustls, ring's crypto) on each connection
//! *before* anything else, then the same key handshake inside it:
//!
//! - **Confidentiality and integrity.** Every byte after the TLS handshake is encrypted
//!   and authenticated: a passive listener learns nothing but sizes and timing, and an
//!   attacker on the path can neither read nor inject nor replay requests.
//! - **Server authentication.** The client checks the server's certificate against a
//!   CA it trusts (`MANAGER_TLS_CA`, `ClientTls::ca_file`) and the name in the address
//!   (`tls://db.example:5000` must be valid for `db.example`), or against one pinned
//!   certificate (`ClientTls::pinned_file`). A client never connects to a `tls://`
//!   address unverified: with no trust configured it refuses to connect.
//! - **Client certificates (mutual TLS)**, when the server is given a client CA
//!   ([`ServerTls::require_client_cert`](crate::ServerTls::require_client_cert),
//!   `--tls-client-ca`): a peer without a certificate signed by it is refused during
//!   the TLS handshake, before it can send a single frame. Which certificate a client
//!   presented does not (yet) change what it may do.
//! - **The key is still required inside.** TLS proves who the server is (and, with
//!   mutual TLS, that the client holds a certificate); the HMAC key still decides who
//!   may use the server, exactly as on `tcp://`. A stolen client certificate without
//!   the key gets nowhere, and the reverse.
//! - **Refusals are logged, never key material.** A failed TLS handshake (an unknown
//!   CA, a missing client certificate, a plain client on the TLS port) is one warning
//!   naming the peer and the reason; the server goes on serving others. A plain client
//!   on a TLS port is told in its own protocol: "the server expects TLS: use tls://".
//!   Private keys are read once at start-up and never logged or printed (`Debug` of
//!   `ServerTls` and `ClientTls` shows no key).
//! - **Not covered**: certificate revocation (no CRL or OCSP checks), and rotation
//!   without a restart (the server reads its files once).
//!
//! ## Sessions: what a resume trusts
//!
//! A client that reconnects (`ClientOptions::reconnect`) gets a session: its
//! connection's holdings outlive a broken link for
//! [`session_grace`](crate::ServerBuilder::session_grace) (30 s), and a new link that
//! names the session continues it.
//!
//! - **Resuming takes the key and the session's id.** A new link runs the full
//!   handshake first; the session request rides in the client's proof, under its MAC,
//!   so it cannot be swapped on the path. The id is 16 random bytes the server drew
//!   and sent only to that client (in the clear on `tcp://`, as everything is; encrypted on `tls://`). Any
//!   key holder who learns an id could resume that session — key holders are trusted
//!   alike anyway — and the client whose session it was then sees its link replaced.
//! - **Nothing runs twice, nothing is lost.** Both relays keep what they sent until
//!   the other acknowledges it, and resend from exactly the byte the other says it has.
//!   A resume that claims bytes never sent, or fewer than it already acknowledged,
//!   ends the session. Execution is at most once: a call the server ran is never run
//!   again by a resume; when a session cannot be resumed, the calls it had in flight
//!   fail with `SessionLost`, and the client cannot know whether they ran.
//! - **What a vanished holder keeps, and for how long.** A session's locks, semaphore
//!   slots, references and queue items taken by its parked `get`s stay its own while
//!   its link is broken, up to the grace period after the server notices (a closed
//!   socket at once; a silent one after three of the client's keepalive periods).
//!   Other clients waiting for its lock wait that long. Past it, everything is
//!   released as for a closed connection. A session's connection is still subject to
//!   the idle timeout: keep the grace period below it.
//! - **What a session costs the server** while its link is down: the relay's replay
//!   buffer (at most 8 MiB of unacknowledged output, after which the connection's own
//!   output limits apply) and the connection it keeps. A session counts against the
//!   connection limit while it lives; a resuming link holds a place only during its
//!   handshake.
//!
//! ## What one request can cost
//!
//! Every number in a request is the peer's to choose. Whatever it chooses, one request
//! to a built-in costs bounded work and bounded memory, and never reaches a panic:
//!
//! - **Work** is at most linear in the size of the object it touches (a slice, a
//!   `count`, a `delete_slice` over the whole list), never in a number the peer sends:
//!   `Semaphore.release(n)` wakes at most the waiters there are, `notify(n)` the same,
//!   `get_many(n)` takes at most what is queued, a slice's step only thins out the
//!   positions. No built-in loops while holding a lock for longer than one pass over its
//!   object. Two requests are linear in the whole table instead: `Stats` (the counts by
//!   type) and `Collect` (one cycle collection, which holds each object's lock only
//!   while it lists that object's references, and the table's lock only to snapshot
//!   it and to remove the garbage).
//! - **Memory stored** by one request — the elements `extend`, `update`, `repeat`, a
//!   constructor's contents add — is at most
//!   [`max_request_memory`](crate::ServerBuilder::max_request_memory) (default twice the
//!   frame limit, 128 MiB), counted as encoded bytes plus about 80 bytes per element and
//!   checked *as the elements decode* and before `repeat` copies anything: a 12-byte
//!   `list.repeat(2**24)` gets `LimitExceeded` instead of 1.5 GB.
//! - **Memory sent back** is at most one frame: a snapshot, slice, `items()` or set
//!   operation whose result would not fit is refused before it is built, and
//!   `get_many` stops at what fits.
//! - **Numbers** are checked: a counter that would pass its type's range gets
//!   `Overflow` (a semaphore at `u64::MAX`, an `RLock` acquired 2^32 times, `fetch_add`
//!   past an integer's bounds) and changes nothing; a bounded semaphore's bound is
//!   checked without wrapping; indexes and slice bounds are computed in 128 bits, as
//!   Python's are unbounded; timeouts must be non-negative numbers of seconds (NaN is
//!   refused).
//! - **Waits** that end — by timeout, cancellation or a closed connection — leave
//!   nothing behind on the object: a client polling an empty queue with timeouts in a
//!   loop does not grow the server.
//! - **Stopping**: the standalone server hears SIGTERM and SIGINT on a thread of its
//!   own and is gone within its shutdown grace (5 s) plus a second, whatever its calls
//!   are doing. A `#[shared]` method of your own runs on the server's threads: one that
//!   never returns still occupies a thread (as in any server), and an embedding program
//!   should stop the process the same way if it cannot wait.
//! - **Same-user processes.** Unix sockets are created owner-only (mode 0600; the
//!   default one in a new 0700 directory), so other users cannot connect at all; any
//!   process of the same user that has the key can. `MANAGER_AUTHKEY` in a child's
//!   environment is readable by the same user (and root) through `/proc`.
//!
//! ## Shared memory blocks
//!
//! A key holder may create `SharedMemory` blocks, map any block whose token it learns,
//! and read and write its bytes directly — without the server seeing or bounding the
//! writes. What it cannot do:
//!
//! - **Reach other files.** The server only ever hands out the identity of its own
//!   memfds (`open` answers the descriptor of the object called, nothing a peer names);
//!   a client opens `/proc/<server pid>/fd/<fd>` itself, which the kernel allows only to
//!   processes of the server's user (its ptrace-read check), and refuses to map anything
//!   whose inode, device, size or seals differ from the block's.
//! - **Make another process fault.** Every memfd is sealed at its size
//!   (`F_SEAL_SHRINK`, `F_SEAL_GROW`, `F_SEAL_SEAL`) before anyone can open it, so no one
//!   can truncate it under another's mapping (`SIGBUS`).
//! - **Exhaust the host's memory through blocks**: the live blocks' sizes together are
//!   capped ([`max_shared_memory`](crate::ServerBuilder::max_shared_memory), 1 GiB by
//!   default); past it creation gets `LimitExceeded`. A block's pages are committed only
//!   as they are touched, and charged to whoever touches them.
//! - **Leave anything behind**: blocks are never named in `/dev/shm`; a memfd goes with
//!   its last descriptor and mapping, whoever dies.
//!
//! What it can do: scribble over a block others use (shared memory trusts its
//! mappers, as it does in Python), keep a block's memory alive by keeping its mapping
//! after the object was dropped, and make a `ShareableList`'s readers wait up to a
//! second on a slot it left half-written (they then get an error, never a torn value).
//! `open` also tells it the server's pid, a descriptor number and the host's boot id:
//! facts any same-host process of that user could read in `/proc` anyway.
//!
//! ## Connections over shared memory (`--shared-memory`)
//!
//! A client on the Unix socket may ask, in its handshake proof (so after proving the
//! key, and covered by its MAC), for its connection to move to shared memory. The
//! server then makes a segment for that connection alone — a memfd, mode 0600, sized
//! and sealed (`F_SEAL_SHRINK`, `F_SEAL_GROW`, `F_SEAL_SEAL`) before it leaves the
//! server, never named in `/dev/shm` — and passes it, with four eventfds (the two
//! sides' bells), over the socket (`SCM_RIGHTS`). Only that client gets the
//! descriptors; no other process can reach the segment but by being handed them.
//!
//! What the client can do with it is what it could do with its socket bytes, and
//! no more:
//!
//! - **Write anything into the rings.** The server keeps its own copies of the
//!   indices and the ring's size, and checks every index the client publishes (it
//!   may only grow, and never by more than the ring holds): a bad one ends that
//!   connection (`the peer corrupted the shared-memory ring`), as a broken frame
//!   does; bytes that are not frames are refused by the same decoder and limits as
//!   on a socket. The server copies bytes out before decoding them, so a client
//!   changing them mid-read only changes what it sent. Tested with a hostile peer
//!   (`tests/it/rings.rs`) and fuzzed (`manager-proto/fuzz`, target `ring`).
//! - **Not make the server fault.** The segment is sealed at its size before the
//!   client sees it: it cannot be truncated under the server's mapping.
//! - **Not cost more memory than 2 MiB per connection** (two 1 MiB rings), within the
//!   connection limit; the pages are charged to whoever touches them.
//! - **Not outlive itself.** The server closes its descriptor of the segment once it
//!   is sent and unmaps it when the connection ends; the kernel frees it when the
//!   client's mapping goes too, however either side dies. The socket stays open:
//!   its end is the connection's end, and a client that goes silent is dropped by the
//!   idle timeout as on a socket.
//! - **Ring the server's bells** as often as it likes: a wake-up with nothing to read
//!   costs the server a look at the ring, as an empty read would.
//!
//! A client that spins (low-latency mode) burns its own CPU; the server's own polling
//! is bounded by its adaptive budget (at most 50 µs after each batch, falling to
//! nothing on an idle connection) or by `busy_poll` when the operator set one.
//!
//! ## Running across hosts today
//!
//! 1. Prefer a Unix socket, or TCP bound to loopback (`tcp://127.0.0.1:PORT`); the
//!    `manager-server` binary (the crate's `cli` feature) binds loopback unless told
//!    otherwise, and refuses a non-loopback listener unless the key was supplied by
//!    the operator.
//! 2. To reach it from another host, listen on `tls://` with a certificate the clients
//!    trust (`--listen tls://0.0.0.0:5000 --tls-cert cert.pem --tls-key key.pem`;
//!    clients set `MANAGER_TLS_CA`), add `--tls-client-ca` to admit only clients holding
//!    a certificate, and keep a long random key as well. Or carry a `tcp://` connection
//!    inside something that encrypts it: an SSH tunnel (`ssh -N -L
//!    5000:127.0.0.1:5000 host`, then connect to `tcp://127.0.0.1:5000`) or WireGuard.
//! 3. Listen on a network interface with plain `tcp://` only on a network you
//!    trust end to end, with a long random key (`manager-server --generate-authkey`
//!    makes 32 random bytes) kept in a 0600 file, given with `--authkey-file`.
//! 4. Rotate the key by restarting the server with a new one; tokens from the old run
//!    are refused anyway (they name the server run).
