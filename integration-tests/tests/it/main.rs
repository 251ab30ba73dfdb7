//! Integration tests: one test binary (one link step), a module per feature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adversarial;
mod auth;
mod basics;
mod blocking;
mod builtins;
mod cancel;
mod concurrency;
mod cpython;
mod cycles;
mod details;
mod examples;
mod faults;
mod faults_processes;
mod hardening;
mod hostile;
mod hygiene;
mod layering;
mod lifecycle;
mod load;
mod processes;
mod raw;
mod server_bin;
mod sync;
mod util;
mod waits;
