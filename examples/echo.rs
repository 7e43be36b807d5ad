//! echo: two hosts' TCP/IP stacks embedded in one process, with no sockets, threads or clock.
//!
//! A client stack connects to an echo service on a server stack; their SYNs negotiate TCP-ENO
//! (RFC 8547) with the X25519 tcpcrypt TEP, the two `tcpcrypt::Session`s run the key exchange
//! (RFC 8548 §3.3) over the connection, the client sends one message in an encrypted frame and
//! the server echoes it. Both print the session ID, which an application would compare with
//! its peer's to authenticate it. Time is virtual: it jumps to the stacks' next timer when
//! nothing else moves.
//!
//! `cargo run -p tcpcrypt-examples --example echo [MESSAGE]`

use std::process::ExitCode;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use stack::{
    ConnConfig, Event, Instant, IpAddress, IpEndpoint, ListenAddr, ListenConfig, Stack, StackConfig,
};
use tcpcrypt_examples::{read_ready, shuttle, Secured};

const ECHO_PORT: u16 = 7;

/// A stack with one address whose connections offer tcpcrypt with X25519 (TEP 0x23).
fn host(addr: IpAddress, seed: u8) -> Stack {
    let mut config = StackConfig::new(vec![addr], [seed; 32]);
    config.conn = ConnConfig {
        eno: Some(eno::Config {
            teps: vec![eno::TepOffer::new(tcpcrypt::Tep::X25519.id())],
            ..eno::Config::default()
        }),
        ..ConnConfig::default()
    };
    Stack::new(config)
}

fn main() -> ExitCode {
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "hello over tcpcrypt".to_owned());
    match run(message.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(message: &[u8]) -> Result<(), String> {
    let (client_ip, server_ip) = (IpAddress::v4(192, 0, 2, 1), IpAddress::v4(192, 0, 2, 2));
    let mut client = host(client_ip, 1);
    let mut server = host(server_ip, 2);
    // A real program seeds from the OS; fixed seeds keep the example reproducible.
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut now = Instant::from_millis(0);

    server.listen(
        ListenAddr {
            addr: Some(server_ip),
            port: Some(ECHO_PORT),
        },
        ListenConfig::default(),
    );
    let conn = client
        .connect(
            now,
            IpEndpoint::new(client_ip, 40_000),
            IpEndpoint::new(server_ip, ECHO_PORT),
            None,
        )
        .map_err(|e| format!("connect: {e}"))?;
    let mut c = Secured::new(conn);
    let mut s: Option<Secured> = None;
    let mut sent = false;
    let mut echoed = Vec::new();
    let mut buf = [0u8; 4096];

    for _ in 0..10_000 {
        let moved = shuttle(now, &mut client, &mut server);
        while let Some((id, ev)) = server.poll_event() {
            if ev == Event::Established && s.is_none() {
                s = Some(Secured::new(id));
            }
        }
        while client.poll_event().is_some() {}
        let started = c.start(&client, &mut rng).map_err(|e| e.to_string())?;
        if !started && client.eno_outcome(conn).is_some() {
            return Err("the server did not negotiate tcpcrypt".into());
        }
        if let Some(s) = s.as_mut() {
            s.start(&server, &mut rng).map_err(|e| e.to_string())?;
            s.pump(now, &mut server).map_err(|e| e.to_string())?;
            // The echo service: every plaintext byte read goes back.
            if let Some(session) = s.session.as_mut() {
                let n = read_ready(session, &mut buf).map_err(|e| e.to_string())?;
                if n > 0 {
                    session
                        .write(buf.get(..n).unwrap_or_default())
                        .map_err(|e| e.to_string())?;
                }
            }
            s.pump(now, &mut server).map_err(|e| e.to_string())?;
        }
        c.pump(now, &mut client).map_err(|e| e.to_string())?;
        if let Some(session) = c.session.as_mut() {
            if session.is_established() && !sent {
                session.write(message).map_err(|e| e.to_string())?;
                sent = true;
            }
            let n = read_ready(session, &mut buf).map_err(|e| e.to_string())?;
            echoed.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        c.pump(now, &mut client).map_err(|e| e.to_string())?;
        if echoed.len() >= message.len() {
            break;
        }
        if moved == 0 {
            // Nothing on the wire: let time run to the next timer (delayed ACK, RTO).
            let next = [client.next_deadline(), server.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = next {
                now = now.max(t);
                client.handle_timeout(now);
                server.handle_timeout(now);
            }
        }
    }

    let client_id = c.session.as_ref().and_then(|s| s.session_id());
    let server_id = s
        .as_ref()
        .and_then(|s| s.session.as_ref())
        .and_then(|s| s.session_id());
    let (Some(client_id), Some(server_id)) = (client_id, server_id) else {
        return Err("no tcpcrypt session was established".into());
    };
    println!("client session ID {}", hex::encode(client_id));
    println!("server session ID {}", hex::encode(server_id));
    println!("echoed: {}", String::from_utf8_lossy(&echoed));
    if client_id != server_id {
        return Err("session IDs differ".into());
    }
    if echoed != message {
        return Err("the echo differs from the message".into());
    }
    Ok(())
}
