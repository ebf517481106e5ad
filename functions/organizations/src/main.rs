#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let mut state = thanotopolis_service::lambda::state_from_env().await?;
    // Deactivating or logging a user out closes their sockets through the WebSocket API.
    state.sockets = thanotopolis_sockets::closer_from_env()?;
    thanotopolis_service::lambda::serve(thanotopolis_fn_organizations::router(state)).await
}
