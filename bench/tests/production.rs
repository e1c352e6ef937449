//! `permanence-bench` mints tokens with the configured secret, so it refuses to run when
//! `PERMANENCE_ENV=production`, before it sends anything.
use std::io::ErrorKind;
use std::net::TcpListener;
use std::process::{Command, Stdio};

#[test]
fn the_bench_is_refused_in_production_before_it_contacts_the_server() {
    // A "server" that only counts connections: the bench must not reach it.
    let server = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    server.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}", server.local_addr().expect("address"));

    let output = Command::new(env!("CARGO_BIN_EXE_permanence-bench"))
        .args(["--url", &url, "--timeout", "2s", "--warmup", "0s"])
        .args(["--requests", "1", "--scenario", "child"])
        .env("PERMANENCE_ENV", "production")
        .env(
            "JWT_SECRET",
            "a-perfectly-good-production-secret-0123456789",
        )
        .env_remove("PERMANENCE_BENCH_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run permanence-bench");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the bench must be refused: {stderr}"
    );
    assert!(
        stderr.contains("refused when PERMANENCE_ENV=production"),
        "says why: {stderr}"
    );
    assert!(output.stdout.is_empty(), "no report printed");
    match server.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the bench connected to the server (from {peer}): {stderr}"),
        Err(e) => panic!("accept: {e}"),
    }
}
