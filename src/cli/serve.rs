use crate::config::Config;
use crate::startup::Application;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let (_log, writer) = crate::telemetry::init(&config.log);
    crate::audit::install(writer, config.log.format);
    let audit = config.audit.clone();
    let app = Application::build(config).await?;
    // A copy of every audit record into the database's recent window, for the admin API.
    crate::recent_audit::start(app.store(), &audit);
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
