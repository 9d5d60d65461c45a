use crate::config::Config;
use crate::startup::Application;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let (_log, writer) = crate::telemetry::init(&config.log);
    crate::audit::install(writer, config.log.format);
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
