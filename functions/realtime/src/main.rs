use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{service_fn, LambdaEvent};
use thanotopolis_fn_realtime::{ManagementEndpoint, RealtimeState};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = thanotopolis_service::lambda::state_from_env().await?;
    let sdk = thanotopolis_service::aws::sdk_config(thanotopolis_service::aws::Roots::Aws)?;
    let llm = thanotopolis_llm::LlmSettings::from_env()
        .map(thanotopolis_llm::LlmClient::new)
        .transpose()?;
    let state = RealtimeState::new(app, &sdk, ManagementEndpoint::from_env(), llm);
    let state = &state;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, lambda_runtime::Error>(
                thanotopolis_fn_realtime::handle(state, event.payload).await,
            )
        },
    ))
    .await
}
