//! `ecmp = 1`'s group view (`pulse_director::group_view`) on a simulated clock: three directors
//! exchange group datagrams; what each shows of the others, when they go stale, and the
//! attacks it drops (forged MAC, replay, reflection, non-directors, floods) with its state
//! bounded by the configured directors.

use pulse_director::{DirectorView, GroupRejection, GroupView, STALE_KEEPALIVES, ViewConfig};
use pulse_proto::HeartbeatKey;
use pulse_proto::group::{GroupDatagram, GroupPath, MAX_VIPS};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const KEEPALIVE: Duration = Duration::from_millis(100);
const PORT: u16 = 539;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn directors() -> Vec<IpAddr> {
    vec![ip("10.1.0.11"), ip("10.1.0.12"), ip("10.1.0.13")]
}

fn vips() -> Vec<IpAddr> {
    // Not in address order: the bitmap's order is the sorted one.
    vec![ip("10.0.0.101"), ip("10.0.0.100")]
}

fn key() -> HeartbeatKey {
    HeartbeatKey::new(&[0x42; 32]).expect("key")
}

fn config(n: usize, key: Option<HeartbeatKey>) -> ViewConfig {
    ViewConfig {
        me: directors()[n],
        directors: directors(),
        port: PORT,
        vips: vips(),
        keepalive: KEEPALIVE,
        key,
        serial_no: 7,
        digest: [7; 8],
        boot_id: 1000 + n as u64,
        wall_clock_us: 1_700_000_000_000_000,
    }
}

/// Three directors, every datagram delivered at once.
struct Net {
    now: Instant,
    views: Vec<GroupView>,
    /// Every datagram sent: (sender, destination, bytes).
    wire: Vec<(usize, SocketAddr, Vec<u8>)>,
    /// Directors whose datagrams are dropped (killed).
    dead: BTreeSet<usize>,
}

impl Net {
    fn new(key: Option<HeartbeatKey>) -> Self {
        let now = Instant::now();
        let views = (0..3)
            .map(|n| GroupView::new(now, config(n, key.clone())).expect("view"))
            .collect();
        Self {
            now,
            views,
            wire: Vec::new(),
            dead: BTreeSet::new(),
        }
    }

