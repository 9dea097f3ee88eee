//! Signature verification on a typical 20-field inbound SMS form, against a bare HMAC-SHA1
//! over the same bytes measured in the same run.
//!
//! `cargo bench -p openclaw-twilio --bench verify -- --warm-up-time 1 --measurement-time 3`
//! After criterion's report, prints verifications per second (one core) and the ratio to the
//! bare HMAC baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, Mac};
use openclaw_twilio::form::Form;
use openclaw_twilio::signature::{self, Keys, VerifyRequest};
use secrecy::SecretString;
use sha1::Sha1;

const URL: &str = "https://gateway.example.com/webhooks/sms?account=default";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const FORM: &[u8] = include_bytes!("../tests/data/inbound_sms.form");

struct Fixture {
    form: Form,
    header: String,
    keys: Keys,
    signed: String,
}

fn fixture() -> Fixture {
    let token = SecretString::from(TOKEN);
    let form = Form::parse(FORM).expect("fixture is a valid form");
    assert_eq!(
        form.len(),
        20,
        "the fixture is the typical 20-field SMS form"
    );
    let header = signature::compute(URL, form.pairs(), &token);
    let signed = signature::string_to_sign(URL, form.pairs());
    Fixture {
        form,
        header,
        keys: Keys::new(&token),
        signed,
    }
}

fn verify_once(f: &Fixture) -> bool {
    let req = VerifyRequest::new(URL, FORM)
        .form(&f.form)
        .signature(Some(&f.header));
    signature::verify(black_box(&req), &f.keys).is_ok()
}

fn parse_and_verify_once(f: &Fixture) -> bool {
    let req = VerifyRequest::new(URL, black_box(FORM)).signature(Some(&f.header));
    signature::verify(&req, &f.keys).is_ok()
}

fn bare_hmac_once(f: &Fixture) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).expect("any key length");
    mac.update(black_box(f.signed.as_bytes()));
    mac.finalize().into_bytes().into()
}

fn benches(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("twilio_signature");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_20_field_form", |b| b.iter(|| verify_once(f)));
    g.bench_function("parse_and_verify_20_field_form", |b| {
        b.iter(|| parse_and_verify_once(f));
    });
    g.bench_function("baseline_bare_hmac_sha1", |b| b.iter(|| bare_hmac_once(f)));
    g.finish();
}

/// Runs `op` for about `window` and returns operations per second.
fn rate<T>(window: Duration, mut op: impl FnMut() -> T) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..1000 {
            black_box(op());
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let f = fixture();
    assert!(
        verify_once(&f) && parse_and_verify_once(&f),
        "the fixture verifies"
    );
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &f);
    c.final_summary();

    let window = Duration::from_secs(2);
    let verify = rate(window, || verify_once(&f));
    let parse_verify = rate(window, || parse_and_verify_once(&f));
    let hmac = rate(window, || bare_hmac_once(&f));
    println!();
    println!(
        "signed string: {} bytes ({} form fields)",
        f.signed.len(),
        f.form.len()
    );
    println!("verify (pre-parsed form):   {verify:>12.0} verifications/s (one core)");
    println!("parse + verify (raw body):  {parse_verify:>12.0} verifications/s (one core)");
    println!("baseline bare HMAC-SHA1:    {hmac:>12.0} MACs/s (key set up each time)");
    println!("ratio verify / baseline:    {:>12.2}", verify / hmac);
    println!("ratio parse+verify / base:  {:>12.2}", parse_verify / hmac);
}
