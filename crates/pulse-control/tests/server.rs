//! The control-socket server against misbehaving clients, and `call_async`, on a real Unix
//! socket in a temporary directory. Every wait is bounded.

use pulse_control::server::{Limits, listen_with};
use pulse_control::{Request, Response, call_async};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Listens on a fresh socket and answers every request with an error naming the request, as
/// a daemon would (the answer's content does not matter here).
async fn daemon(limits: Limits) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("test.sock");
    let mut calls = listen_with(&path, limits).expect("listen");
    tokio::spawn(async move {
        while let Some((req, answer)) = calls.recv().await {
            let _ = answer.send(Response::Error {
                message: format!("answered {req:?}"),
            });
        }
    });
    (dir, path)
}

/// `n` connections that never send anything, made on a thread of their own (a blocking connect
/// must not stall the runtime serving them).
async fn idle_connections(path: &Path, n: usize) -> Vec<UnixStream> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|_| UnixStream::connect(&path).expect("connect"))
            .collect()
    })
    .await
    .expect("connecting thread")
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_is_answered_while_idle_connections_fill_every_slot() {
    let limits = Limits::default();
    let (_dir, path) = daemon(limits).await;
    let idle = idle_connections(&path, limits.max_connections * 4).await;
    let start = Instant::now();
    let answer = call_async(&path, &Request::Status, Duration::from_secs(2))
        .await
        .expect("an answer despite the idle connections");
    assert_eq!(
        answer,
        Response::Error {
            message: "answered Status".into()
        }
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    drop(idle);
}

#[tokio::test(flavor = "current_thread")]
async fn a_silent_client_is_closed_after_the_client_timeout() {
    let limits = Limits {
        client_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (_dir, path) = daemon(limits).await;
    let mut silent = idle_connections(&path, 1).await.remove(0);
    let closed = tokio::task::spawn_blocking(move || {
        silent
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let n = silent.read(&mut buf).expect("EOF, not a timeout");
        (n, start.elapsed())
    })
    .await
    .expect("reader");
    assert_eq!(closed.0, 0, "closed without an answer");
    assert!(
        closed.1 >= Duration::from_millis(150) && closed.1 < Duration::from_secs(2),
        "{:?}",
        closed.1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_overlong_request_line_is_refused() {
    let (_dir, path) = daemon(Limits::default()).await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = UnixStream::connect(&path).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        // Longer than the limit, and no newline: the server must not wait for one.
        let _ = s.write_all(&[b' '; 10_000]);
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    })
    .await
    .expect("client");
    assert!(answer.contains("longer than 4096 bytes"), "{answer}");
}

#[tokio::test(flavor = "current_thread")]
async fn call_async_gives_up_on_a_daemon_that_never_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mute.sock");
    // Accepts (the kernel queues the connection) but never reads or answers.
    let _mute = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let start = Instant::now();
    let e = call_async(&path, &Request::Status, Duration::from_millis(300))
        .await
        .expect_err("no answer");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_blocking_client_reads_what_the_server_says() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_dir, path) = rt.block_on(daemon(Limits::default()));
    // The runtime must run while the blocking client waits.
    let client = std::thread::spawn(move || {
        pulse_control::call(&path, &Request::Lvs, Duration::from_secs(2)).expect("answer")
    });
    let answer = rt.block_on(async {
        tokio::task::spawn_blocking(move || client.join().expect("client"))
            .await
            .expect("join")
    });
    assert_eq!(
        answer,
        Response::Error {
            message: "answered Lvs".into()
        }
    );
}

/// Listens on a fresh socket and answers every request with an error message of `len` bytes:
/// a large answer, as lvsd's status is with 40,000 real servers (6 MB).
async fn big_daemon(limits: Limits, len: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.sock");
    let mut calls = listen_with(&path, limits).expect("listen");
    tokio::spawn(async move {
        while let Some((_, answer)) = calls.recv().await {
            let _ = answer.send(Response::Error {
                message: "x".repeat(len),
            });
        }
    });
    (dir, path)
}

