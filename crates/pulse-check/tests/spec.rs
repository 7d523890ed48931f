//! `CheckSpec::from_virtual` against docs/reference/piranha.md §6.2, one rule per test, from real lvs.cf text
//! (so the model's quote stripping is part of what is tested).

use pulse_check::spec::{DEFAULT_WEB_EXPECT, DEFAULT_WEB_SEND};
use pulse_check::{CheckSpec, Expect, SpecError};
use pulse_lvscf::VirtualService;
use std::net::SocketAddr;

/// The virtual service `web` of a minimal valid file, with `body` as its keyword lines.
fn virt(body: &str) -> VirtualService {
    let src = format!(
        "serial_no = 1\nprimary = 192.0.2.11\nservice = lvs\nbackup = 192.0.2.12\n\
         virtual web {{\n     active = 1\n     address = 192.0.2.100 eth0:1\n{body}\n     \
         server web01 {{\n         address = 192.0.2.21\n         active = 1\n     }}\n}}\n"
    );
    let parsed = pulse_lvscf::parse(&src);
    assert!(
        parsed.is_valid(),
        "fixture does not load:\n{src}\n{}",
        parsed.diagnostics.render("test.cf", &src)
    );
    parsed
        .config
        .virtuals
        .into_iter()
        .next()
        .expect("one virtual")
}

fn spec(body: &str) -> CheckSpec {
    CheckSpec::from_virtual(&virt(body)).expect("spec builds")
}

fn prefix(s: &str) -> Option<Expect> {
    Some(Expect::Prefix(s.as_bytes().to_vec()))
}

