//! The control socket's accept loop out of file descriptors. This file is a test binary of its
//! own, hence a process of its own: it lowers its own `RLIMIT_NOFILE` (with util-linux's
//! `prlimit`) and fills its descriptor table, which would disturb any other test.
//!
//! Before the fix the loop retried `EMFILE` at once: a core at 100 % for as long as a
//! connection waited (pulse runs under `SCHED_FIFO`).

use pulse_control::server::{Limits, listen_with};
use pulse_control::{Request, Response};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// This process's CPU time in seconds, from `stat` opened beforehand (no descriptor is free
/// when it is read).
fn cpu_seconds(stat: &mut File, ticks_per_second: f64) -> f64 {
    let mut text = String::new();
    stat.rewind().expect("rewind");
    stat.read_to_string(&mut text).expect("read stat");
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    // utime and stime: fields 14 and 15, the 12th and 13th after `(comm)`.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / ticks_per_second
}

fn command(program: &str, args: &[&str]) -> String {
    let o = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn out_of_descriptors_the_accept_loop_pauses_instead_of_spinning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("emfile.sock");
    let ticks_per_second: f64 = command("getconf", &["CLK_TCK"]).parse().expect("CLK_TCK");
    let mut stat = File::open("/proc/self/stat").expect("stat");

    // The daemon: its own thread and runtime, answering every request.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server_path = path.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut calls = listen_with(&server_path, Limits::default()).expect("listen");
            ready_tx.send(()).expect("ready");
            while let Some((_, answer)) = calls.recv().await {
                let _ = answer.send(Response::Error {
                    message: "answered".into(),
                });
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("listening");

    // A few descriptors above what is open now, then fill them all.
    let open_now = std::fs::read_dir("/proc/self/fd").expect("fds").count();
    let hard = command(
        "prlimit",
        &[
            "--pid",
            &std::process::id().to_string(),
            "--nofile",
            "--noheadings",
            "--output=HARD",
        ],
    );
    let soft = open_now + 16;
    command(
        "prlimit",
        &[
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={soft}:{hard}"),
        ],
    );
    let mut filler = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) if e.raw_os_error() == Some(24) => break, // EMFILE
            Err(e) => panic!("open /dev/null: {e}"),
        }
        assert!(filler.len() < 4096, "RLIMIT_NOFILE did not take");
    }
    // One descriptor for the client; none is left for the server to accept it with.
    filler.pop();
    let mut client = UnixStream::connect(&path).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut line = serde_json::to_vec(&Request::Status).expect("json");
    line.push(b'\n');
    client.write_all(&line).expect("request");

    // The connection waits in the kernel's queue; the server must not spin meanwhile.
    let before = cpu_seconds(&mut stat, ticks_per_second);
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let cpu = (cpu_seconds(&mut stat, ticks_per_second) - before) / window.elapsed().as_secs_f64();
    eprintln!("out of descriptors for 2 s: {:.1} % CPU", cpu * 100.0);

    // Descriptors free again: the waiting client is served within the longest pause (1 s).
    filler.truncate(filler.len().saturating_sub(8));
    let freed = Instant::now();
    let mut answer = String::new();
    let read = client.read_to_string(&mut answer);
    let took = freed.elapsed();
    drop(filler);
    eprintln!("answered {took:?} after descriptors were freed: {answer:?}");
    assert!(
        cpu < 0.05,
        "{:.0} % CPU while out of descriptors",
        cpu * 100.0
    );
    read.expect("an answer once descriptors are free");
    assert!(answer.contains("answered"), "{answer:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}