    fn deliver(&mut self) {
        for n in 0..self.views.len() {
            while let Some(t) = self.views[n].poll_transmit() {
                self.wire.push((n, t.dest, t.payload.clone()));
                if self.dead.contains(&n) {
                    continue;
                }
                let to = directors().iter().position(|d| *d == t.dest.ip());
                let to = to.expect("sent to a director");
                assert_eq!(t.dest.port(), PORT);
                let from = SocketAddr::new(directors()[n], PORT);
                self.views[to]
                    .handle_datagram(self.now, from, &t.payload)
                    .expect("accepted");
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.deliver();
            let next = self
                .views
                .iter()
                .filter_map(GroupView::poll_timeout)
                .min()
                .expect("a timer");
            if next > end {
                self.now = end;
                return;
            }
            self.now = next;
            for v in &mut self.views {
                v.handle_timeout(self.now);
            }
        }
    }

    fn announce(&mut self, n: usize, set: &[&str], released: bool) {
        let set: BTreeSet<IpAddr> = set.iter().map(|s| ip(s)).collect();
        self.views[n].set_local(self.now, |v| set.contains(&v), released);
    }

    fn seen(&self, by: usize, of: usize) -> DirectorView {
        self.views[by].status(self.now)[of].clone()
    }
}

fn announced(v: &DirectorView) -> Vec<(String, bool)> {
    v.announced
        .as_ref()
        .expect("known announcements")
        .iter()
        .map(|(a, b)| (a.to_string(), *b))
        .collect()
}

#[test]
fn every_director_sees_which_vips_the_others_announce() {
    for key in [None, Some(key())] {
        let mut net = Net::new(key);
        net.announce(0, &["10.0.0.100", "10.0.0.101"], false);
        net.announce(1, &["10.0.0.101"], false);
        net.run_for(KEEPALIVE * 2);
        let me = net.seen(0, 0);
        assert!(me.this && !me.stale);
        let d2 = net.seen(0, 1);
        assert!(!d2.this && !d2.stale && !d2.config_differs && !d2.released);
        assert_eq!(d2.config, Some((7, [7; 8])));
        assert!(d2.heard_ago.expect("heard") <= KEEPALIVE);
        assert_eq!(
            announced(&d2),
            [("10.0.0.100".into(), false), ("10.0.0.101".into(), true)]
        );
        assert_eq!(
            announced(&net.seen(2, 0)),
            [("10.0.0.100".into(), true), ("10.0.0.101".into(), true)]
        );
        assert_eq!(net.seen(1, 2).announced_count, Some(0));
        // One datagram per other director per keepalive (plus the ones sent on change).
        assert!(net.views[2].sent() >= 2 * 2, "{}", net.views[2].sent());
        assert!(net.views[0].rejected().is_empty());
    }
}

#[test]
fn a_withdrawal_is_sent_at_once_and_a_release_is_shown() {
    let mut net = Net::new(Some(key()));
    net.announce(1, &["10.0.0.100", "10.0.0.101"], false);
    net.run_for(KEEPALIVE);
    let before = net.now;
    net.announce(1, &["10.0.0.100"], false);
    net.deliver();
    assert_eq!(net.now, before, "sent without waiting for the keepalive");
    assert_eq!(
        announced(&net.seen(0, 1)),
        [("10.0.0.100".into(), true), ("10.0.0.101".into(), false)]
    );
    net.announce(1, &[], true);
    net.deliver();
    let v = net.seen(2, 1);
    assert!(v.released);
    assert_eq!(v.announced_count, Some(0));
}

#[test]
fn a_silent_director_goes_stale_after_three_keepalives() {
    let mut net = Net::new(None);
    net.announce(2, &["10.0.0.100"], false);
    net.run_for(KEEPALIVE * 2);
    assert!(!net.seen(0, 2).stale);
    net.dead.insert(2);
    net.run_for(KEEPALIVE * STALE_KEEPALIVES - Duration::from_millis(1));
    assert!(
        !net.seen(0, 2).stale,
        "stale before {STALE_KEEPALIVES} keepalives"
    );
    net.run_for(KEEPALIVE * 2);
    let v = net.seen(0, 2);
    assert!(v.stale);
    assert!(v.heard_ago.expect("heard once") > KEEPALIVE * STALE_KEEPALIVES);
    // Its last word is still shown, marked stale by the caller.
    assert_eq!(v.announced_count, Some(1));
    // Back (a restart: another boot id, a later clock): fresh at once.
    net.dead.clear();
    net.run_for(KEEPALIVE);
    assert!(!net.seen(0, 2).stale);
}

#[test]
fn a_director_never_heard_is_stale_with_nothing_known() {
    let net = Net::new(None);
    let v = net.seen(0, 1);
    assert!(v.stale);
    assert_eq!(v.heard_ago, None);
    assert_eq!(v.announced, None);
    assert_eq!(v.config, None);
}

#[test]
fn another_lvs_cf_is_flagged_and_other_vips_give_a_count_only() {
    let now = Instant::now();
    let mut me = GroupView::new(now, config(0, None)).expect("view");
    let mut other = config(1, None);
    other.serial_no = 8;
    other.vips.push(ip("10.0.0.102"));
    let mut them = GroupView::new(now, other).expect("view");
    let set: BTreeSet<IpAddr> = [ip("10.0.0.100"), ip("10.0.0.102")].into();
    them.set_local(now, |v| set.contains(&v), false);
    while let Some(t) = them.poll_transmit() {
        if t.dest.ip() == directors()[0] {
            me.handle_datagram(now, SocketAddr::new(directors()[1], PORT), &t.payload)
                .expect("accepted");
        }
    }
    let v = &me.status(now)[1];
    assert!(v.config_differs);
    assert_eq!(v.config, Some((8, [7; 8])));
    assert_eq!(v.announced, None, "other VIPs: the bitmap is not ours");
    assert_eq!(v.announced_count, Some(2));
}

#[test]
fn a_reload_changes_what_is_compared_and_sent() {
    let mut net = Net::new(None);
    net.run_for(KEEPALIVE);
    net.views[1].set_config(8, [8; 8]);
    net.run_for(KEEPALIVE);
    assert!(net.seen(0, 1).config_differs);
    net.views[0].set_config(8, [8; 8]);
    net.views[2].set_config(8, [8; 8]);
    assert!(!net.seen(0, 1).config_differs);
}

#[test]
fn more_vips_than_a_datagram_holds_is_refused() {
    let mut c = config(0, None);
    c.vips = (0..=MAX_VIPS as u32)
        .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)))
        .collect();
    assert!(GroupView::new(Instant::now(), c).is_err());
}

