//! `portcullis healthcheck`: asks the server on `server.listen` whether it is alive (or,
//! with `--ready`, ready), for container images without curl (the Dockerfile's
//! `HEALTHCHECK`). Exit status 0 when it answers 200.

use std::time::Duration;

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Ask `/readyz` (every backend a token request needs answers) instead of `/healthz`.
    #[arg(long)]
    pub ready: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let mut addr = config.server.listen;
    // A server listening on every address answers on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = if args.ready { "readyz" } else { "healthz" };
    let url = format!("http://{addr}/{path}");
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = answer.status();
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            answer.text().await.unwrap_or_default()
        );
    }
    println!("{url}: {status}");
    Ok(())
}
