//! RFC 8548 §3.3, §3.4, §4.1, §4.2: the tcpcrypt cases of shared/conformance/sample.jsonl
//! (handshake, frames, open), reproduced through the public API only, the way the
//! conformance shim adapter does, and compared with sample-expected.jsonl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use tcpcrypt::provider::{default_provider, ring, rustcrypto};
use tcpcrypt::{Cipher, Config, CryptoProvider, Error, Role, Session, Tep};

const CASES: &str = r#"
{"id":"sample-handshake-001","op":"handshake","tep":35,"transcript":"45062122242345040123","a_priv":"0119eb4e7f8e0e488fadd5bb36a05c5d35c7c25711dcc38b8e82f6b16294f355","b_priv":"c246d31d291ed3b3a27475a0bf5aafb2e6680c4c0dfd4382f875899d31ca73f2","n_a":"c2bc56ffb9f1a13a0f95cdb8766c7313262fe4221c8c20cffec5eecee7effa89","n_b":"7bffceb78e338b91aec5f1d2a0fa780ed8310c7e0914fb961112baa8c8d6298e","a_ciphers":[1],"b_cipher":1,"note":"X25519 + AES-128-GCM"}
{"id":"sample-handshake-002","op":"handshake","tep":33,"transcript":"451500a11abe978d8ff463d2d762366bcefccd339145040121","a_priv":"990f9598da3783b7a5a70bdc25a173b5610713536395cfb9498042de7f2e32bd","b_priv":"c50f2acd7078c28a4230b502069defccd6f76eaa81bffb3baaf95e0fc89d2889","n_a":"52630930dbd464d0d08f8ba4b04c3a4152eac44cd47547580db57b170433e134","n_b":"7cc4e9257c9e6d8d04a6cd92c0e51e8cae791ff007bae73efb71a1849db6f057","a_ciphers":[1,16],"b_cipher":16,"note":"P-256 + ChaCha20-Poly1305"}
{"id":"sample-frames-001","op":"frames","send":[{"dir":"a2b","data":"68656c6c6f","fin":false,"rekey":false},{"dir":"b2a","data":"776f726c64","fin":false,"rekey":false},{"dir":"a2b","data":"","fin":true,"rekey":false}],"tep":36,"transcript":"4504240245040124","a_priv":"993dfd87cd8add3475b0c4419066a5081ae82179d5ae5fd6c0aadb6bdc5a8be80a8ee8d35938804a5a7edd78e229f2d0f036324bb05945d9","b_priv":"23becf632c826695ab8f5c3c74e09d133843c0c09b67c57cce142ca27cce5ac942bc7f2ae6f22fc68c0a247821aa4cbf84b3e4bb4906c1c5","n_a":"e06f6eef2d90eab9be540f0e842bcfc470aafc7ba39e910959fbee553295342c","n_b":"32404fa95a989abb5116364218d6bb3e973bfdcb20cb9ec8f01cb50b43e45588","a_ciphers":[2],"b_cipher":2,"note":"X448 + AES-256-GCM: a2b, b2a, a2b FIN"}
{"id":"sample-frames-002","op":"frames","send":[{"dir":"a2b","data":"70696e67","fin":false,"rekey":false},{"dir":"a2b","data":"72656b65796564","fin":false,"rekey":true},{"dir":"b2a","data":"","fin":false,"rekey":true}],"tep":35,"transcript":"45152422a35955502ace05df6cac457715905e93ab45040123","a_priv":"d9adbfea4befaca16731cf5d46c15a1118a3751cc7b49377621fa3ab664359ac","b_priv":"015bf87d76314ceee35a07a6b12027b01b8ab0f51b766f3cd8da56a245c3c178","n_a":"966f62e67d10dd3afe25d201a21a076b842a68f179b377c504e11a9ec0c414be","n_b":"8e85ca92c571ae93ebd8d1fcda72137ac1f7579b90c6e7f6b486164e5d7d8efc","a_ciphers":[1],"b_cipher":1,"note":"X25519 + AES-128-GCM: a2b rekey, b2a answers with rekey"}
{"id":"sample-open-001","op":"open","dir":"a2b","stream":"000014ea6cda8e44177ab70fad4a7d02604e4a4e32ebd701001591d9e5a4b15f20d9fb22f6c2abf7064ed720bedcc70000114d073a3e896b2ea282e555fbfdbd6eec1e","tep":34,"transcript":"4507200024222145040322","a_priv":"0191b1ef0dde918b8a4cf9ba5c4609aa038940899666dfd19bb494a22ddf7009d94953a836718a5365b83e157d18bcd0b1986dc4341ffe5a2e0dac803cca4fa3df97","b_priv":"0108eb7c1bb0b3dadae8547b48357e886402f7365b9bd86a5a18380f50f17d347287f496aff9bed8224a07c3fd7d0972aa8b47f41fef3b8160ae2f619d401df90da1","n_a":"e9addcb8abddb6c8748f02e4a57bf77e36b79f262b17c9807e27d60220327461","n_b":"bda95976d87aea53c07148fcbe00f27b2ce76bb239c8020f865b3ab54f383b24","a_ciphers":[1,2],"b_cipher":1,"note":"P-521: three valid a2b frames, rekey on the second, FIN on the last"}
{"id":"sample-open-002","op":"open","dir":"a2b","stream":"000014ea6cda8e44177ab70fad4a7d02604e4a4e32ebd701001591d9e4a4b15f20d9fb22f6c2abf7064ed720bedcc70000114d073a3e896b2ea282e555fbfdbd6eec1e","tep":34,"transcript":"4507200024222145040322","a_priv":"0191b1ef0dde918b8a4cf9ba5c4609aa038940899666dfd19bb494a22ddf7009d94953a836718a5365b83e157d18bcd0b1986dc4341ffe5a2e0dac803cca4fa3df97","b_priv":"0108eb7c1bb0b3dadae8547b48357e886402f7365b9bd86a5a18380f50f17d347287f496aff9bed8224a07c3fd7d0972aa8b47f41fef3b8160ae2f619d401df90da1","n_a":"e9addcb8abddb6c8748f02e4a57bf77e36b79f262b17c9807e27d60220327461","n_b":"bda95976d87aea53c07148fcbe00f27b2ce76bb239c8020f865b3ab54f383b24","a_ciphers":[1,2],"b_cipher":1,"note":"same stream, a bit flipped in frame 1's ciphertext -> error, data 'abc'"}
{"id":"sample-open-003","op":"open","dir":"a2b","stream":"000014ea6cda8e44177ab70fad4a7d02604e4a4e32ebd701001591d9e5a4b15f20","tep":34,"transcript":"4507200024222145040322","a_priv":"0191b1ef0dde918b8a4cf9ba5c4609aa038940899666dfd19bb494a22ddf7009d94953a836718a5365b83e157d18bcd0b1986dc4341ffe5a2e0dac803cca4fa3df97","b_priv":"0108eb7c1bb0b3dadae8547b48357e886402f7365b9bd86a5a18380f50f17d347287f496aff9bed8224a07c3fd7d0972aa8b47f41fef3b8160ae2f619d401df90da1","n_a":"e9addcb8abddb6c8748f02e4a57bf77e36b79f262b17c9807e27d60220327461","n_b":"bda95976d87aea53c07148fcbe00f27b2ce76bb239c8020f865b3ab54f383b24","a_ciphers":[1,2],"b_cipher":1,"note":"same stream cut inside frame 1 -> incomplete, data 'abc'"}
{"id":"sample-open-004","op":"open","dir":"b2a","stream":"00001f56228a92a018471865e2de17401db4345b4dc8561f75d652bea53bbb4fe970","tep":35,"transcript":"45062100202345040123","a_priv":"b51ead6a182956504aea6a195e8e69fd3aa9111090ddcaa6768f4d0a9a130955","b_priv":"621265cf729b2df84e2f9b4ef082564684a45c71556c1085aec92a2963a37a3b","n_a":"2dfd54c99844ef9618ac933a08d7e5bc61f7d003e54628eb9b70cb55b0fdf393","n_b":"c12ecc149d954415eaef88b89bd7a65244689a5cb73fcd6688e3f691f9740bf5","a_ciphers":[16],"b_cipher":16,"note":"X25519 + ChaCha20-Poly1305: one b2a FIN frame"}
"#;

