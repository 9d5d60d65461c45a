use crate::config::Config;
use crate::startup::Application;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let _log = crate::telemetry::init(&config.log);
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
