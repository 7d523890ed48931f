//! The real servers: a web server per namespace, and long-lived line sessions through the VIP.

use super::{PORT, PairBed};
use crate::lvs_bed::{Server, in_ns, serve_connections};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
/// A web server in namespace `ns` on 0.0.0.0:80 (`ipv6`: [::]:80) answering every request with `name\n`. A
/// connection whose first bytes are not `GET` is a line session: on a thread of its own, every
/// line (these first bytes included) gets `name\n`, until the client closes or the server
/// stops.
pub(super) fn serve_http(ns: &str, name: &str, ipv6: bool) -> Server {
    let body = format!("{name}\n");
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let addr: SocketAddr = if ipv6 {
        (std::net::Ipv6Addr::UNSPECIFIED, PORT).into()
    } else {
        ([0, 0, 0, 0], PORT).into()
    };
    serve_connections(ns, addr, move |mut s, stop| {
        let mut buf = [0u8; 512];
        // A connect-only check sends nothing and closes: read returns 0 at once.
        match s.read(&mut buf) {
            Ok(n) if n > 0 && !buf.starts_with(b"GET") => {
                let (name, stop) = (body.clone(), stop.clone());
                let first = buf[..n].to_vec();
                std::thread::spawn(move || echo_lines(s, &first, &name, &stop));
            }
            Ok(n) if n > 0 => {
                let _ = s.write_all(reply.as_bytes());
            }
            _ => {}
        }
    })
}

/// A line session of [`serve_http`]: `reply` for every newline received (`first`: what the
/// session began with).
fn echo_lines(mut s: TcpStream, first: &[u8], reply: &str, stop: &AtomicBool) {
    let answer = |s: &mut TcpStream, data: &[u8]| {
        let lines = data.iter().filter(|b| **b == b'\n').count();
        s.write_all(reply.repeat(lines).as_bytes())
    };
    if answer(&mut s, first).is_err() {
        return;
    }
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if answer(&mut s, &buf[..n]).is_err() {
                    return;
                }
            }
            // The read timeout: look at `stop` again.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// A long-lived TCP connection from the client to the VIP in the real servers' line mode: each
/// line sent gets the answering server's name back.
#[derive(Debug)]
pub struct Session {
    stream: TcpStream,
    reader: std::io::BufReader<TcpStream>,
    /// The server that answered the first line.
    pub server: String,
}

impl Session {
    /// Opens `n` sessions from the bed's client (sequentially, each with a connect and first
    /// answer timeout of `timeout`); panics if one fails.
    pub fn open(bed: &PairBed, n: usize, timeout: Duration) -> Vec<Self> {
        let to = bed.config.vip_port();
        in_ns(&bed.ns("cl"), move || {
            (0..n)
                .map(|i| {
                    let stream = TcpStream::connect_timeout(&to, timeout)
                        .unwrap_or_else(|e| panic!("session {i}: connect {to}: {e}"));
                    let reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                    let mut s = Self {
                        stream,
                        reader,
                        server: String::new(),
                    };
                    s.server = s
                        .exchange(timeout)
                        .unwrap_or_else(|e| panic!("session {i}: first line: {e}"));
                    s
                })
                .collect()
        })
    }

    /// Sends one line ([`send`](Self::send)) and waits up to `timeout` for the answer
    /// ([`receive`](Self::receive)).
    pub fn exchange(&mut self, timeout: Duration) -> std::io::Result<String> {
        self.send()?;
        self.receive(timeout)
    }

    /// Sends one line.
    pub fn send(&mut self) -> std::io::Result<()> {
        self.stream.write_all(b"line\n")
    }

    /// Reads one answer line (the server's name) within `timeout`.
    pub fn receive(&mut self, timeout: Duration) -> std::io::Result<String> {
        use std::io::BufRead;
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim().to_string())
    }
}
