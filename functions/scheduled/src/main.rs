use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use thanotopolis_fn_scheduled::{run, Scheduled, Task, KEEP_ALIVE_EVERY};
use thanotopolis_sockets::{ManagementEndpoint, Poster};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = thanotopolis_service::lambda::state_from_env().await?;
    let sdk = thanotopolis_service::aws::sdk_config(thanotopolis_service::aws::Roots::Aws)?;
    // No event names the WebSocket API here: the template sets WEBSOCKET_MANAGEMENT_ENDPOINT.
    let poster = Poster::new(&sdk, ManagementEndpoint::from_env());
    let state = &Scheduled {
        app,
        poster,
        keep_alive_every: KEEP_ALIVE_EVERY,
        live_stt: thanotopolis_usage::live_stt::DeepgramProject::from_env(),
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let name = event.payload["task"].as_str().unwrap_or_default();
        let task = Task::named(name).ok_or_else(|| format!("unknown scheduled task {name:?}"))?;
        // A failed run is an error for Lambda (retried by EventBridge, and alarmed on).
        Ok::<Value, Error>(run(state, task).await?)
    }))
    .await
}
