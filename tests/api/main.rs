//! The service through its HTTP interface, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bearer;
mod fake_openai;
mod fake_target;
mod harness;
mod helpers;
mod proxy;
mod receiver;
mod server;
mod wire;

mod auth;
mod cancel;
mod conditional;
mod create;
mod declared_http;
mod declared_llm;
mod errors;
mod events;
mod faults;
mod group_commit;
mod leases;
mod lifecycle;
mod listing;
mod long_poll;
mod openai;
mod openapi;
mod operational;
mod owners;
mod poll_cache;
mod polling;
mod processes;
mod retention;
mod shutdown;
mod startup;
mod static_page;
mod transitions;
mod unavailable;
mod webhooks;

fn main() -> std::process::ExitCode {
    let arguments = libtest_mimic::Arguments::from_args();
    bearer::install_secret();
    harness::probe_postgres();
    let trials = [
        auth::trials(),
        cancel::trials(),
        conditional::trials(),
        create::trials(),
        declared_http::trials(),
        declared_llm::trials(),
        errors::trials(),
        events::trials(),
        faults::trials(),
        group_commit::trials(),
        leases::trials(),
        listing::trials(),
        lifecycle::trials(),
        long_poll::trials(),
        openai::trials(),
        openapi::trials(),
        owners::trials(),
        operational::trials(),
        poll_cache::trials(),
        polling::trials(),
        processes::trials(),
        retention::trials(),
        shutdown::trials(),
        startup::trials(),
        static_page::trials(),
        transitions::trials(),
        unavailable::trials(),
        webhooks::trials(),
    ]
    .into_iter()
    .flatten()
    .collect();
    libtest_mimic::run(&arguments, trials).exit_code()
}
