use clap::Parser;

fn main() {
    // Large allocations (argon2's 19 MiB of blocks) always get their own mapping and are
    // returned to the system when freed. glibc otherwise raises this threshold after the
    // first such allocation and keeps the memory in its arenas for good. Set before the
    // runtime starts any thread.
    // SAFETY: mallopt only tunes the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let cli = portcullis::cli::Cli::parse();
    // Commands print results for pipes: `portcullis check | head` must end quietly when the
    // reader goes away, as other command-line tools do, not panic on the closed pipe. (The
    // server keeps ignoring SIGPIPE: a client that hangs up must never stop it.)
    if !matches!(cli.command, portcullis::cli::Command::Serve) {
        // SAFETY: restores the default disposition of one signal, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    if let Err(e) = runtime.block_on(portcullis::cli::run(cli)) {
        eprintln!("error: {e}");
        let mut source = e.source();
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(1);
    }
}
