//! The harness's tests: its tables are the server's, each kind of input does what the
//! encoding says, the seeds, and the replay of the regressions (one job, long because
//! each kind of input has its test).

use super::program::{Program, is_stream};
use super::*;
use std::path::PathBuf;

fn shared() -> Shared {
    Shared::for_tests(Config::default(), AuthKey::new(*b"test").unwrap())
}

/// The harness's method table (the contracts') is the server's: every built-in the
/// registry hosts, every method it exposes.
#[test]
fn the_signatures_cover_every_exposed_method() {
    let shared = shared();
    assert_eq!(TYPES.len(), 17);
    for (type_id, _, methods) in TYPES.iter() {
        let exposed = shared.registry.describe(type_id).unwrap().methods;
        let ours: Vec<&str> = methods.iter().map(|(name, _)| *name).collect();
        assert_eq!(exposed, ours, "the exposed methods of `{type_id}`");
    }
}

/// Every method, called with the arguments an all-zero payload makes, decodes them:
/// the signatures are the server's.
#[test]
fn every_method_decodes_the_arguments_the_harness_makes() {
    for (type_id, _, methods) in TYPES.iter() {
        for (method, _) in methods {
            let input = Program::new(0).create(type_id, &[]).call(0, type_id, method, &[]).0;
            let outcome = play(&input);
            check(&outcome);
            assert!(outcome.pong);
            if is_stream(type_id, method) {
                // A stream method is opened, not called: `streams.rs`'s tests.
                continue;
            }
            let created = outcome.replies.iter().find(|(id, _)| *id == FIRST_ID).unwrap();
            assert!(matches!(&created.1, Answer::Object(_, t, _) if t == type_id), "{type_id}: {created:?}");
            // A call that parks (an event's wait) is not answered before the close.
            if let Some((_, Answer::Error(kind, message))) = outcome.replies.iter().find(|(id, _)| *id == FIRST_ID + 1)
            {
                // An empty element is no number: `fetch_add` says so, as a decode error.
                let not_a_number = type_id == &b::VALUE && method.starts_with("fetch_");
                // A stream method (`list.iter`, `dict.items`) is opened, not called: the
                // harness only calls, and the server says so.
                let a_stream = message.ends_with(crate::builtins::STREAM_METHOD);
                assert!(
                    !matches!(kind, RemoteErrorKind::Decode | RemoteErrorKind::NotExposed) || not_a_number || a_stream,
                    "{type_id}.{method}: {kind:?}: {message}"
                );
            }
        }
    }
}

/// A `Create`'s high four bits pick its fingerprint, which a built-in keeps and
/// answers with as given, however odd; a `GetNamed`'s answer carries it too.
#[test]
fn creates_carry_the_fingerprint_their_opcode_picks_and_objects_keep_it() {
    for (i, fingerprint) in driver::FINGERPRINTS.iter().enumerate() {
        let op = u8::try_from(i).unwrap() << 4;
        let input = Program::new(0).op(op, &[Program::type_index(b::QUEUE)]).0;
        let outcome = play(&input);
        check(&outcome);
        let created = outcome.replies.iter().find(|(id, _)| *id == FIRST_ID).unwrap();
        assert!(matches!(&created.1, Answer::Object(_, _, f) if f == fingerprint), "{created:?}");
    }
}

/// A connection that created one of everything, parked calls and took locks leaves
/// nothing behind.
#[test]
fn a_closed_connection_leaves_nothing() {
    let mut program = Program::new(0);
    for (type_id, _, _) in TYPES.iter() {
        program = program.create(type_id, &[]);
    }
    // A blocking get on the empty queue (block: true, no timeout), a wait on the event.
    let program = program.call(6, b::QUEUE, "get", &[1, 0]).call(13, b::EVENT, "wait", &[0]);
    let outcome = play(&program.0);
    check(&outcome);
    let objects = outcome.replies.iter().filter(|(_, a)| matches!(a, Answer::Object(..))).count();
    assert_eq!(objects, TYPES.len());
    assert_eq!(outcome.stats.objects, 0);
}