#[test]
fn default_web_check_on_port_80_only() {
    assert_eq!(
        spec("     port = 80"),
        CheckSpec::Tcp {
            send: DEFAULT_WEB_SEND.as_bytes().to_vec(),
            expect: prefix(DEFAULT_WEB_EXPECT),
        }
    );
    assert_eq!(DEFAULT_WEB_SEND, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(DEFAULT_WEB_EXPECT, "HTTP");
    // port defaults to 80
    assert_eq!(spec(""), spec("     port = 80"));
    assert_eq!(
        spec("     port = 80").describe(),
        r#"tcp send "GET / HTTP/1.0\r\n\r\n", expect prefix "HTTP""#
    );
    // any other port: connect only
    assert_eq!(spec("     port = 8080"), CheckSpec::TcpConnect);
    assert_eq!(spec("     port = 443"), CheckSpec::TcpConnect);
}

#[test]
fn default_web_check_only_when_nothing_is_set() {
    // expect alone: no default send
    assert_eq!(
        spec("     port = 80\n     expect = \"OK\""),
        CheckSpec::Tcp {
            send: vec![],
            expect: prefix("OK"),
        }
    );
    // send alone: no default expect
    assert_eq!(
        spec("     port = 80\n     send = \"PING\""),
        CheckSpec::Tcp {
            send: b"PING".to_vec(),
            expect: None,
        }
    );
    // an empty send string counts as set (nanny's non-NULL pointer): no default web check
    assert_eq!(
        spec("     port = 80\n     send = \"\""),
        CheckSpec::TcpConnect
    );
}

#[test]
fn default_web_check_applies_to_udp_too() {
    // nanny checks the port, not the protocol
    assert_eq!(
        spec("     port = 80\n     protocol = udp"),
        CheckSpec::Udp {
            send: DEFAULT_WEB_SEND.as_bytes().to_vec(),
            expect: prefix(DEFAULT_WEB_EXPECT),
        }
    );
}

#[test]
fn backslash_translation_of_send_and_expect() {
    assert_eq!(
        spec("     port = 25\n     send = \"HELO x\\r\\n\"\n     expect = \"220\\t\\\\ \\q\""),
        CheckSpec::Tcp {
            send: b"HELO x\r\n".to_vec(),
            expect: prefix("220\t\\ \\q"),
        }
    );
}

#[test]
fn send_program_overrides_send_and_is_not_translated() {
    let s = spec(
        "     port = 5060\n     send = \"OPTIONS\"\n     expect = \"OK\\n\"\n     \
         send_program = \"/usr/local/bin/check-sip a\\n %h %p\"",
    );
    let CheckSpec::Program { program, expect } = &s else {
        panic!("expected a program check, got {s:?}");
    };
    // expect is still translated, the command is not
    assert_eq!(expect.as_deref(), Some(&b"OK\n"[..]));
    assert_eq!(program.command(), "/usr/local/bin/check-sip a\\n %h %p");
    let target: SocketAddr = "10.0.0.2:5061".parse().unwrap();
    assert_eq!(
        program.argv(target),
        ["/usr/local/bin/check-sip", "a\\n", "10.0.0.2", "5061"]
    );
    assert_eq!(
        s.describe(),
        r#"program "/usr/local/bin/check-sip a\\n %h %p", output "OK\n""#
    );
}

#[test]
fn send_program_wins_over_udp_and_port_80_default() {
    let s = spec("     port = 80\n     protocol = udp\n     send_program = \"/bin/check %h\"");
    let CheckSpec::Program { expect, .. } = &s else {
        panic!("expected a program check, got {s:?}");
    };
    assert_eq!(*expect, None);
    assert_eq!(s.describe(), r#"program "/bin/check %h", exit status 0"#);
}

#[test]
fn empty_send_program_is_an_error() {
    let err = CheckSpec::from_virtual(&virt("     send_program = \"   \"")).unwrap_err();
    assert!(matches!(err, SpecError::EmptyProgram { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "virtual service web: send_program is empty"
    );
}

#[test]
fn star_means_any_byte() {
    assert_eq!(
        spec("     port = 21\n     expect = \"*\""),
        CheckSpec::Tcp {
            send: vec![],
            expect: Some(Expect::AnyByte),
        }
    );
    assert_eq!(
        spec("     port = 21\n     expect = \"*\"").describe(),
        "tcp expect any byte"
    );
}

#[test]
fn regex_expect() {
    let s = spec(
        "     port = 8080\n     send = \"GET /\"\n     expect = \"^HTTP/1\\.[01] 200\"\n     use_regex = 1",
    );
    let CheckSpec::Tcp {
        expect: Some(Expect::Regex(re)),
        ..
    } = &s
    else {
        panic!("expected a regex check, got {s:?}");
    };
    // `\.` is not one of nanny's escapes, so it reaches the regex intact
    assert_eq!(re.as_str(), r"^HTTP/1\.[01] 200");
    assert!(re.is_match(b"HTTP/1.1 200 OK"));
    assert!(!re.is_match(b"HTTP/1.1 404 Not Found"));
    // POSIX-ish: `.` matches a newline
    let dot = spec("     port = 8080\n     expect = \"a.b\"\n     use_regex = 1");
    let CheckSpec::Tcp {
        expect: Some(Expect::Regex(dot)),
        ..
    } = &dot
    else {
        panic!("expected a regex check");
    };
    assert!(dot.is_match(b"a\nb"));
}

#[test]
fn posix_class_regex_compiles() {
    let s = spec("     port = 8080\n     expect = \"^[[:digit:]]+ OK\"\n     use_regex = 1");
    let CheckSpec::Tcp {
        expect: Some(Expect::Regex(re)),
        ..
    } = &s
    else {
        panic!("expected a regex check");
    };
    assert!(re.is_match(b"200 OK"));
}

#[test]
fn bad_regex_is_a_spec_error_naming_the_service() {
    let err = CheckSpec::from_virtual(&virt(
        "     port = 8080\n     expect = \"HTTP (\"\n     use_regex = 1",
    ))
    .unwrap_err();
    assert!(matches!(err, SpecError::BadRegex { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        r#"virtual service web: expect "HTTP (" is not a valid regular expression"#
    );
    assert!(std::error::Error::source(&err).is_some());
    // with use_regex, `*` is a (bad) regex, not the wildcard
    let star = CheckSpec::from_virtual(&virt(
        "     port = 8080\n     expect = \"*\"\n     use_regex = 1",
    ));
    assert!(matches!(star, Err(SpecError::BadRegex { .. })), "{star:?}");
}

#[test]
fn use_regex_without_expect_is_harmless() {
    assert_eq!(
        spec("     port = 8080\n     use_regex = 1"),
        CheckSpec::TcpConnect
    );
}

#[test]
fn udp_without_send_or_expect_sends_an_empty_datagram() {
    let s = spec("     port = 53\n     protocol = udp");
    assert_eq!(
        s,
        CheckSpec::Udp {
            send: vec![],
            expect: None,
        }
    );
    assert_eq!(s.describe(), "udp send empty datagram, any reply");
}

#[test]
fn udp_send_expect() {
    assert_eq!(
        spec(
            "     port = 5060\n     protocol = udp\n     send = \"ping\\n\"\n     expect = \"pong\""
        ),
        CheckSpec::Udp {
            send: b"ping\n".to_vec(),
            expect: prefix("pong"),
        }
    );
}

#[test]
fn empty_expect_means_no_read() {
    assert_eq!(
        spec("     port = 8080\n     send = \"x\"\n     expect = \"\""),
        CheckSpec::Tcp {
            send: b"x".to_vec(),
            expect: None,
        }
    );
}

#[test]
fn latin1_send_and_expect_are_the_files_bytes() {
    // piranha reads bytes: a Latin-1 é (0xE9) in `expect` is compared as that byte.
    let src = b"serial_no = 1\nprimary = 192.0.2.11\nservice = lvs\nbackup = 192.0.2.12\n\
        virtual web {\n     active = 1\n     address = 192.0.2.100 eth0:1\n     port = 81\n\
        \x20    send = \"caf\xe9\"\n     expect = \"ol\xe9\"\n     server web01 {\n\
        \x20        address = 192.0.2.21\n         active = 1\n     }\n}\n";
    let loaded = pulse_lvscf::Loaded::from_bytes(src);
    assert!(loaded.is_valid(), "{:?}", loaded.parsed.diagnostics);
    let vs = loaded
        .parsed
        .config
        .virtuals
        .into_iter()
        .next()
        .expect("one");
    assert_eq!(
        CheckSpec::from_virtual(&vs).expect("spec"),
        CheckSpec::Tcp {
            send: b"caf\xe9".to_vec(),
            expect: Some(Expect::Prefix(b"ol\xe9".to_vec())),
        }
    );
}
