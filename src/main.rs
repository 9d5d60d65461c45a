use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = portcullis::cli::Cli::parse();
    if let Err(e) = portcullis::cli::run(cli).await {
        eprintln!("error: {e}");
        let mut source = e.source();
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(1);
    }
}
