//! A reference for `bench/poll_limits.sh`: a plain Rocket 0.5 route that
//! answers the same fixed ~350-byte JSON as `bench/hyper-baseline`, with
//! Rocket's defaults (its Shield headers included) and nothing else — what
//! the framework itself costs per request on this machine.
//!
//!   cargo run --release --example rocket_baseline -- [PORT]   (default 18082)

use rocket::http::ContentType;

const BODY: &str = concat!(
    r#"{"id":"6f1c9a52-3d0e-4b8a-9f47-2c5e8d7b1a30","operation_type":"question_generation","#,
    r#""status":"completed","result":{"question_text":"How would you paginate a large, frequently "#,
    r#"updated table in a public REST API?","question_type":"technical","difficulty":"senior","#,
    r#""topic":"pagination","generator":"builtin"},"error_message":null,"error_code":null,"#,
    r#""attempts":1,"created_at":"2026-11-28T10:00:00.120Z","updated_at":"2026-11-28T10:00:04.861Z"}"#
);

#[rocket::get("/<_..>")]
fn answer() -> (ContentType, &'static str) {
    (ContentType::JSON, BODY)
}

#[rocket::launch]
fn rocket() -> _ {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18082);
    let figment = rocket::Config::figment()
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", "off"));
    rocket::custom(figment).mount("/", rocket::routes![answer])
}
