#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = thanotopolis_service::lambda::state_from_env().await?;
    let deepgram = thanotopolis_fn_voice::DeepgramSettings::from_env();
    thanotopolis_service::lambda::serve(thanotopolis_fn_voice::router(state, deepgram)).await
}