// ---- attacks -----------------------------------------------------------------------------

fn rejected(v: &GroupView, reason: &str) -> u64 {
    v.rejected().get(reason).copied().unwrap_or(0)
}

/// A datagram from director `from` to director 0, as a key holder would make it.
fn forged(from: usize, key: Option<&HeartbeatKey>, seq: u64, boot_id: u64) -> Vec<u8> {
    let mut d = GroupDatagram {
        released: false,
        boot_id,
        seq,
        serial_no: 7,
        digest: [7; 8],
        vip_set: pulse_proto::group::vip_set_digest(&vips()),
        vip_count: 2,
        bitmap: [0; MAX_VIPS / 8],
    };
    d.set_announced(0);
    d.encode(
        key,
        GroupPath {
            from: directors()[from],
            to: directors()[0],
        },
    )
}

fn from(n: usize) -> SocketAddr {
    SocketAddr::new(directors()[n], PORT)
}

#[test]
fn attack_forged_mac_other_key_and_unsigned_are_dropped() {
    let now = Instant::now();
    let mut v = GroupView::new(now, config(0, Some(key()))).expect("view");
    let other = HeartbeatKey::new(&[0x43; 32]).expect("key");
    let mut flipped = forged(1, Some(&key()), 5, 9);
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let cases = [
        (1, forged(1, Some(&other), 5, 9), GroupRejection::BadMac),
        (1, flipped, GroupRejection::BadMac),
        (1, forged(1, None, 5, 9), GroupRejection::Unsigned),
        // Signed for 10.1.0.12 -> 10.1.0.11 but sent with 10.1.0.13's address.
        (2, forged(1, Some(&key()), 5, 9), GroupRejection::BadMac),
    ];
    for (sender, bytes, why) in cases {
        assert_eq!(v.handle_datagram(now, from(sender), &bytes), Err(why));
    }
    assert_eq!(rejected(&v, "bad_mac"), 3);
    assert_eq!(rejected(&v, "unsigned"), 1);
    assert!(v.status(now)[1].heard_ago.is_none(), "nothing accepted");
}

#[test]
fn attack_a_replayed_datagram_is_dropped_and_a_reflected_one_too() {
    let mut net = Net::new(Some(key()));
    net.run_for(KEEPALIVE * 3);
    // Every datagram director 1 sent to 0, replayed.
    let captured: Vec<Vec<u8>> = net
        .wire
        .iter()
        .filter(|(s, d, _)| *s == 1 && d.ip() == directors()[0])
        .map(|(_, _, b)| b.clone())
        .collect();
    assert!(captured.len() >= 3);
    let heard = net.seen(0, 1).heard_ago;
    net.now += KEEPALIVE / 2;
    for b in &captured {
        assert_eq!(
            net.views[0].handle_datagram(net.now, from(1), b),
            Err(GroupRejection::Replay)
        );
    }
    assert_eq!(
        net.seen(0, 1).heard_ago,
        heard.map(|h| h + KEEPALIVE / 2),
        "a replay refreshed nothing"
    );
    // Director 0's own datagram to 1, sent back to 0 with 1's address: signed for
    // 0 -> 1, checked as 1 -> 0.
    let own = net
        .wire
        .iter()
        .find(|(s, d, _)| *s == 0 && d.ip() == directors()[1])
        .map(|(_, _, b)| b.clone())
        .expect("sent");
    assert_eq!(
        net.views[0].handle_datagram(net.now, from(1), &own),
        Err(GroupRejection::BadMac)
    );
    // Without a key the path is not signed: the boot id catches it.
    let mut plain = Net::new(None);
    plain.run_for(KEEPALIVE);
    let own = plain
        .wire
        .iter()
        .find(|(s, d, _)| *s == 0 && d.ip() == directors()[1])
        .map(|(_, _, b)| b.clone())
        .expect("sent");
    assert_eq!(
        plain.views[0].handle_datagram(plain.now, from(1), &own),
        Err(GroupRejection::Reflected)
    );
}

