//! Reading `ipvsadm -Ln` output: the table without counters, one destination's counters.

/// `ipvsadm -Ln` without the counters: service lines as they are, each service's real servers
/// as `-> ADDR:PORT FORWARD WEIGHT`, sorted; headers dropped.
pub fn normalize_table(ipvsadm: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut dests: Vec<String> = Vec::new();
    for l in ipvsadm.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.first() {
            Some(&"TCP") | Some(&"UDP") | Some(&"FWM") => {
                dests.sort();
                out.append(&mut dests);
                out.push(w.join(" "));
            }
            Some(&"->") if w.get(1) != Some(&"RemoteAddress:Port") => {
                dests.push(w.iter().take(4).copied().collect::<Vec<_>>().join(" "));
            }
            _ => {}
        }
    }
    dests.sort();
    out.append(&mut dests);
    out
}

/// A real server's counters in `ipvsadm -Ln` output: (weight, ActiveConn, InActConn) of the
/// destination `addr` (`10.0.0.21:80`), if listed.
pub fn dest_counters(ipvsadm: &str, addr: &str) -> Option<(u32, u64, u64)> {
    ipvsadm.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[..] {
            ["->", a, _, weight, active, inact, ..] if a == addr => Some((
                weight.parse().ok()?,
                active.parse().ok()?,
                inact.parse().ok()?,
            )),
            _ => None,
        }
    })
}