const EXPECTED: &str = r#"
{"id":"sample-handshake-001","init1":"15101a0e0000004b010001c2bc56ffb9f1a13a0f95cdb8766c7313262fe4221c8c20cffec5eecee7effa894d44beba0735ff842013dccfdfa44bf954f7937840294218d18b893274cb9f05","init2":"097105e00000004a00017bffceb78e338b91aec5f1d2a0fa780ed8310c7e0914fb961112baa8c8d6298ec58cbdf841eaa40eaf23526e19a4056f02beccf93eb02ef65968e74420124c02","session_id":"23268ec078cb1020f4f5eee06893867832ba897563a952119a8f7671483d30681b","resume":"bd3713f08d075ad047a890dd168a1c360ef6","k_ab":"2654fc53e21550abbfe8d5747b34cda87fe3fc5edebeca673615bf65","k_ba":"15d78bf1d9d5006b93c26f3ade0b7a2d435a601f64d67ae0660ed943"}
{"id":"sample-handshake-002","init1":"15101a0e00000050020001001052630930dbd464d0d08f8ba4b04c3a4152eac44cd47547580db57b170433e1340021034d849f87c91c2b688336b7d9bcb3d77350f5cc1061a29dea1c5f017f0cff395c","init2":"097105e00000004d00107cc4e9257c9e6d8d04a6cd92c0e51e8cae791ff007bae73efb71a1849db6f057002102d02f92144b37a37fb1aeb65682473088e11f6484c15b05a4709c26f53c783427","session_id":"21ef7b701e180188e6effc6d19c8a882a2450ada66b7654f7992659d91902056b9","resume":"acbb71abebfe49a9d0cba0b2689b727a374e","k_ab":"1c95b1075043ce01200ef5906e2b2f47607b9e6ef940adff818a50f545ddb4a534e444347e9ea96d9da5c10a","k_ba":"0eea925c3745d5b632b8d804c8678c3272c160215a365f05e82ace13b2419f9bf333de371911552812afe55a"}
{"id":"sample-frames-001","wire":["0000169e835092ef65244a22dc65ae421aad954e187d7c5d73","0000166cafd1bde78a1f1ffc90fab8145825af1199b4923fea","00001115619dbf98b64ffb5c16976643ac9d8bec"]}
{"id":"sample-frames-002","wire":["000015873365611c386127ea089b26b7dbeed46b4eaebd23","010018261b6e003e2651316f5f5f83beaf2bfc2875b344b6a8f930","0100112d3bc4b454c952a91d07a25d753f17acd6"]}
{"id":"sample-open-001","data":"61626364656667","eof":true}
{"id":"sample-open-002","error":"AEAD authentication failed","data":"616263"}
{"id":"sample-open-003","incomplete":true,"data":"616263","eof":false}
{"id":"sample-open-004","data":"7365727665722073617973206869","eof":true}
"#;

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = s.poll_stream(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

struct Pair {
    a: Session,
    b: Session,
    init1: Vec<u8>,
    init2: Vec<u8>,
}

fn handshake(c: &Value, p: &'static dyn CryptoProvider) -> Pair {
    let tep_byte = u8::try_from(c["tep"].as_u64().unwrap()).unwrap();
    let tep = Tep::from_id(tep_byte).unwrap();
    let transcript = h(&c["transcript"]);
    let a_ciphers: Vec<Cipher> = c["a_ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| Cipher::from_id(u16::try_from(x.as_u64().unwrap()).unwrap()).unwrap())
        .collect();
    let b_cipher =
        Cipher::from_id(u16::try_from(c["b_cipher"].as_u64().unwrap()).unwrap()).unwrap();
    let cfg = |ciphers| Config {
        ciphers,
        debug_secrets: true,
        ..Config::default()
    };
    let nonce = |k: &str| <[u8; 32]>::try_from(h(&c[k])).unwrap();
    let ka = p.kx_from_private(tep, &h(&c["a_priv"])).unwrap();
    let kb = p.kx_from_private(tep, &h(&c["b_priv"])).unwrap();
    let mut a = Session::fresh_with_keys(
        Role::A,
        tep_byte,
        &transcript,
        cfg(a_ciphers),
        p,
        ka,
        nonce("n_a"),
    )
    .unwrap();
    let mut b = Session::fresh_with_keys(
        Role::B,
        tep_byte,
        &transcript,
        cfg(vec![b_cipher]),
        p,
        kb,
        nonce("n_b"),
    )
    .unwrap();
    let init1 = drain(&mut a);
    b.handle_stream(&init1).unwrap();
    let init2 = drain(&mut b);
    a.handle_stream(&init2).unwrap();
    assert!(a.is_established() && b.is_established());
    Pair { a, b, init1, init2 }
}

fn run(c: &Value, p: &'static dyn CryptoProvider) -> Value {
    let id = c["id"].clone();
    let mut pair = handshake(c, p);
    match c["op"].as_str().unwrap() {
        "handshake" => {
            let sid = pair.a.session_id().unwrap();
            assert_eq!(Some(sid), pair.b.session_id());
            let d = pair.a.debug_secrets().unwrap();
            let db = pair.b.debug_secrets().unwrap();
            assert_eq!(d.resume, db.resume);
            assert_eq!(d.keys.k_ab.expose(), db.keys.k_ab.expose());
            json!({
                "id": id,
                "init1": hex::encode(&pair.init1),
                "init2": hex::encode(&pair.init2),
                "session_id": hex::encode(sid),
                "resume": hex::encode(d.resume),
                "k_ab": hex::encode(d.keys.k_ab.expose()),
                "k_ba": hex::encode(d.keys.k_ba.expose()),
            })
        }
        "frames" => {
            let mut wire = Vec::new();
            for item in c["send"].as_array().unwrap() {
                let s = match item["dir"].as_str().unwrap() {
                    "a2b" => &mut pair.a,
                    _ => &mut pair.b,
                };
                s.send_frame(
                    &h(&item["data"]),
                    item["fin"].as_bool().unwrap(),
                    item["rekey"].as_bool().unwrap(),
                )
                .unwrap();
                wire.push(Value::from(hex::encode(drain(s))));
            }
            json!({"id": id, "wire": wire})
        }
        "open" => {
            let r = match c["dir"].as_str().unwrap() {
                "a2b" => &mut pair.b,
                _ => &mut pair.a,
            };
            let res = r.handle_stream(&h(&c["stream"]));
            let mut data = Vec::new();
            let mut buf = [0u8; 7];
            let end = loop {
                match r.read(&mut buf) {
                    Ok(0) => break Ok(true),
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                    Err(Error::WouldBlock) => break Ok(false),
                    Err(e) => break Err(e),
                }
            };
            match (res, end) {
                (Err(e), Err(e2)) => {
                    assert_eq!(e, e2);
                    json!({"id": id, "error": e.to_string(), "data": hex::encode(data)})
                }
                (Ok(()), Ok(eof)) if r.pending_input() > 0 => {
                    json!({"id": id, "incomplete": true, "data": hex::encode(data), "eof": eof})
                }
                (Ok(()), Ok(eof)) => json!({"id": id, "data": hex::encode(data), "eof": eof}),
                other => panic!("inconsistent result {other:?}"),
            }
        }
        op => panic!("unexpected op {op}"),
    }
}

#[test]
fn sample_cases_match_expected_with_both_providers() {
    let expected: Vec<Value> = EXPECTED
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cases: Vec<Value> = CASES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 8);
    let providers: [&'static dyn CryptoProvider; 3] =
        [&ring::PROVIDER, &rustcrypto::PROVIDER, default_provider()];
    for p in providers {
        for c in &cases {
            let want = expected.iter().find(|e| e["id"] == c["id"]).unwrap();
            let got = run(c, p);
            assert_eq!(&got, want, "case {} with {}", c["id"], p.name());
        }
    }
}