/// A leased object outlives the connection that leased it (and holds what it holds)
/// until the lease length passes; then nothing is left. A lease of an object the
/// connection does not hold is refused.
#[test]
fn a_leased_object_outlives_its_connection_until_its_lease_runs_out() {
    let program = Program::new(0)
        .create(b::LIST, &[0])
        .create(b::DICT, &[1, 0xC0, 0, 0x01])
        // Leased with an answer, leased again (a new deadline), the list with none.
        .op(12, &[1, 1])
        .op(12, &[1, 1])
        .op(0xFC, &[1, 0])
        .op(12, &[1, 0xF5])
        .op(10, &[0])
        .op(10, &[1]);
    let outcome = play(&program.0);
    check(&outcome);
    assert!(outcome.pong);
    let answers: Vec<&Answer> = outcome.replies.iter().filter(|(id, _)| *id > FIRST_ID + 1).map(|(_, a)| a).collect();
    assert!(
        matches!(
            answers[..],
            [Answer::Done, Answer::Done, Answer::Error(_, _), Answer::Done, Answer::Done, Answer::Pong]
        ),
        "{answers:?}"
    );
    assert_eq!(outcome.leases_at_close, 2);
    assert!(outcome.lost_leases.is_empty());
    assert_eq!((outcome.stats.objects, outcome.stats.leases), (0, 0));
}

/// `Collect` frees a cycle nothing else holds and answers how many objects it freed;
/// a lease keeps the cycle until it runs out.
#[test]
fn collect_frees_a_cycle_unless_it_is_leased() {
    let dict = usize::from(Program::type_index(b::DICT));
    let insert = u8::try_from(TYPES[dict].2.iter().position(|(name, _)| *name == "insert").unwrap()).unwrap();
    // The dict (object 1 on a fresh server) stored in itself, through raw arguments.
    let own = Item { bytes: Vec::new(), refs: vec![ObjectId(1)] };
    let args = encoded(&(Item { bytes: vec![1], refs: Vec::new() }, own));
    let cycle = |lease: bool| {
        let program = Program::new(0).create(b::DICT, &[]).op(5, &[&[0, insert][..], &args].concat());
        let program = if lease { program.op(12, &[1, 0]) } else { program };
        program.op(10, &[0]).op(12, &[2])
    };
    for (lease, freed) in [(false, 1u64), (true, 0)] {
        let outcome = play(&cycle(lease).0);
        check(&outcome);
        assert!(outcome.pong);
        let collected = outcome.replies.iter().rev().find_map(|(_, a)| match a {
            Answer::Value(v) => Some(postcard::from_bytes::<u64>(v).unwrap()),
            _ => None,
        });
        assert_eq!(collected, Some(freed), "leased: {lease}; {:?}", outcome.replies);
        assert_eq!(outcome.leases_at_close, usize::from(lease));
        // The lease ran out, and the harness's last collection freed the cycle.
        assert_eq!((outcome.stats.objects, outcome.stats.cycles_collected), (0, 1));
    }
}

