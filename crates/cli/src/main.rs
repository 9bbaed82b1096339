//! The `neonhub` binary; everything lives in [`neonhub_cli::run`].

fn main() -> std::process::ExitCode {
    // Spans of the repository functions (organization, entity, operation) on stderr when
    // RUST_LOG asks for them, e.g. `RUST_LOG=neonhub_rag=debug`; nothing is installed
    // otherwise, so the spans cost nothing.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    neonhub_cli::run(std::env::args_os())
}