#[test]
fn attack_a_non_director_is_dropped_before_any_work_and_leaves_no_state() {
    let now = Instant::now();
    let mut v = GroupView::new(now, config(0, Some(key()))).expect("view");
    let stranger: SocketAddr = "10.1.0.99:539".parse().expect("addr");
    // A perfectly signed datagram, but not from a director; and our own address.
    let good = forged(1, Some(&key()), 5, 9);
    assert_eq!(
        v.handle_datagram(now, stranger, &good),
        Err(GroupRejection::NotADirector)
    );
    assert_eq!(
        v.handle_datagram(now, from(0), &good),
        Err(GroupRejection::NotADirector)
    );
    assert_eq!(rejected(&v, "not_a_director"), 2);
    assert_eq!(v.status(now).len(), 3);
    assert!(
        v.status(now)
            .iter()
            .all(|d| d.this || d.heard_ago.is_none())
    );
}

#[test]
fn attack_a_flood_costs_bounded_time_and_no_memory_and_keeps_the_schedule() {
    let start = Instant::now();
    let mut v = GroupView::new(start, config(0, Some(key()))).expect("view");
    let mut now = start;
    let mut sent_rounds = 0;
    let mut junk = forged(1, Some(&HeartbeatKey::new(&[0x43; 32]).expect("key")), 5, 9);
    let cpu = std::time::Instant::now();
    const N: u64 = 50_000;
    for i in 0..N {
        // 10 µs apart: 100 000 datagrams a second, from directors and strangers alike.
        now += Duration::from_micros(10);
        let last = junk.len() - 1;
        junk[last] = i as u8;
        let src = if i % 2 == 0 {
            from(1 + (i as usize / 2) % 2)
        } else {
            SocketAddr::new(IpAddr::from([10, 2, (i >> 8) as u8, i as u8]), 539)
        };
        let _ = v.handle_datagram(now, src, &junk);
        if v.poll_timeout().is_some_and(|t| t <= now) {
            v.handle_timeout(now);
            sent_rounds += 1;
        }
        while v.poll_transmit().is_some() {}
    }
    let spent = cpu.elapsed();
    // 0.5 s of simulated flood: the datagrams still went out every keepalive.
    let expect = (Duration::from_micros(10 * N).as_millis() / KEEPALIVE.as_millis()) as u64;
    assert!(
        sent_rounds + 1 >= expect,
        "{sent_rounds} rounds, {expect} due"
    );
    assert_eq!(rejected(&v, "bad_mac") + rejected(&v, "not_a_director"), N);
    assert_eq!(rejected(&v, "not_a_director"), N / 2, "strangers dropped");
    assert_eq!(v.status(now).len(), 3, "state bounded by the configuration");
    assert!(v.rejected().len() <= GroupRejection::REASONS.len());
    // One HMAC per director-sourced datagram, none for the others: 50 000 (25 000 HMACs) took
    // about 1 s in a debug build on a loaded 2-core machine (20 µs a datagram, unoptimised).
    eprintln!("{N} flood datagrams in {spent:?}");
    assert!(spent < Duration::from_secs(10), "{spent:?}");
}

#[test]
fn every_rejection_reason_is_listed() {
    use GroupRejection::*;
    let all = [
        NotADirector,
        Malformed,
        BadMac,
        Unsigned,
        Replay,
        Reflected,
        QueueFull,
    ];
    let names: Vec<&str> = all.iter().map(|r| r.reason()).collect();
    assert_eq!(names, GroupRejection::REASONS);
}
