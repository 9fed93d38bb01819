//! `kubeseen`: parse the command line, run it, map the outcome to an exit code.

use clap::Parser;

/// glibc's allocator spent a third of landing in malloc/free bookkeeping; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use kubeseen::{app, cli};

/// `mi_option_purge_delay` of mimalloc v3's `mi_option_e` (libmimalloc-sys 0.1.49, pinned in
/// Cargo.toml, does not export the constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Milliseconds before freed memory goes back to the OS. mimalloc's default (10 ms) re-faults
/// the column buffers landing frees and reallocates per part file; never purging made landing
/// 2x faster than glibc but let peak RSS grow with the input (847 MiB for 45 M points). 1 s
/// keeps most of the speed and the peak under 512 MiB (medium bench slice: 439 MiB).
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

fn main() {
    // Keep freed memory committed for a while instead of returning it to the OS at once:
    // landing allocates and frees large column buffers per part file, and re-faulting those
    // pages cost a third of landing time.
    // MIMALLOC_PURGE_DELAY in the environment still wins, for experiments.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: mi_option_set only stores an option value; called before any other thread runs.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
    let cli = cli::Cli::parse();
    app::init_logging(&cli);
    let code = match app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kubeseen: error: {}", app::error_message(&e));
            app::exit_code(&e)
        }
    };
    std::process::exit(code);
}
