use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use thanotopolis_fn_scheduled::{run, Task};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state = thanotopolis_service::lambda::state_from_env().await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let name = event.payload["task"].as_str().unwrap_or_default();
        let task = Task::named(name).ok_or_else(|| format!("unknown scheduled task {name:?}"))?;
        // A failed run is an error for Lambda (retried by EventBridge, and alarmed on).
        Ok::<Value, Error>(run(state, task).await?)
    }))
    .await
}
