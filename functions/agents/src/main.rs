#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = thanotopolis_service::lambda::state_from_env().await?;
    thanotopolis_service::lambda::serve(thanotopolis_fn_agents::router(state)).await
}