/// The hand-made seeds in `tests/fuzz_regressions/live_requests/`: one of each type,
/// and a few methods of each, with parked calls, timeouts, cancels, references, leases
/// running out, and the ways a connection ends.
fn seeds() -> Vec<(&'static str, Program)> {
    let mut every = Program::new(0);
    for (n, (type_id, _, _)) in TYPES.iter().enumerate() {
        every = every.create(type_id, &[]).op(6, &[u8::try_from(n).unwrap()]);
    }
    let dict = Program::new(0)
        .create(b::DICT, &[2, 0x01, 0x02, 0x03, 0x04])
        .call(0, b::DICT, "insert", &[0x05, 0x01])
        .call(0, b::DICT, "get", &[0x01])
        .call(0, b::DICT, "setdefault", &[0x02, 0x03])
        .call(0, b::DICT, "update", &[1, 0x06, 0, 0x01])
        .call(0, b::DICT, "merged", &[1, 0x01, 0x02])
        .call(0, b::DICT, "snapshot", &[])
        .call(0, b::DICT, "pop", &[0x01])
        .call(0, b::DICT, "pop_or", &[0x01, 0x02])
        .call(0, b::DICT, "popitem", &[])
        .call(0, b::DICT, "len", &[])
        .op(6, &[0])
        .op(10, &[0])
        .op(10, &[0]);
    let sequences = Program::new(0)
        .create(b::LIST, &[3, 0x01, 0x02, 0x03])
        .call(0, b::LIST, "append", &[0x04])
        .call(0, b::LIST, "slice", &[0, 0, 3])
        .call(0, b::LIST, "set_slice", &[2, 0, 2, 0x05, 0x05])
        .call(0, b::LIST, "delete_slice", &[0, 0, 4])
        .call(0, b::LIST, "index", &[0x05, 0, 0])
        .call(0, b::LIST, "insert", &[3, 0x03])
        .call(0, b::LIST, "repeat", &[2])
        .call(0, b::LIST, "versioned", &[])
        .call(0, b::LIST, "replace_if", &[1, 1, 0x01])
        .call(0, b::LIST, "pop", &[0])
        .create(b::ARRAY, &[3, 0x01, 0x02, 0x03])
        .call(1, b::ARRAY, "slice", &[0, 0, 3])
        .call(1, b::ARRAY, "set_slice", &[0, 0, 4, 2, 0x04, 0x05])
        .call(1, b::ARRAY, "get", &[2])
        .call(1, b::ARRAY, "snapshot", &[])
        .create(b::SET, &[2, 0x01, 0x02])
        .call(2, b::SET, "symmetric_difference_update", &[2, 0x02, 0x03])
        .call(2, b::SET, "issubset", &[1, 0x01])
        .create(b::NAMESPACE, &[1, 0, 0x01])
        .call(3, b::NAMESPACE, "set", &[1, 0x02])
        .call(3, b::NAMESPACE, "items", &[])
        .create(b::VALUE, &[0x06, 1, 0])
        .call(4, b::VALUE, "fetch_add", &[3, 1, 2])
        .call(4, b::VALUE, "compare_exchange", &[0x01, 0x02]);
    let queues = Program::new(0)
        .create(b::QUEUE, &[1])
        .call(0, b::QUEUE, "put", &[0x01, 0, 0])
        .call(0, b::QUEUE, "put_many", &[3, 0x02, 0x03, 0x04])
        .call(0, b::QUEUE, "get", &[0, 0])
        .call(0, b::QUEUE, "get_many", &[3, 0, 0])
        .call(0, b::QUEUE, "get", &[0, 0])
        .call(0, b::QUEUE, "get", &[1, 0])
        .op(7, &[0])
        .call(0, b::QUEUE, "get", &[1, 5])
        .op(13, &[3])
        .call(0, b::QUEUE, "put", &[0x05, 0, 0])
        .call(0, b::QUEUE, "get", &[1, 0])
        .op(8, &[0])
        .op(12, &[])
        .create(b::JOINABLE_QUEUE, &[0])
        .call(1, b::JOINABLE_QUEUE, "put", &[0x01, 0, 0])
        .call(1, b::JOINABLE_QUEUE, "put", &[0x02, 1, 4])
        .call(1, b::JOINABLE_QUEUE, "get", &[0, 0])
        .call(1, b::JOINABLE_QUEUE, "task_done", &[])
        .call(1, b::JOINABLE_QUEUE, "join", &[])
        .op(12, &[])
        .call(1, b::JOINABLE_QUEUE, "get", &[0, 0])
        .call(1, b::JOINABLE_QUEUE, "task_done", &[])
        .call(1, b::JOINABLE_QUEUE, "shutdown", &[1])
        .call(1, b::JOINABLE_QUEUE, "get", &[1, 0]);
    let locks = Program::new(0)
        .create(b::LOCK, &[])
        .create(b::RLOCK, &[])
        .create(b::SEMAPHORE, &[2])
        .create(b::BOUNDED_SEMAPHORE, &[0])
        .create(b::CONDITION, &[0])
        .create(b::CONDITION, &[1, 0])
        .call(0, b::LOCK, "acquire", &[0, 1, 0])
        .op(8, &[0])
        .call(0, b::LOCK, "acquire", &[1, 1, 5])
        .op(13, &[3])
        .call(0, b::LOCK, "acquire", &[2, 1, 0])
        .call(0, b::LOCK, "release", &[0])
        .call(0, b::LOCK, "owned", &[2])
        .call(1, b::RLOCK, "acquire", &[0, 1, 0])
        .call(1, b::RLOCK, "acquire", &[0, 1, 0])
        .call(1, b::RLOCK, "release", &[0])
        .call(1, b::RLOCK, "release", &[0])
        .call(1, b::RLOCK, "release", &[0])
        .call(2, b::SEMAPHORE, "acquire", &[1, 0])
        .call(2, b::SEMAPHORE, "acquire", &[1, 0])
        .call(2, b::SEMAPHORE, "acquire", &[1, 0])
        .call(2, b::SEMAPHORE, "release", &[0])
        .call(2, b::SEMAPHORE, "value", &[])
        .call(3, b::BOUNDED_SEMAPHORE, "release", &[0])
        .call(4, b::CONDITION, "acquire", &[0, 1, 0])
        .call(4, b::CONDITION, "wait", &[0, 4])
        .call(4, b::CONDITION, "acquire", &[1, 1, 0])
        .call(4, b::CONDITION, "notify", &[1, 0])
        .call(4, b::CONDITION, "release", &[1])
        .op(12, &[])
        .call(5, b::CONDITION, "acquire", &[0, 0, 0]);
    let waits = Program::new(0)
        .create(b::EVENT, &[])
        .create(b::BARRIER, &[2, 0])
        .create(b::BARRIER, &[0, 5])
        .call(0, b::EVENT, "wait", &[0])
        .call(0, b::EVENT, "set", &[])
        .op(12, &[])
        .call(0, b::EVENT, "clear", &[])
        .call(0, b::EVENT, "wait", &[1])
        .call(1, b::BARRIER, "wait", &[0])
        .call(1, b::BARRIER, "n_waiting", &[])
        .call(1, b::BARRIER, "wait", &[0])
        .call(1, b::BARRIER, "wait", &[5])
        .op(13, &[3])
        .call(1, b::BARRIER, "broken", &[])
        .call(1, b::BARRIER, "reset", &[])
        .call(1, b::BARRIER, "abort", &[])
        .call(2, b::BARRIER, "wait", &[0]);
    let references = Program::new(0)
        .create(b::LIST, &[0])
        .create(b::DICT, &[1, 0xC0, 0, 0x01])
        .create(b::VALUE, &[0xC0, 0])
        .call(1, b::DICT, "snapshot", &[])
        .op(6, &[1])
        .call(2, b::VALUE, "swap", &[0x02])
        .call(1, b::DICT, "pop", &[0xC0, 0])
        .op(9, &[0])
        .op(10, &[0])
        .op(10, &[0])
        .op(10, &[0])
        .create(b::QUEUE, &[1])
        .call(3, b::QUEUE, "put", &[0xC0, 0, 0, 0])
        .op(0xF2, &[3, 1, 0, 0])
        .call(3, b::QUEUE, "get", &[0, 0])
        .op(7, &[0])
        .op(6, &[3]);
    let misc = Program::new(0)
        .op(15, &[0, 1])
        .op(15, &[0, 99])
        .op(15, &[1])
        .op(15, &[2, 0])
        .create(b::DICT, &[])
        .op(0xE2, &[0, 0x84])
        .op(0xF2, &[0, 4])
        .op(7, &[3])
        .op(8, &[2])
        .op(5, &[0, 0, 0xde, 0xad])
        .op(1, &[1, 0x03, 0x01, 0x01, 0x00])
        .op(1, &[99, 0])
        .op(14, &[7, 0])
        .op(15, &[4])
        .op(15, &[3, 0, 0])
        .op(15, &[2, 0]);
    let leases = Program::new(0)
        .create(b::LIST, &[0])
        .create(b::DICT, &[1, 0xC0, 0, 0x01])
        .op(12, &[1, 1])
        .op(0xFC, &[1, 0])
        .op(10, &[1])
        .op(12, &[2])
        // A minute: both leases run out, and the dict goes.
        .op(13, &[4])
        .op(12, &[1, 1])
        .op(12, &[2])
        .op(10, &[0]);
    // A request with no id to answer: the server ends the connection.
    let malformed = Program::new(0).create(b::DICT, &[]).op(12, &[]).op(14, &[0xff]);
    let shutdown = Program::new(4).create(b::QUEUE, &[1]).call(0, b::QUEUE, "get", &[1, 0]).op(15, &[4]);
    let small_frames = Program::new(2).create(b::LIST, &[]).call(0, b::LIST, "append", &[0x0C, 0]);
    let mut items = vec![4];
    for n in 0..4 {
        items.extend_from_slice(&[0x0A, 31]);
        items.extend(std::iter::repeat_n(n, 31));
    }
    let large_reply = Program::new(3)
        .create(b::LIST, &items)
        .call(0, b::LIST, "repeat", &[13])
        .call(0, b::LIST, "snapshot", &[])
        .call(0, b::LIST, "len", &[]);
    // Streams of a list larger than a 16 KiB frame: opened with a window of credit, a
    // byte, none; credited, cancelled, reopened under a live id.
    let streams = (0..7)
        .fold(Program::new(3).create(b::LIST, &items), |p, _| p.call(0, b::LIST, "repeat", &[2]))
        .open(0, b::LIST, "iter", 6, &[])
        .open(0, b::LIST, "iter", 1, &[])
        .open(0, b::LIST, "iter", 0, &[])
        .op(12, &[0, 2, 0, 5])
        .op(12, &[0, 3, 1])
        .op(0xEC, &[0, 1, 0, 0, 9])
        .op(12, &[0, 4, 9]);
    vec![
        ("seed-every-type", every),
        ("seed-dict", dict),
        ("seed-sequences", sequences),
        ("seed-queues", queues),
        ("seed-locks", locks),
        ("seed-waits", waits),
        ("seed-references", references),
        ("seed-misc", misc),
        ("seed-malformed", malformed),
        ("seed-shutdown", shutdown),
        ("seed-small-frames", small_frames),
        ("seed-large-reply", large_reply),
        ("seed-leases", leases),
        ("seed-streams", streams),
    ]
}

