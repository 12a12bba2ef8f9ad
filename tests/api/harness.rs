//! The test binary's own harness (libtest-mimic): each test runs on SQLite
//! and on PostgreSQL, and when no PostgreSQL answers outside CI, its
//! PostgreSQL runs are reported as ignored, not passed. With `CI=true` they
//! run, and fail saying why.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::OnceLock;

use libtest_mimic::Trial;

use crate::helpers::{postgres_server_url, Backend, TestDb};

pub type TestFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Whether the PostgreSQL runs are to be skipped, decided once.
static SKIP_POSTGRES: OnceLock<bool> = OnceLock::new();

/// Looks for PostgreSQL once; says so when its tests will be skipped.
pub fn probe_postgres() {
    let reachable = rocket::async_test(TestDb::postgres_answers());
    let skip = match reachable {
        Ok(()) => false,
        Err(_) if in_ci() => false,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: every PostgreSQL test (reported as ignored): PostgreSQL is not reachable at {} ({e}); \
                 set LONGRUN_TEST_POSTGRES_URL to run them",
                postgres_server_url()
            );
            true
        }
    };
    let _ = SKIP_POSTGRES.set(skip);
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

fn skip_postgres() -> bool {
    SKIP_POSTGRES.get().copied().unwrap_or(false)
}

/// `MODULE::NAME::sqlite` and `MODULE::NAME::postgres`.
pub fn on_both_backends(module: &str, name: &str, test: fn(Backend) -> TestFuture) -> [Trial; 2] {
    [
        Trial::test(format!("{module}::{name}::sqlite"), move || {
            rocket::async_test(test(Backend::Sqlite));
            Ok(())
        }),
        Trial::test(format!("{module}::{name}::postgres"), move || {
            rocket::async_test(test(Backend::Postgres));
            Ok(())
        })
        .with_ignored_flag(skip_postgres()),
    ]
}

/// `MODULE::NAME`, a test of PostgreSQL alone.
pub fn on_postgres(module: &str, name: &str, test: fn() -> TestFuture) -> Trial {
    Trial::test(format!("{module}::{name}"), move || {
        rocket::async_test(test());
        Ok(())
    })
    .with_ignored_flag(skip_postgres())
}

/// `MODULE::NAME`, a test that needs no PostgreSQL.
pub fn on_sqlite(module: &str, name: &str, test: fn() -> TestFuture) -> Trial {
    Trial::test(format!("{module}::{name}"), move || {
        rocket::async_test(test());
        Ok(())
    })
}

/// The trials of a test module:
/// `trials!(on_both_backends: [a], on_postgres: [b], on_sqlite: [c])`
/// defines `trials()`, with each `async fn a(backend: Backend)` run on both
/// backends, each `async fn b()` on PostgreSQL alone and each `async fn c()`
/// without PostgreSQL.
#[macro_export]
macro_rules! trials {
    (
        on_both_backends: [$($both:ident),* $(,)?]
        $(, on_postgres: [$($postgres:ident),* $(,)?])?
        $(, on_sqlite: [$($sqlite:ident),* $(,)?])?
        $(,)?
    ) => {
        pub fn trials() -> Vec<libtest_mimic::Trial> {
            let module = module_path!().rsplit("::").next().unwrap_or_default();
            let mut trials: Vec<libtest_mimic::Trial> = Vec::new();
            $(trials.extend($crate::harness::on_both_backends(module, stringify!($both), |backend| {
                Box::pin($both(backend))
            }));)*
            $($(trials.push($crate::harness::on_postgres(module, stringify!($postgres), || {
                Box::pin($postgres())
            }));)*)?
            $($(trials.push($crate::harness::on_sqlite(module, stringify!($sqlite), || {
                Box::pin($sqlite())
            }));)*)?
            let _ = module;
            trials
        }
    };
}
