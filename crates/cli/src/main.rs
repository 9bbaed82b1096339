//! The `neonhub` binary; everything lives in [`neonhub_cli::run`].

fn main() -> std::process::ExitCode {
    neonhub_cli::run(std::env::args_os())
}
