//! TLS rows (TCP phase only): the same workloads over `tls://` as over `tcp://`, each
//! repetition paired with its plain twin measured right next to it, so the ratio is
//! what TLS costs. Certificates are made at run time (a CA and a server certificate
//! for 127.0.0.1).

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::process::Child;

use crate::report::Unit;
use crate::workloads::{self, Ctx};
use crate::{Paired, paired, us};

/// The TLS rows `want` asks for: over TLS, paired with the same workload over `plain`
/// (targets: ≤ 1.3× a call, ≥ 40% of the 1 MiB rate).
pub fn measure(
    plain: &Ctx,
    reps: usize,
    want: &dyn Fn(&str) -> bool,
) -> Vec<(&'static str, &'static str, Unit, Paired)> {
    let rows = [
        ("tls-incr", "#[shared] incr() over TLS; floor: plain TCP", Unit::Micros),
        ("tls-bulk", "1 MiB values set + get over TLS; floor: plain TCP", Unit::MBps),
        ("tls-connect", "connect + TLS + authenticate; floor: connect + authenticate", Unit::Micros),
    ];
    if !rows.iter().any(|(id, ..)| want(id)) {
        return Vec::new();
    }
    let tls = start(plain);
    let mut out = Vec::new();
    for (id, name, unit) in rows {
        if want(id) {
            let run = |c: &Ctx| match id {
                "tls-incr" => us(workloads::incr(c)),
                "tls-bulk" => workloads::value_1mib(c),
                _ => us(workloads::connect(c)),
            };
            let p = paired(reps, unit, || run(&tls.ctx), || run(plain));
            eprintln!("{id}: {:.1} over TLS, {:.1} plain ({})", p.ours.median, p.floor.median, unit.label());
            out.push((id, name, unit, p));
        }
    }
    tls.stop();
    out
}

/// A manager server serving TLS, and a context whose clients trust it.
pub struct TlsServer {
    pub server: Child,
    pub ctx: Ctx,
    /// Holds the PEM files while the server runs.
    _dir: tempfile::TempDir,
}

/// Starts a TLS server like the plain one of `plain` (same key, same scale).
pub fn start(plain: &Ctx) -> TlsServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let cert = cert.signed_by(&key, &ca, &ca_key).expect("certificate");
    let (ca_pem, cert_pem, key_pem) =
        (dir.path().join("ca.pem"), dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&ca_pem, ca.pem()).expect("write");
    std::fs::write(&cert_pem, cert.pem()).expect("write");
    std::fs::write(&key_pem, key.serialize_pem()).expect("write");
    let env = [("BENCH_TLS_CERT", cert_pem.as_path()), ("BENCH_TLS_KEY", key_pem.as_path())];
    let (server, address) = workloads::start_server_with("tls://127.0.0.1:0", &plain.key, 0, &env);
    let tls = manager_client::ClientTls::ca_file(&ca_pem).expect("CA file");
    let options = manager_client::ClientOptions { tls: Some(tls), ..plain.options.clone() };
    TlsServer { server, ctx: Ctx { address, key: plain.key.clone(), options, scale: plain.scale }, _dir: dir }
}

impl TlsServer {
    pub fn stop(mut self) {
        drop(self.server.stdin.take());
        let _ = self.server.wait();
    }
}
