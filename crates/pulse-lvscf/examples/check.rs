fn main() {
    for f in std::env::args().skip(1) {
        let s = std::fs::read_to_string(&f).unwrap();
        let p = pulse_lvscf::parse(&s);
        print!("{}", p.diagnostics.render(&f, &s));
        println!("== {f}: valid={} virtuals={} failovers={}", p.is_valid(), p.config.virtuals.len(), p.config.failovers.len());
    }
}
