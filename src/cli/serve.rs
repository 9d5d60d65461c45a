use crate::config::Config;
use crate::startup::Application;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let (_log, writer) = crate::telemetry::init(&config.log);
    // The audit trail: its own file when `audit.file` is set, else with the log.
    let json = config.log.format == crate::config::LogFormat::Json;
    let _audit = match crate::audit_file::open(&config.audit, json).map_err(anyhow::Error::msg)? {
        Some((audit_writer, guard)) => {
            crate::audit::install(audit_writer, config.log.format);
            tracing::info!(file = %config.audit.file.as_ref().map(|f| f.path.display().to_string()).unwrap_or_default(), "audit records go to their own file");
            Some(guard)
        }
        None => {
            crate::audit::install(writer, config.log.format);
            None
        }
    };
    let audit = config.audit.clone();
    let app = Application::build(config).await?;
    // A copy of every audit record into the database's recent window, for the admin API.
    crate::recent_audit::start(app.store(), &audit);
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