/// Sends a status request, then reads the answer `chunk` bytes at a time with `pause` between
/// reads until `switch_after` has passed, then at full speed to EOF. Returns the bytes read.
fn read_answer(path: &Path, chunk: usize, pause: Duration, switch_after: Duration) -> Vec<u8> {
    let mut s = UnixStream::connect(path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = serde_json::to_vec(&Request::Status).expect("request");
    line.push(b'\n');
    s.write_all(&line).expect("request");
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; chunk.max(64 << 10)];
    loop {
        let want = if start.elapsed() < switch_after {
            chunk
        } else {
            buf.len()
        };
        let n = s.read(&mut buf[..want]).expect("read, not a timeout");
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&buf[..n]);
        if start.elapsed() < switch_after {
            std::thread::sleep(pause);
        }
    }
}

/// A short client timeout, so the tests show the answer outliving it.
fn short() -> Limits {
    Limits {
        client_timeout: Duration::from_millis(300),
        min_answer_rate: 1 << 20,
        ..Limits::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_answer_reaches_a_client_that_reads_steadily() {
    // 8 MB taken in 64 KiB reads 20 ms apart: at least 2.56 s, longer than the 2 s client
    // timeout (the fixed deadline this replaces cut such a client off after 2 s), at about
    // 3 MB/s, above the 1 MiB/s minimum. 2 s: a loaded machine must not starve the reader
    // that long between two reads.
    const LEN: usize = 8 << 20;
    let limits = Limits {
        client_timeout: Duration::from_secs(2),
        ..short()
    };
    let (_dir, path) = big_daemon(limits, LEN).await;
    let start = Instant::now();
    let got = tokio::task::spawn_blocking(move || {
        read_answer(
            &path,
            64 << 10,
            Duration::from_millis(20),
            Duration::from_secs(60),
        )
    })
    .await
    .expect("reader");
    let took = start.elapsed();
    assert!(got.ends_with(b"\n"), "cut off after {} bytes", got.len());
    let Response::Error { message } = serde_json::from_slice(&got).expect("one JSON answer") else {
        panic!("not the big answer")
    };
    assert_eq!(message.len(), LEN);
    assert!(
        took > limits.client_timeout,
        "{took:?}: the test proves nothing"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_stops_reading_is_cut_off() {
    // It takes 64 KiB, then nothing for 1.5 s (five client timeouts): the server gives up and
    // closes; what the client finds afterwards is what the socket buffers held, then EOF.
    const LEN: usize = 8 << 20;
    let (_dir, path) = big_daemon(short(), LEN).await;
    let got = tokio::task::spawn_blocking(move || {
        read_answer(
            &path,
            64 << 10,
            Duration::from_millis(1500),
            Duration::from_millis(1000),
        )
    })
    .await
    .expect("reader");
    assert!(
        got.len() < LEN / 2 && !got.ends_with(b"\n"),
        "{} of {LEN} bytes: not cut off",
        got.len()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_reads_a_trickle_is_cut_off_at_the_rate_bound() {
    // 4 MB at 1 MiB/s minimum, 1 s without progress allowed: cut off after 1 s + 4 s. The
    // client takes 16 KiB every 50 ms (320 KiB/s: the socket buffer drains often enough that
    // the server never waits a second to write), so it would need 12.5 s; after 7 s it reads
    // at full speed and finds the answer cut.
    const LEN: usize = 4 << 20;
    let limits = Limits {
        client_timeout: Duration::from_secs(1),
        ..short()
    };
    assert!(limits.answer_write_time(LEN + 64) < Duration::from_millis(5100));
    let (_dir, path) = big_daemon(limits, LEN).await;
    let got = tokio::task::spawn_blocking(move || {
        read_answer(
            &path,
            16 << 10,
            Duration::from_millis(50),
            Duration::from_secs(7),
        )
    })
    .await
    .expect("reader");
    assert!(
        got.len() < LEN && !got.ends_with(b"\n"),
        "{} of {LEN} bytes: not cut off",
        got.len()
    );
}
