//! One input played: a fresh server state, the connection and the driver on one runtime
//! with a paused clock.

use super::*;

/// Plays `data` against a fresh server state: the client and the connection run together
/// on this thread's runtime, and the outcome is taken once both have finished.
pub(crate) fn play(data: &[u8]) -> Outcome {
    block_on(session(data))
}

pub(super) async fn session(data: &[u8]) -> Outcome {
    let (config_byte, program) = data.split_first().map_or((0, &[][..]), |(&c, rest)| (c, rest));
    let mut config = Config::default();
    match config_byte & 3 {
        2 => config.max_frame = 1024,
        3 => config.max_frame = 16 * 1024,
        _ => {}
    }
    config.allow_remote_shutdown = config_byte & 4 != 0;
    let max_frame = config.max_frame;
    let allow_shutdown = config.allow_remote_shutdown;
    let shared = Arc::new(Shared::for_tests(config, AuthKey::new(*b"fuzzing").expect("a key")));

    let (server_end, client_end) = UnixStream::pair().expect("a socket pair");
    server_end.set_nonblocking(true).expect("non-blocking");
    client_end.set_nonblocking(true).expect("non-blocking");
    // For closing the client's sending side while it goes on reading.
    let closer = client_end.try_clone().expect("a second descriptor");
    let client = Stream::new(client_end).expect("registered with the runtime");
    // What `serve_authenticated` does once the handshake is done.
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    let connection = Connection::new(
        Stream::new(server_end).expect("registered with the runtime"),
        Arc::clone(&shared),
        1,
        "fuzz".into(),
    );
    let decoder = FrameDecoder::new(max_frame);

    let inbox = RefCell::new(Inbox::default());
    let notify = Notify::new();
    let mut driver = Driver {
        client: &client,
        inbox: &inbox,
        notify: &notify,
        max_frame,
        allow_shutdown,
        pending: Vec::new(),
        next_id: FIRST_ID,
        last_id: FIRST_ID,
        recent: Vec::new(),
        streams: Vec::new(),
        created: Vec::new(),
        sent: 0,
        broken: false,
        may_close_early: false,
        pong: false,
    };
    let played = async {
        tokio::join!(
            connection.serve(decoder),
            async {
                driver.play(program).await;
                // Parked calls are dropped by the close: that is intended (it exercises
                // their cancellation), and the checks then find what they left.
                let _ = closer.shutdown(Shutdown::Write);
            },
            read_replies(&client, &inbox, &notify, max_frame),
        );
        let (pong, may_close_early) = (driver.pong, driver.may_close_early);
        drop(driver);
        // What the connection left is garbage now: cycles (raw bytes can make them) too.
        crate::collect::collect(&shared);
        // Except what is leased: leases are the server's, and outlive the connection
        // (a lease is a root to the collector).
        let leases_at_close = shared.leases.leased();
        let lost_leases = leases_at_close.iter().copied().filter(|id| shared.table.get(*id).is_err()).collect();
        // Then the lease length passes (on the paused clock, at once) and the sweeper
        // releases every lease, as a server does with no one left to renew them: from
        // here on, the table must be as empty as if nothing had been leased. This checks
        // more than dropping the leases as shutdown does: the sweeper's timing too.
        tokio::time::sleep(shared.leases.all_released_within() + Duration::from_millis(1)).await;
        // A released lease can leave a cycle behind.
        crate::collect::collect(&shared);
        Outcome {
            replies: inbox.take().replies,
            pong,
            may_close_early,
            leases_at_close: leases_at_close.len(),
            lost_leases,
            stats: shared.stats(),
        }
    };
    // The lease sweeper, as `ServerBuilder::start` runs it; it ends at a shutdown (one
    // an input asked for), dropping every lease.
    let sweeper = async {
        crate::leases::sweeper(Arc::clone(&shared.leases), Arc::clone(&shared.table), shared.shutdown.clone()).await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        outcome = played => outcome,
        () = sweeper => unreachable!("the sweeper's task never ends"),
    }
}

/// This thread's runtime, and the paused clock's reading when it was made.
pub(super) struct Runtime {
    runtime: tokio::runtime::Runtime,
    started: tokio::time::Instant,
}

thread_local! {
    /// One runtime per thread, made on first use: building one per input would cost more
    /// than most inputs.
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let rt = slot.get_or_insert_with(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a tokio runtime");
            let started = runtime.block_on(async { tokio::time::Instant::now() });
            Runtime { runtime, started }
        });
        let started = rt.started;
        let (output, elapsed) = rt.runtime.block_on(async move {
            let output = future.await;
            (output, started.elapsed())
        });
        if elapsed > CLOCK_BUDGET {
            *slot = None;
        }
        output
    })
}
