#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let mut state = thanotopolis_service::lambda::state_from_env().await?;
    // Removing a member closes their sockets to the conversation through the WebSocket API.
    state.sockets = thanotopolis_sockets::closer_from_env()?;
    // Replies to REST-posted messages reach sockets through the WebSocket API's management
    // endpoint (WEBSOCKET_MANAGEMENT_ENDPOINT, set by the template).
    let sdk = thanotopolis_service::aws::sdk_config(thanotopolis_service::aws::Roots::Aws)?;
    let llm = thanotopolis_llm::LlmSettings::from_env()
        .map(thanotopolis_llm::LlmClient::new)
        .transpose()?;
    let replies = std::sync::Arc::new(thanotopolis_agent_runtime::RealtimeState::new(
        state.clone(),
        &sdk,
        thanotopolis_agent_runtime::ManagementEndpoint::from_env(),
        llm,
    ));
    thanotopolis_service::lambda::serve(thanotopolis_fn_conversations::router(state, Some(replies)))
        .await
}
