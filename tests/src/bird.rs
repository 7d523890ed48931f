//! BIRD 2 in network namespaces for `ecmp = 1`'s tests: the example configurations shipped in
//! `etc/bird/`, BIRD processes reaped when dropped, and the router's next hops for a VIP.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An example configuration from `etc/bird/` (`director.conf`, `router.conf`).
pub fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../etc/bird")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Panics unless `bird` runs here (tests/install-deps.sh installs bird2).
pub fn require_bird() {
    assert!(
        Command::new("bird").arg("--version").output().is_ok(),
        "needs bird (tests/install-deps.sh installs bird2)"
    );
}

/// BIRD processes, killed and reaped when dropped (the topology then removes the namespaces).
#[derive(Debug, Default)]
pub struct Birds {
    children: Vec<Child>,
    /// Where configurations, logs and control sockets go.
    pub dir: PathBuf,
}

impl Birds {
    /// BIRDs keeping their files in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            children: Vec::new(),
            dir: dir.to_path_buf(),
        }
    }

    /// Starts `bird -f` with `conf` in namespace `ns`; files named after `name`.
    pub fn start(&mut self, ns: &str, conf: &str, name: &str) {
        self.start_niced(ns, conf, name, 0);
    }

    /// As [`start`](Self::start), with BIRD and its threads (BFD runs on one of its own) at
    /// niceness `nice` ([`renice_group`]); 0 leaves it alone.
    pub fn start_niced(&mut self, ns: &str, conf: &str, name: &str, nice: i32) {
        let path = self.dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf).expect("write the bird configuration");
        let log = std::fs::File::create(self.dir.join(format!("{name}.bird.log"))).expect("log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "bird", "-f", "-c"])
            .arg(&path)
            .arg("-s")
            .arg(self.dir.join(format!("{name}.bird.ctl")))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null());
        if nice != 0 {
            cmd.process_group(0);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("bird: {e}"));
        if nice != 0 {
            renice_group(child.id(), nice);
        }
        self.children.push(child);
    }
}

/// Sets the niceness of every thread of the processes in process group `pgid` (a child
/// spawned with `process_group(0)`: its pid), with `renice -g`: for one process `-p` would
/// change its main thread only. Threads and processes started later inherit it.
pub fn renice_group(pgid: u32, nice: i32) {
    let o = Command::new("renice")
        .args(["-n", &nice.to_string(), "-g", &pgid.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("renice: {e}"));
    assert!(o.status.success(), "renice -g {pgid}: {o:?}");
}

impl Drop for Birds {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The next hops of the route to `vip` in namespace `ns` (sorted; empty: no route).
pub fn next_hops(ns: &str, vip: &str) -> Vec<String> {
    let o = Command::new("ip")
        .args(["-n", ns, "route", "show", vip])
        .output()
        .expect("ip route show");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut hops: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops
}