/// The seeds are what [`seeds`] makes, and do what they were made for. With
/// `WRITE_SEEDS=1` in the environment, (re)writes them first.
#[test]
fn the_seeds_are_current_and_do_what_they_say() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/live_requests");
    for (name, program) in seeds() {
        if std::env::var_os("WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), &program.0).unwrap();
        }
        let kept = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(kept, program.0, "{name} is stale: run this test with WRITE_SEEDS=1");
        let outcome = play(&program.0);
        check(&outcome);
        if std::env::var_os("SHOW_SEEDS").is_some() {
            println!("== {name}: {:?}", outcome.stats);
            for reply in &outcome.replies {
                println!("{reply:?}");
            }
        }
        let count = |f: fn(&Answer) -> bool| outcome.replies.iter().filter(|(_, a)| f(a)).count();
        let errors = count(|a| matches!(a, Answer::Error(..)));
        let objects = count(|a| matches!(a, Answer::Object(..)));
        match name {
            "seed-every-type" => assert_eq!((objects, errors), (TYPES.len(), 0)),
            // Only the lease of the dict the connection dropped is refused.
            "seed-leases" => assert_eq!((outcome.pong, errors), (true, 1)),
            "seed-small-frames" | "seed-malformed" => assert!(!outcome.pong, "{name}"),
            "seed-shutdown" => {
                // The parked call's answer, then the notice to no request (id 0)
                // that tells the client the server shut down.
                let shut = |id: &u64| {
                    outcome
                        .replies
                        .iter()
                        .filter(|(i, a)| i == id && matches!(a, Answer::Error(RemoteErrorKind::ShuttingDown, _)))
                        .count()
                };
                let parked = outcome
                    .replies
                    .iter()
                    .filter(|(i, a)| *i != 0 && matches!(a, Answer::Error(RemoteErrorKind::ShuttingDown, _)))
                    .count();
                assert_eq!((parked, shut(&0)), (1, 1), "{name}");
            }
            "seed-large-reply" => {
                assert!(count(|a| matches!(a, Answer::Error(RemoteErrorKind::LimitExceeded, _))) == 1)
            }
            "seed-streams" => {
                assert!(outcome.pong);
                assert_eq!(errors, 1, "only the reopening under a live id, of a method that is no stream");
                assert_eq!(count(|a| *a == Answer::End), 2, "the window's stream and the credited one end");
            }
            _ => assert!(outcome.pong, "{name}"),
        }
    }
}

/// The seeds of the fuzz target and the inputs it found, once fixed, replayed for ever.
#[test]
fn replay_kept_inputs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions/live_requests");
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    paths.sort();
    assert!(!paths.is_empty(), "no inputs in {}", dir.display());
    for path in paths {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} fails its checks", path.display());
    }
}
