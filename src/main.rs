use std::process::ExitCode;

use longrun::config::Settings;

/// Many small short-lived allocations per request (headers, buffers):
/// mimalloc serves them in a fraction of glibc's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Starts the service; a setting that does not fit, or a part that cannot
/// start, is one line and exit status 1. `longrun token <sub>` prints a
/// token for trying out `jwt` mode.
fn main() -> ExitCode {
    without_huge_pages();
    let figment = longrun::figment();
    let mut args = std::env::args().skip(1);
    if let Some(command) = args.next() {
        return match command.as_str() {
            "token" => longrun::auth::mint::run(&figment, args),
            _ => {
                eprintln!("longrun: unknown command {command:?}; run it without arguments, or `longrun token <sub>`");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::load(&figment) {
        Ok(settings) => settings,
        Err(invalid) => {
            eprintln!("longrun: {invalid}");
            return ExitCode::FAILURE;
        }
    };
    longrun::telemetry::install_logs(settings.operations.log_format, settings.rocket.log_level);
    match rocket::execute(longrun::assemble(figment, settings).launch()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            longrun::startup::report_launch_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// Memory in 4 KiB pages. mimalloc asks for transparent huge pages, and a
/// 2 MiB page is resident in full, and zeroed, from its first byte used:
/// an idle server held 38 MiB instead of 25, and first polls after a
/// restart spent a twentieth of their CPU zeroing pages (BENCHMARKS.md,
/// "Cold polls after a restart").
#[cfg(target_os = "linux")]
fn without_huge_pages() {
    // Kernels before 3.15 refuse it, and keep huge pages.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(not(target_os = "linux"))]
fn without_huge_pages() {}
